#!/usr/bin/env bash
# Build the frozen Deconv GUI (PyInstaller one-folder bundle), smoke-test it and pack it.
#
#   packaging/build.sh [--reuse-venv] [--no-smoke] [--no-xz]
#
# Phases (each prints its wall time; sizes at the end):
#   1. env      a fresh virtual environment in build/packaging/venv (git-ignored), with
#               torch, the app's other dependencies, the app itself and PyInstaller
#   2. icons    build/icons from resources/icons/deconv-gui.svg (packaging/make_icons.py)
#   3. freeze   PyInstaller with packaging/deconv-gui.spec -> dist/deconv-gui/deconv-gui
#   4. smoke    packaging/smoke_test.sh on the bundle (headless and offscreen GUI self-tests)
#   5. pack     Linux: dist/deconv-gui-<version>-linux-<arch>.tar.gz (+ .tar.xz) with a
#               .desktop file, icons and a per-user installer script
#
# Which torch (environment variables):
#   TORCH_REQS       what pip installs for torch (default "torch==2.13.0": on this project's
#                    machines that is the local +cpu wheel). Add torchvision to bundle the real
#                    one, e.g. TORCH_REQS="torch==2.13.0+cpu torchvision==0.28.0+cpu".
#   TORCH_INDEX_URL  an extra index for TORCH_REQS, e.g. https://download.pytorch.org/whl/cpu
#                    (CPU builds) or .../whl/cu128 (CUDA builds); see packaging/README.md.
#   PYTHON           the Python that creates the environment (default python3; 3.10+)
# Runs with `nice -n 10`; NICE=0 turns that off.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
TORCH_REQS="${TORCH_REQS:-torch==2.13.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-}"
BUILD="$ROOT/build/packaging"
VENV="$BUILD/venv"
DIST="$ROOT/dist"
REUSE_VENV=0 SMOKE=1 XZ=1
for arg in "$@"; do
    case "$arg" in
        --reuse-venv) REUSE_VENV=1 ;;
        --no-smoke) SMOKE=0 ;;
        --no-xz) XZ=0 ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
        *) echo "unknown option $arg" >&2; exit 2 ;;
    esac
done
NICE=(nice -n "${NICE:-10}")
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' deconv_gui/__init__.py)
case "$(uname -s)" in
    Linux) OS=linux ;; Darwin) OS=macos ;; MINGW* | MSYS* | CYGWIN*) OS=windows ;; *) OS=unknown ;;
esac
ARCH=$(uname -m)
if [[ $OS == windows ]]; then VBIN="$VENV/Scripts"; else VBIN="$VENV/bin"; fi
PY="$VBIN/python"
mkdir -p "$BUILD"

declare -a PHASES=()
T_ALL=$(date +%s)
disk_free() { df -h "$ROOT" | awk 'NR == 2 { print $4 }'; }
phase_start() { T0=$(date +%s); echo; echo "=== $1 (disk: $(disk_free) free)"; }
phase_end() { local s=$(($(date +%s) - T0)); PHASES+=("$(printf '%-8s %4d s' "$1" "$s")"); echo "=== $1: ${s}s"; }
human() { du -sh "$1" 2>/dev/null | cut -f1; }

# ----------------------------------------------------------------------------- 1. env
phase_start "env: $VENV ($TORCH_REQS${TORCH_INDEX_URL:+ from $TORCH_INDEX_URL})"
if [[ $REUSE_VENV -eq 1 && -x "$PY" ]]; then
    echo "reusing $VENV (--reuse-venv)"
