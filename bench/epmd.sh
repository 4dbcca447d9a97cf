#!/bin/sh
# bench/epmd.sh: the port mapper benchmark group (see bench/run.sh).
# workloads: epmd_lookup
#
# epmd_lookup: PORT_PLEASE2 lookups per second from several concurrent
# clients (bench_epmd: EPMD_CLIENTS threads, default 8, each with
# EPMD_INFLIGHT lookups in flight, default 1), against ember-epmd
# and against a real OTP epmd (the "beam" column), both started here on
# private ports (never 4369) and measured alternately in one run.
# Prints: epmd_lookup<TAB>lookups/s<TAB><ember><TAB><epmd><TAB><ratio>
#
# Its limit (the sixth field) is bench/epmd_floor's rate with the same
# client: the least any server can do per lookup (accept, recv, a fixed
# reply, close), measured first, against real epmd in the same way (that
# pair's ratio goes to stderr): the ceiling for any port mapper with this
# client on this machine.
set -u
B=${B:-build}
NAME=${1:-}
case "epmd_lookup" in *"$NAME"*) ;; *) [ "$NAME" = epmd ] || exit 0 ;; esac
EE=$B/bin/ember-epmd
BENCH=$B/bench/bench_epmd
for f in "$EE" "$BENCH"; do
    [ -x "$f" ] || { echo "bench/epmd.sh: $f not built" >&2; exit 1; }
done
command -v epmd >/dev/null 2>&1 || { echo "bench/epmd.sh: no epmd" >&2; exit 1; }

pids=""
cleanup() {
    rm -f "${TMPF:-}"
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do
        n=0
        while kill -0 "$p" 2>/dev/null && [ $n -lt 20 ]; do sleep 0.1; n=$((n + 1)); done
        kill -9 "$p" 2>/dev/null
    done
}
trap cleanup EXIT INT TERM
TMPF=$(mktemp "${TMPDIR:-/tmp}/ember-bench-epmd.XXXXXX") || exit 1

answers() { timeout 5 epmd -port "$1" -names >/dev/null 2>&1; }
base=""
for i in 1 2 3 4 5 6; do
    b=$((24369 + ($$ * 13 + i * 331) % 3000 * 2))
    answers $b || answers $((b + 1)) || { base=$b; break; }
done
[ -n "$base" ] || { echo "bench/epmd.sh: no free ports" >&2; exit 1; }
PE=$base; PR=$((base + 1))

"$EE" -port "$PE" >/dev/null 2>&1 &
pe_pid=$!
pids="$pids $pe_pid"
epmd -port "$PR" >/dev/null 2>&1 &
pr_pid=$!
pids="$pids $pr_pid"
n=0
until answers "$PE" && answers "$PR"; do
    n=$((n + 1))
    [ $n -ge 100 ] && { echo "bench/epmd.sh: daemons did not start" >&2; exit 1; }
    sleep 0.1
done
PF=$((base + 2))
"$B/bench/epmd_floor" "$PF" &
pf_pid=$!
pids="$pids $pf_pid"
sleep 0.3
EPMD_PIDS="$pf_pid $pr_pid" timeout 120 "$BENCH" "$PF" "$PR" "${EPMD_CLIENTS:-8}" \
    "${EPMD_INFLIGHT:-1}" "${EPMD_SECONDS:-2}" "${EPMD_ROUNDS:-3}" >"$TMPF" 2>&1 ||
    echo "bench/epmd.sh: the floor could not be measured (no limit figure)" >&2
grep -v ': round' "$TMPF" | sed -e 's/^epmd_lookup/epmd_floor (not a port mapper, vs real epmd)/' \
    -e 's/^bench_epmd:/epmd_floor:/' -e 's/: ember /: floor /' >&2
floor=$(awk -F'\t' '$1 == "epmd_lookup" { print $3 }' "$TMPF")
kill "$pf_pid" 2>/dev/null
rc=0
EPMD_PIDS="$pe_pid $pr_pid" timeout 120 "$BENCH" "$PE" "$PR" "${EPMD_CLIENTS:-8}" "${EPMD_INFLIGHT:-1}" \
    "${EPMD_SECONDS:-2}" "${EPMD_ROUNDS:-3}" >"$TMPF" || rc=$?
awk -v floor="$floor" '
    BEGIN { FS = OFS = "\t" }
    $1 == "epmd_lookup" && floor != "" { print $0, floor; next }
    { print }' "$TMPF"
exit $rc
