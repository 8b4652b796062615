#!/usr/bin/env bash
# The most disk a folder takes while a command runs: `du -sm DIR` every few seconds.
#
#   benchmarks/disk_peak.sh [--every S] [--mark REGEX] DIR -- COMMAND [ARG...]
#
# Prints the peak (MB) over the whole run and, with --mark, separately before and after the
# first line of the command's output that matches REGEX (e.g. the line with which .ci/run
# says it removed the test environment). The command's output goes to stdout as usual; the
# samples (seconds since start, MB) are kept in DIR-disk-samples.tsv beside DIR.
#
#   benchmarks/disk_peak.sh --mark "removed the test environment" /tmp/clone -- \
#       bash -c 'cd /tmp/clone && bash .ci/run'
set -euo pipefail
EVERY=10 MARK=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --every) EVERY="$2"; shift 2 ;;
        --mark) MARK="$2"; shift 2 ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
        *) break ;;
    esac
done
[[ $# -ge 3 && "$2" == "--" ]] || { echo "usage: $0 [--every S] [--mark REGEX] DIR -- COMMAND..." >&2; exit 2; }
DIR="$(cd "$1" && pwd)"
shift 2
SAMPLES="$DIR-disk-samples.tsv"
MARKED="$(mktemp)"
trap 'rm -f "$MARKED"' EXIT
T0=$(date +%s)
(
    while true; do
        mark=0
        [[ -s "$MARKED" ]] && mark=1
        printf '%d\t%s\t%d\n' $(($(date +%s) - T0)) "$(du -sm "$DIR" 2>/dev/null | cut -f1)" "$mark"
        sleep "$EVERY"
    done
) >"$SAMPLES" &
SAMPLER=$!
set +e
"$@" | while IFS= read -r line; do
    printf '%s\n' "$line"
    [[ -n "$MARK" && ! -s "$MARKED" && "$line" =~ $MARK ]] && echo 1 >"$MARKED"
done
RC=${PIPESTATUS[0]}
set -e
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
echo "disk: $(wc -l <"$SAMPLES") samples of $DIR every ${EVERY}s in $SAMPLES; command exit $RC"
awk -F'\t' -v mark="$MARK" '
    { if ($2 > all) all = $2; if ($3 == 0 && $2 > pre) pre = $2; if ($3 == 1 && $2 > post) post = $2 }
    END {
        printf "disk peak: %d MB\n", all
        if (mark != "") printf "  before the mark: %d MB; after it: %d MB\n", pre, post
    }' "$SAMPLES"
exit "$RC"