else
    rm -rf "$VENV"
    "${NICE[@]}" "$PYTHON" -m venv "$VENV"
    pipi() {
        "${NICE[@]}" "$PY" -m pip install --disable-pip-version-check -q "$@" 2>&1 \
            | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    }
    # torch first, from the chosen index; pip must not swap it for another build later.
    # shellcheck disable=SC2086
    pipi ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} $TORCH_REQS
    # The app's dependencies from pyproject.toml, except torch (above) and spandrel, which is
    # installed without its dependencies: it requires torchvision, and pip would otherwise fetch
    # a torchvision (and a torch) that does not match the torch above. torchvision is bundled
    # only when TORCH_REQS names it; otherwise the spec bundles the stand-in (README).
    mapfile -t DEPS < <("$PY" - <<'EOF'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = project["dependencies"] + project["optional-dependencies"]["heic"]  # phones' HEIC photos
for d in deps:
    name = re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower()
    if name not in ("torch", "spandrel", "torchvision"):
        print(d)
EOF
)
    pipi "${DEPS[@]}" einops typing_extensions -r packaging/requirements-build.txt
    pipi --no-deps "spandrel>=0.4"
    pipi --no-deps .
fi
"$PY" -m pip list --disable-pip-version-check 2>/dev/null \
    | grep -i -E "^(torch|torchvision|pyside6[-_]essentials|spandrel|numpy|opencv-python-headless|pillow|pyinstaller) " || true
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
phase_end env

# ----------------------------------------------------------------------------- 2. icons
phase_start icons
QT_QPA_PLATFORM=offscreen "$PY" packaging/make_icons.py "$ROOT/build/icons"
phase_end icons

# ----------------------------------------------------------------------------- 3. freeze
phase_start "freeze: PyInstaller"
rm -rf "$DIST/deconv-gui" "$DIST/Deconv GUI.app" "$ROOT/build/pyinstaller"
set +e
"${NICE[@]}" "$VBIN/pyinstaller" --noconfirm --log-level WARN --distpath "$DIST" \
    --workpath "$ROOT/build/pyinstaller" packaging/deconv-gui.spec 2>&1 \
    | grep -v -E "DeprecationWarning|__import__\(name\)|required via ctypes not found"
FREEZE_RC=${PIPESTATUS[0]}
set -e
EXE="$DIST/deconv-gui/deconv-gui"
[[ $OS == windows ]] && EXE="$EXE.exe"
# A freeze that failed half-way (e.g. out of disk while collecting) can leave the executable
# without its libraries: stop here rather than smoke-test a broken bundle.
if [[ $FREEZE_RC -ne 0 || ! -x "$EXE" ]]; then
    echo "build failed: PyInstaller exited $FREEZE_RC$([[ -x "$EXE" ]] || echo ", no $EXE")" \
        "(disk: $(disk_free) free)" >&2
    exit 1
