#!/usr/bin/env bash
# Time from launching the frozen app to its window being shown, on a real X server.
#
#   packaging/measure_startup.sh [BUNDLE_DIR] [RUNS]     # defaults: dist/deconv-gui, 3
#
# Launches `deconv-gui <sample photo>` RUNS times and waits (xdotool search --sync
# --onlyvisible) until a window titled "...Deconv GUI..." is mapped; prints each time. The
# first run is "cold" when this user may drop the page cache (root: /proc/sys/vm/drop_caches),
# otherwise all runs are warm and the script says so. Also times `deconv-gui --help` (Python
# start-up without torch or Qt) and `deconv-gui models` (imports torch).
# Needs: xdotool, and either a running X server ($DISPLAY) or Xvfb (started here on :97).
# Debian/Ubuntu: apt-get install xvfb xdotool, plus the Qt libraries listed in README.md.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="${1:-$ROOT/dist/deconv-gui}"
RUNS="${2:-3}"
EXE="$BUNDLE/deconv-gui"
SAMPLE="$BUNDLE/_internal/resources/sample/sample.jpg"
[[ -x "$EXE" ]] || { echo "no $EXE" >&2; exit 2; }
command -v xdotool >/dev/null || { echo "needs xdotool" >&2; exit 2; }
XVFB_PID=
if [[ -z "${DISPLAY:-}" ]]; then
    command -v Xvfb >/dev/null || { echo "no DISPLAY and no Xvfb" >&2; exit 2; }
    Xvfb :97 -screen 0 1920x1080x24 -nolisten tcp >/dev/null 2>&1 &
    XVFB_PID=$!
    export DISPLAY=:97
    sleep 1
fi
export QT_QPA_PLATFORM=xcb
export DECONV_GUI_HOME="${DECONV_GUI_HOME:-$(mktemp -d)}"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }

t0=$(now); "$EXE" --help >/dev/null; echo "deconv-gui --help: $(secs "$t0" "$(now)") s (warm)"
t0=$(now); "$EXE" models >/dev/null; echo "deconv-gui models (imports torch): $(secs "$t0" "$(now)") s (warm)"

for ((i = 1; i <= RUNS; i++)); do
    kind=warm
    if [[ $i -eq 1 ]]; then
        if drop_caches; then kind=cold; else kind="warm (cannot drop the page cache here)"; fi
    fi
    t0=$(now)
    "$EXE" "$SAMPLE" >/dev/null 2>&1 &
    pid=$!
    if timeout 60 xdotool search --sync --onlyvisible --name "Deconv GUI" >/dev/null; then
        echo "run $i: window shown after $(secs "$t0" "$(now)") s ($kind)"
    else
        echo "run $i: no window within 60 s"
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
done
[[ -n "$XVFB_PID" ]] && kill "$XVFB_PID"
exit 0
