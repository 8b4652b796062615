#!/usr/bin/env bash
# Smoke test of the frozen app (PyInstaller folder bundle), headless.
#
#   packaging/smoke_test.sh [BUNDLE_DIR]        # default: dist/deconv-gui
#
# Checks, each reported as PASS / FAIL / SKIP with its wall time:
#   1. `deconv-gui --version` and `--help` start (and how long a start takes)
#   2. `deconv-gui self-test`: load -> restore -> metrics -> save -> reload on the sample photo
#   2b. `deconv-gui self-test --raw`: a synthetic noisy DNG opened, denoised on its mosaic by
#      the RAW denoiser, written as DNG and read back by LibRaw
#   3. `deconv-gui models` lists the registry, and the first bundled network restores the sample
#   4. model import through spandrel (when SMOKE_IMPORT_MODEL=FILE names a weights file;
#      build.sh makes a tiny one): import, restore the sample with it, remove it
#   4b. a HEIC photo (when SMOKE_HEIC=FILE names one; build.sh makes it) restored to JPEG:
#      pillow-heif and its libheif are in the bundle
#   4c. the sample photo with 4 KiB zeroed in its picture data is refused by `analyze` in
#      one line: simplejpeg (libjpeg-turbo) is in the bundle
#   5. `deconv-gui self-test --gui --screenshot PATH` under QT_QPA_PLATFORM=offscreen
#      (SKIP, said plainly, while the checkout has no deconv_gui.gui.selftest; FAIL instead
#      when SMOKE_REQUIRE_GUI=1)
# Ends with "smoke test: N passed, N failed, N skipped" and exits non-zero on any FAIL.
# SMOKE_OUT=dir keeps the logs and the screenshot (default: a temporary folder, printed).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="${1:-$ROOT/dist/deconv-gui}"
EXE="$BUNDLE/deconv-gui"
# Windows: the console twin, since deconv-gui.exe is windowed and prints nothing.
[[ -x "$EXE" ]] || EXE="$BUNDLE/deconv-gui-cli.exe"
if [[ ! -x "$EXE" ]]; then
    echo "smoke test: no executable in $BUNDLE (build it with packaging/build.sh)" >&2
    exit 2
fi
OUT="${SMOKE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/deconv-smoke.XXXXXX")}"
mkdir -p "$OUT"
# A private user folder, so the test neither sees nor changes the user's model library.
export DECONV_GUI_HOME="$OUT/home"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
mkdir -p "$DECONV_GUI_HOME"

passed=0 failed=0 skipped=0
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# run NAME -- command...: runs it, logs to $OUT/NAME.log, sets $rc, $took and $log
run() {
    local name="$1"
    shift 2
    log="$OUT/$name.log"
    local t0
    t0=$(now)
    "$@" >"$log" 2>&1
    rc=$?
    took=$(secs "$t0" "$(now)")
}
pass() { passed=$((passed + 1)); printf 'PASS  %-22s %6ss  %s\n' "$1" "$took" "${2:-}"; }
fail() {
    failed=$((failed + 1))
    printf 'FAIL  %-22s %6ss  exit %s, log %s\n' "$1" "$took" "$rc" "$log"
    sed 's/^/      | /' "$log" | tail -15
}
skip() { skipped=$((skipped + 1)); printf 'SKIP  %-22s %6ss  %s\n' "$1" "$took" "$2"; }

echo "smoke test of $EXE"
echo "logs in $OUT"

# 1. start-up
run version -- "$EXE" --version
if [[ $rc -eq 0 ]] && grep -q "deconv-gui" "$log"; then pass version "$(head -1 "$log")"; else fail version; fi
run help -- "$EXE" --help
if [[ $rc -eq 0 ]] && grep -q "self-test" "$log"; then pass "help (start-up)" "Python + argparse, no torch"; else fail help; fi

# 2. headless self-test
run self-test -- "$EXE" self-test --output "$OUT"
if [[ $rc -eq 0 ]] && grep -q "self-test ok" "$log"; then pass self-test "$(grep 'self-test ok' "$log")"; else fail self-test; fi

# 2b. the RAW path: a synthetic noisy DNG opened (LibRaw), denoised on its mosaic, written as DNG
run raw-self-test -- "$EXE" self-test --raw
if [[ $rc -eq 0 ]] && grep -q "raw self-test ok" "$log"; then
    pass raw-self-test "$(grep 'raw self-test ok' "$log")"
else
    fail raw-self-test
fi

# 3. model list
run models -- "$EXE" models
if [[ $rc -eq 0 ]] && [[ -s "$log" ]]; then pass models "$(wc -l <"$log") models"; else fail models; fi