fi
# The notices beside the executable too, where a person looks for them.
cp packaging/THIRD_PARTY_NOTICES.md "$DIST/deconv-gui/"
# PyInstaller's work folder is rebuilt from scratch by every freeze (above): not kept, but
# for its list of modules it could not find (what to read when the frozen app lacks one).
cp "$ROOT"/build/pyinstaller/*/warn-*.txt "$BUILD/" 2>/dev/null || true
rm -rf "$ROOT/build/pyinstaller"
phase_end freeze

# ----------------------------------------------------------------------------- 4. smoke
SMOKE_RC=0
if [[ $SMOKE -eq 1 ]]; then
    phase_start "smoke test"
    # A tiny weights file of a spandrel architecture (random weights), to import frozen.
    SMOKE_MODEL="$BUILD/smoke-compact-x2.safetensors"
    "$PY" - "$SMOKE_MODEL" "$ROOT/packaging/torchvision_shim" <<'EOF' || true
import sys
sys.path.append(sys.argv[2])  # the torchvision stand-in, only if no real torchvision
import torch
from safetensors.torch import save_file
from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact
torch.manual_seed(0)
net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=2)
save_file(net.state_dict(), sys.argv[1])
EOF
    [[ -f "$SMOKE_MODEL" ]] && export SMOKE_IMPORT_MODEL="$SMOKE_MODEL"
    # A small HEIC photo (a phone's format), written by the build environment's pillow-heif.
    SMOKE_HEIC_FILE="$BUILD/smoke-phone.heic"
    "$PY" - "$SMOKE_HEIC_FILE" <<'EOF' || true
import sys
import numpy as np
import pillow_heif
from PIL import Image
pillow_heif.register_heif_opener()
yy, xx = np.mgrid[0:64, 0:96]
rgb = np.stack([xx * 2, yy * 3, (xx + yy) % 256], axis=-1).astype(np.uint8)
Image.fromarray(rgb).save(sys.argv[1], format="HEIF", quality=90)
EOF
    [[ -f "$SMOKE_HEIC_FILE" ]] && export SMOKE_HEIC="$SMOKE_HEIC_FILE"
    SMOKE_OUT="$BUILD/smoke" && rm -rf "$SMOKE_OUT" && export SMOKE_OUT
    packaging/smoke_test.sh "$DIST/deconv-gui" || SMOKE_RC=$?
    phase_end smoke
fi

# ----------------------------------------------------------------------------- 5. pack
TARBALLS=()
if [[ $OS == linux ]]; then
    phase_start pack
    NAME="deconv-gui-$VERSION-linux-$ARCH"
    STAGE="$BUILD/stage/$NAME"
    rm -rf "$BUILD/stage" && mkdir -p "$STAGE"
    # Hard links where the file system allows (the bundle is 1.3 GB): the stage is only read
    # by tar, then removed. What is added to it below replaces (never writes into) a file.
    if ! cp -al "$DIST/deconv-gui/." "$STAGE/" 2>/dev/null; then
        rm -rf "$STAGE" && mkdir -p "$STAGE" && cp -a "$DIST/deconv-gui/." "$STAGE/"
    fi
    ADD=(cp -a --remove-destination)
    mkdir -p "$STAGE/share/applications" "$STAGE/share/icons"
    "${ADD[@]}" packaging/linux/deconv-gui.desktop "$STAGE/share/applications/"
    "${ADD[@]}" "$ROOT/build/icons/hicolor" "$STAGE/share/icons/"
    "${ADD[@]}" "$ROOT/build/icons/deconv-gui.png" "$STAGE/deconv-gui.png"
    "${ADD[@]}" packaging/linux/install-desktop-entry.sh "$STAGE/"
    rm -f "$DIST/$NAME".tar.*
    T1=$(date +%s)
    tar -C "$BUILD/stage" -cf - "$NAME" | "${NICE[@]}" gzip -6 >"$DIST/$NAME.tar.gz"
    echo "tar.gz: $(($(date +%s) - T1))s"
    TARBALLS+=("$DIST/$NAME.tar.gz")
    if [[ $XZ -eq 1 ]]; then
        T1=$(date +%s)
        tar -C "$BUILD/stage" -cf - "$NAME" | "${NICE[@]}" xz -6 -T0 >"$DIST/$NAME.tar.xz"
        echo "tar.xz: $(($(date +%s) - T1))s"
        TARBALLS+=("$DIST/$NAME.tar.xz")
    fi
    rm -rf "$BUILD/stage"
    phase_end pack
else
    echo "pack: on $OS use packaging/windows/deconv-gui.iss or packaging/macos/make_dmg.sh"
fi

# ----------------------------------------------------------------------------- summary
echo
echo "=== summary: deconv-gui $VERSION ($OS $ARCH)"
for p in "${PHASES[@]}"; do echo "  $p"; done
echo "  total    $(printf '%4d' $(($(date +%s) - T_ALL))) s"
echo "bundle:  $DIST/deconv-gui  $(human "$DIST/deconv-gui") unpacked ($(du -sb "$DIST/deconv-gui" | cut -f1) bytes)"
INTERNAL="$DIST/deconv-gui/_internal"
for part in torch PySide6 cv2 opencv_python_headless.libs numpy numpy.libs resources; do
    [[ -e "$INTERNAL/$part" ]] && printf '  %-28s %s\n' "$part" "$(human "$INTERNAL/$part")"
done
for t in "${TARBALLS[@]}"; do
    echo "archive: $t  $(human "$t") ($(stat -c %s "$t" 2>/dev/null || stat -f %z "$t") bytes)"
done
if [[ $SMOKE -eq 1 && $SMOKE_RC -ne 0 ]]; then
    echo "SMOKE TEST FAILED (exit $SMOKE_RC): see above and $BUILD/smoke/"
    exit "$SMOKE_RC"
fi
