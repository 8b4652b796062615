#!/usr/bin/env bash
# Linux: turn the folder bundle dist/deconv-gui/ into dist/Deconv_GUI-<version>-<arch>.AppImage.
#
#   packaging/linux/make_appimage.sh            # after packaging/build.sh
#
# Needs `appimagetool` (https://github.com/AppImage/appimagetool/releases: a single AppImage
# to download and chmod +x; put it on PATH or set APPIMAGETOOL=/path/to/it). The project's
# build machine cannot download it, so only the AppDir part of this recipe has been run there;
# see packaging/README.md.
#
# The AppDir follows the AppImage spec: AppRun at the top, one .desktop file and its icon at the
# top, the app under usr/. The bundle already carries its own Python, torch and Qt; the target
# system still needs glibc at least as new as the build machine's and the X11/Wayland client
# libraries named in README.md ("Linux system libraries for Qt"). Build on the oldest
# distribution you want to support.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' deconv_gui/__init__.py)
ARCH=$(uname -m)
APPDIR="build/AppDir"
OUT="dist/Deconv_GUI-$VERSION-$ARCH.AppImage"
[[ -x dist/deconv-gui/deconv-gui ]] || { echo "run packaging/build.sh first" >&2; exit 1; }
[[ -d build/icons/hicolor ]] || python3 packaging/make_icons.py build/icons

rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/lib/deconv-gui" "$APPDIR/usr/share/applications" "$APPDIR/usr/share/icons" \
    "$APPDIR/usr/share/metainfo"
cp -a dist/deconv-gui/. "$APPDIR/usr/lib/deconv-gui/"
cp -a build/icons/hicolor "$APPDIR/usr/share/icons/"
cp packaging/linux/deconv-gui.desktop "$APPDIR/usr/share/applications/"
cp packaging/linux/deconv-gui.desktop "$APPDIR/deconv-gui.desktop"
cp build/icons/deconv-gui.png "$APPDIR/deconv-gui.png"
ln -s deconv-gui.png "$APPDIR/.DirIcon"
cat >"$APPDIR/AppRun" <<'EOF'
#!/bin/sh
# AppImage entry point: run the frozen app with the arguments given (photos, sub-commands).
HERE="$(dirname "$(readlink -f "$0")")"
exec "$HERE/usr/lib/deconv-gui/deconv-gui" "$@"
EOF
chmod +x "$APPDIR/AppRun"
echo "AppDir ready: $APPDIR ($(du -sh "$APPDIR" | cut -f1))"

TOOL="${APPIMAGETOOL:-$(command -v appimagetool || true)}"
if [[ -z "$TOOL" ]]; then
    echo "appimagetool not found: set APPIMAGETOOL or put it on PATH, then run again" >&2
    exit 3
fi
# The current appimagetool (github.com/AppImage/appimagetool) makes a zstd-compressed squashfs
# with the static type-2 runtime by default; the older AppImageKit one takes `--comp zstd`.
ARCH="$ARCH" "$TOOL" "$APPDIR" "$OUT"
echo "made $OUT ($(du -h "$OUT" | cut -f1))"
