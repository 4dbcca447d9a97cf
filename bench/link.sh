#!/bin/sh
# bench/link.sh: exit signals, links and monitors, ember vs BEAM (contract:
# see bench/run.sh).
# workloads: link_exit monitor_demonitor monitor_down chain_kill_100k
#
# ember's side is $B/bench/bench_link (bench/bench_link.c), BEAM's side
# bench/link_bench.erl run with plain `erl`.  link_exit, monitor_demonitor
# and monitor_down are rates (ops/s, ratio ember/beam); chain_kill_100k is
# the time from killing the last of 100,000 linked processes until the first
# is gone (ms, ratio beam/ember).  Best of 3 on each side.
set -u
B=${B:-build}
NAME=${1:-}
[ "$NAME" = link ] && NAME=
BIN=$B/bench/bench_link
fail() { echo "bench/link.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "$BIN not built (make bench builds it)"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ember-bench-link.XXXXXX") || fail "mktemp"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP
timeout 120 erlc -o "$TMP" bench/link_bench.erl || fail "erlc"
echo "bench/link.sh: ember ..." >&2
timeout 600 "$BIN" "$NAME" > "$TMP/ember.tsv" || fail "$BIN failed"
echo "bench/link.sh: beam ..." >&2
timeout 600 erl -noshell -noinput -pa "$TMP" -run link_bench main "$NAME" > "$TMP/beam.tsv" ||
    fail "erl link_bench failed"
awk -F'\t' '
    NR == FNR { beam[$1] = $2; next }
    {
        if (!($1 in beam)) { printf "bench/link.sh: %s: no BEAM figure\n", $1 > "/dev/stderr"; bad = 1; next }
        b = beam[$1]; if (b < 0) b = -b
        if ($1 ~ /^chain_kill/) printf "%s\tms\t%.1f\t%.1f\t%.2f\n", $1, $2, b, ($2 > 0 ? b / $2 : 0)
        else printf "%s\tops/s\t%.0f\t%.0f\t%.2f\n", $1, $2, b, (b > 0 ? $2 / b : 0)
        n++
    }
    END { if (n == 0) { print "bench/link.sh: no workload measured" > "/dev/stderr"; bad = 1 }
          exit bad }' "$TMP/beam.tsv" "$TMP/ember.tsv"