# 3b. a bundled network (resources/models), on the CPU
sample="$BUNDLE/_internal/resources/sample/sample.jpg"
[[ -f "$sample" ]] || sample="$ROOT/resources/sample/sample.jpg"
bundled_id=$(awk '$4 == "bundled" { print $1; exit }' "$OUT/models.log")
if [[ -n "$bundled_id" ]]; then
    run restore-bundled -- "$EXE" restore "$sample" --model "$bundled_id" --device cpu \
        --output "$OUT/bundled-restore.png" --overwrite
    if [[ $rc -eq 0 ]] && [[ -s "$OUT/bundled-restore.png" ]]; then
        pass restore-bundled "$bundled_id"
    else
        fail restore-bundled
    fi
else
    took=0.00
    skip restore-bundled "no bundled network model in resources/models yet"
fi

# 4. model import through spandrel
if [[ -n "${SMOKE_IMPORT_MODEL:-}" ]]; then
    run models-import -- "$EXE" models import "$SMOKE_IMPORT_MODEL" --name "Smoke test model" --json
    if [[ $rc -eq 0 ]]; then
        model_id=$(sed -n 's/^  "id": "\(.*\)",$/\1/p' "$log" | head -1)
        pass models-import "id ${model_id:-?}"
        run restore-imported -- "$EXE" restore "$sample" --model "$model_id" --device cpu \
            --output "$OUT/imported-restore.png" --overwrite
        if [[ $rc -eq 0 ]] && [[ -s "$OUT/imported-restore.png" ]]; then
            pass restore-imported "$(basename "$OUT/imported-restore.png")"
        else
            fail restore-imported
        fi
        run models-remove -- "$EXE" models remove "$model_id"
        if [[ $rc -eq 0 ]]; then pass models-remove; else fail models-remove; fi
    else
        fail models-import
    fi
else
    took=0.00
    skip models-import "set SMOKE_IMPORT_MODEL=FILE (build.sh makes one)"
fi

# 4b. a phone's HEIC photo (pillow-heif and libheif frozen in)
if [[ -n "${SMOKE_HEIC:-}" ]]; then
    run restore-heic -- "$EXE" restore "$SMOKE_HEIC" --model lanczos-x2 --device cpu \
        --output "$OUT/heic-restore.jpg" --overwrite
    if [[ $rc -eq 0 ]] && [[ -s "$OUT/heic-restore.jpg" ]]; then
        pass restore-heic "$(basename "$SMOKE_HEIC") -> $(basename "$OUT/heic-restore.jpg")"
    else
        fail restore-heic
    fi
else
    took=0.00
    skip restore-heic "set SMOKE_HEIC=FILE (build.sh makes one)"
fi

# 4c. the sample photo with 4 KiB zeroed in its picture data (libjpeg-turbo through
#     simplejpeg, frozen in, finds the damage Pillow decodes without a word): refused in
#     one line
jpg="$sample"
size=$(wc -c <"$jpg" 2>/dev/null || echo 0)
if [[ $size -gt 12288 ]]; then
    cp "$jpg" "$OUT/damaged.jpg"
    dd if=/dev/zero of="$OUT/damaged.jpg" bs=1 seek=$((size / 3)) count=4096 conv=notrunc \
        2>/dev/null
    run damaged-jpeg -- "$EXE" analyze "$OUT/damaged.jpg"
    if [[ $rc -eq 1 ]] && grep -q "its JPEG data is damaged" "$log"; then
        pass damaged-jpeg "refused: $(grep -o -m1 'its JPEG data is damaged[^;]*' "$log")"
    else
        fail damaged-jpeg
    fi
else
    took=0.00
    skip damaged-jpeg "needs the sample photo (a JPEG over 12 KiB)"
fi

# 5. GUI self-test, offscreen
shot="$OUT/gui-self-test.png"
run gui-self-test -- "$EXE" self-test --gui --screenshot "$shot"
if [[ $rc -eq 0 ]] && [[ -s "$shot" ]]; then
    pass gui-self-test "$(grep -i -m1 -E 'self-test ok|window|shown' "$log" || echo "screenshot $shot")"
elif grep -q -E "No module named 'deconv_gui\.gui(\.|')" "$log" && [[ -z "${SMOKE_REQUIRE_GUI:-}" ]]; then
    skip gui-self-test "NOT RUN: this build has no GUI yet ($(grep -o -m1 "No module named '[^']*'" "$log"))"
else
    fail gui-self-test
fi

echo "smoke test: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
