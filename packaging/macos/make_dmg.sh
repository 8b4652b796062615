#!/usr/bin/env bash
# macOS: sign, notarise and staple "Deconv GUI.app", then pack it into a signed, notarised,
# stapled .dmg. Run on a Mac, from the repository root, after packaging/build.sh has made
# "dist/Deconv GUI.app" (build.sh runs PyInstaller, whose spec makes the .app via BUNDLE).
#
#   packaging/macos/make_dmg.sh                 # unsigned .dmg (for testing on this Mac only)
#   DEVELOPER_ID="Developer ID Application: Name (TEAMID)" \
#   NOTARY_PROFILE=deconv-notary packaging/macos/make_dmg.sh
#
# One-time set-up for notarisation (stores an app-specific password in the keychain):
#   xcrun notarytool store-credentials deconv-notary \
#       --apple-id you@example.com --team-id TEAMID --password <app-specific password>
#
# SIGN_MODE=inside-out (default) signs every Mach-O file, then each nested bundle, then the
# app, which is what Apple's "Creating distribution-signed code for macOS" asks for.
# SIGN_MODE=deep uses the one-liner  codesign --deep --force --options runtime --timestamp
# --entitlements ... --sign ...  on the .app instead; Apple advises against --deep for
# signing, so keep it as the fallback.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' deconv_gui/__init__.py)
APP="dist/Deconv GUI.app"
ENTITLEMENTS="packaging/macos/entitlements.plist"
ARCH=$(uname -m)
DMG="dist/deconv-gui-$VERSION-macos-$ARCH.dmg"
STAGE="build/dmg-stage"
DEVELOPER_ID="${DEVELOPER_ID:-}"
NOTARY_PROFILE="${NOTARY_PROFILE:-}"
SIGN_MODE="${SIGN_MODE:-inside-out}"

[[ "$(uname -s)" == Darwin ]] || { echo "make_dmg.sh runs on macOS only" >&2; exit 2; }
[[ -d "$APP" ]] || { echo "no $APP: run packaging/build.sh first" >&2; exit 1; }
/usr/libexec/PlistBuddy -c "Print :CFBundleShortVersionString" "$APP/Contents/Info.plist"

# ----------------------------------------------------------------------------- 1. sign
sign() {  # sign PATH [extra codesign options]
    local target="$1"
    shift
    codesign --force --options runtime --timestamp --sign "$DEVELOPER_ID" "$@" "$target"
}
if [[ -n "$DEVELOPER_ID" ]]; then
    echo "signing with: $DEVELOPER_ID ($SIGN_MODE)"
    if [[ "$SIGN_MODE" == deep ]]; then
        codesign --deep --force --options runtime --timestamp \
            --entitlements "$ENTITLEMENTS" --sign "$DEVELOPER_ID" "$APP"
    else
        # a. every Mach-O file (dylibs, .so extension modules, helper executables) except the
        #    main executable, leaves first. Helper executables get the entitlements too.
        while IFS= read -r -d '' f; do
            kind=$(file -b "$f")
            case "$kind" in
                *Mach-O*executable*) sign "$f" --entitlements "$ENTITLEMENTS" ;;
                *Mach-O*) sign "$f" ;;
            esac
        done < <(find "$APP/Contents" -type f ! -path "$APP/Contents/MacOS/deconv-gui" -print0)
        # b. nested bundles (Qt's .framework folders, Python.framework), deepest first.
        while IFS= read -r -d '' b; do
            sign "$b"
        done < <(find "$APP/Contents" -type d \( -name "*.framework" -o -name "*.bundle" \
            -o -name "*.plugin" -o -name "*.app" \) -print0 | sort -rz)
        # c. the app itself (signs Contents/MacOS/deconv-gui and seals the resources).
        sign "$APP" --entitlements "$ENTITLEMENTS"
    fi
    codesign --verify --deep --strict --verbose=2 "$APP"
else
    echo "DEVELOPER_ID not set: the app keeps PyInstaller's ad-hoc signature (runs on this Mac"
    echo "only; Gatekeeper blocks it elsewhere)."
fi

# ----------------------------------------------------------------------------- 2. notarise the app
notarise() {  # notarise FILE (zip or dmg): upload, wait for Apple's verdict, show the log on failure
    local out id status
    out=$(xcrun notarytool submit "$1" --keychain-profile "$NOTARY_PROFILE" --wait 2>&1) || true
    echo "$out"
    id=$(echo "$out" | awk '/^  id:/ { print $2; exit }')
    status=$(echo "$out" | awk '/^  status:/ { print $2 }' | tail -1)
    if [[ "$status" != Accepted ]]; then
        [[ -n "$id" ]] && xcrun notarytool log "$id" --keychain-profile "$NOTARY_PROFILE"
        echo "notarisation of $1 failed (status: ${status:-none})" >&2
        exit 1
    fi
}
if [[ -n "$DEVELOPER_ID" && -n "$NOTARY_PROFILE" ]]; then
    ZIP="build/deconv-gui-notarise.zip"
    rm -f "$ZIP"
    ditto -c -k --keepParent "$APP" "$ZIP"
    notarise "$ZIP"
    xcrun stapler staple "$APP"  # the ticket travels inside the app (works offline)
    xcrun stapler validate "$APP"
    spctl --assess --type execute --verbose=4 "$APP"
elif [[ -n "$DEVELOPER_ID" ]]; then
    echo "NOTARY_PROFILE not set: signed but not notarised (Gatekeeper will still warn)."
fi

# ----------------------------------------------------------------------------- 3. the disk image
rm -rf "$STAGE" "$DMG"
mkdir -p "$STAGE"
ditto "$APP" "$STAGE/Deconv GUI.app"
ln -s /Applications "$STAGE/Applications"
cp packaging/THIRD_PARTY_NOTICES.md "$STAGE/Third-party notices.md"
hdiutil create -volname "Deconv GUI $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO \
    -imagekey zlib-level=9 -ov "$DMG"
rm -rf "$STAGE"

if [[ -n "$DEVELOPER_ID" ]]; then
    codesign --force --timestamp --sign "$DEVELOPER_ID" "$DMG"
    if [[ -n "$NOTARY_PROFILE" ]]; then
        notarise "$DMG"
        xcrun stapler staple "$DMG"
        xcrun stapler validate "$DMG"
        spctl --assess --type open --context context:primary-signature --verbose=4 "$DMG"
    fi
fi
echo "made $DMG ($(du -h "$DMG" | cut -f1))"
