#!/usr/bin/env bash
# Add Deconv GUI to this user's application menu (and "Open With" for images), or remove it.
#
#   ./install-desktop-entry.sh            # from the unpacked tarball folder
#   ./install-desktop-entry.sh --remove
#
# Installs into ~/.local/share (XDG_DATA_HOME): applications/deconv-gui.desktop, pointing at
# the deconv-gui executable beside this script, and the icons under icons/hicolor. Nothing is
# copied out of this folder otherwise: keep it where it is (e.g. ~/.local/opt/deconv-gui).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
APPS="$DATA/applications"
ICONS="$DATA/icons/hicolor"
refresh() {
    if command -v update-desktop-database >/dev/null; then
        update-desktop-database -q "$APPS" || true
    fi
    if command -v gtk-update-icon-cache >/dev/null; then
        gtk-update-icon-cache -q -t "$ICONS" || true
    fi
}
if [[ "${1:-}" == "--remove" ]]; then
    rm -f "$APPS/deconv-gui.desktop"
    find "$ICONS" -name 'deconv-gui.*' -path '*/apps/*' -delete 2>/dev/null || true
    refresh
    echo "removed the Deconv GUI menu entry"
    exit 0
fi
if [[ ! -x "$HERE/deconv-gui" ]]; then
    echo "no deconv-gui executable beside this script" >&2
    exit 1
fi
mkdir -p "$APPS" "$ICONS"
cp -r "$HERE/share/icons/hicolor/." "$ICONS/"
# Exec gets the absolute path, quoted by the Desktop Entry spec's rules (double quotes, with
# \ " ` $ escaped by a backslash, and every backslash doubled again as in any string value).
exec_quote() {
    local s=$1 out="" c i
    # shellcheck disable=SC1003 # the quotes below hold backslashes, not escaped quotes
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case "$c" in
            '\') out+='\\\\' ;;
            '"' | '`' | '$') out+='\\'"$c" ;;
            *) out+=$c ;;
        esac
    done
    printf '"%s"' "$out"
}
exe="$HERE/deconv-gui"
while IFS= read -r line || [[ -n "$line" ]]; do
    case "$line" in
        Exec=deconv-gui*) printf 'Exec=%s%s\n' "$(exec_quote "$exe")" "${line#Exec=deconv-gui}" ;;
        TryExec=*) printf 'TryExec=%s\n' "${exe//\\/\\\\}" ;;
        *) printf '%s\n' "$line" ;;
    esac
done <"$HERE/share/applications/deconv-gui.desktop" >"$APPS/deconv-gui.desktop"
chmod 644 "$APPS/deconv-gui.desktop"
refresh
echo "installed $APPS/deconv-gui.desktop -> $HERE/deconv-gui"
