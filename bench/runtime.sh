#!/bin/sh
# bench/runtime.sh: processes, messages, spawning, memory per process and
# timers, ember vs BEAM (contract: see bench/run.sh).
# workloads: pingpong pingpong_text ring_1k ring_100k spawn_1m mem_per_process fanin_2 fanin_100 refcall_deep tagcall_deep gen_call timers_100k
#
# ember's side is $B/bench/bench_runtime (bench/bench_runtime.c), run once
# per workload so each starts in a fresh OS process (mem_per_process reads
# the RSS growth); BEAM's side is bench/runtime_bench.erl, compiled with erlc
# into a temp dir and run once with plain `erl` plus +P 2000000 (the default
# process limit, 262,144, is too small for spawn_1m).  Both sides run the
# same workloads with the same messages (see the two files); each takes the
# best of 3 runs (mem_per_process: one run).  Lines starting with '#' carry
# extra information (e.g. how long until all spawned processes wait, on
# both sides: ember's spawn defers the process's first run).
# Units: rates per second (ratio ember/beam); mem_per_process in bytes per
# idle process and timers_100k in ms (ratio beam/ember: > 1, ember better).
set -u
B=${B:-build}
NAME=${1:-}
[ "$NAME" = runtime ] && NAME=
BIN=$B/bench/bench_runtime
fail() { echo "bench/runtime.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "$BIN not built (make bench builds it)"
command -v erl >/dev/null 2>&1 || fail "erl not found"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ember-bench-runtime.XXXXXX") || fail "mktemp"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP

# name unit kind (rate: ratio ember/beam; less: smaller is better, beam/ember)
cat > "$TMP/workloads" <<'EOF'
pingpong	round-trips/s	rate
pingpong_text	round-trips/s	rate
ring_1k	msgs/s	rate
ring_100k	msgs/s	rate
spawn_1m	spawns/s	rate
mem_per_process	bytes	less
fanin_2	msgs/s	rate
fanin_100	msgs/s	rate
refcall_deep	calls/s	rate
tagcall_deep	calls/s	rate
gen_call	calls/s	rate
timers_100k	ms	less
EOF
selected=$(awk -F'\t' -v n="$NAME" 'index($1, n) { print $1 }' "$TMP/workloads")
[ -n "$selected" ] || fail "no workload matches '$NAME'"

timeout 120 erlc -o "$TMP" bench/runtime_bench.erl || fail "erlc bench/runtime_bench.erl"

status=0
: > "$TMP/ember.tsv"
for w in $selected; do
    echo "bench/runtime.sh: ember $w ..." >&2
    timeout 120 "$BIN" "$w" > "$TMP/out" || {
        echo "bench/runtime.sh: $BIN $w failed (exit $?)" >&2
        status=1
    }
    grep '^#' "$TMP/out"
    grep -v '^#' "$TMP/out" >> "$TMP/ember.tsv"
done

echo "bench/runtime.sh: beam ..." >&2
# shellcheck disable=SC2086 # $selected is a list of plain words
timeout 300 erl -noshell -noinput +P 2000000 -pa "$TMP" -run runtime_bench main $selected \
    > "$TMP/beam.out" || { echo "bench/runtime.sh: erl runtime_bench failed (exit $?)" >&2; status=1; }
grep '^#' "$TMP/beam.out"
grep -v '^#' "$TMP/beam.out" > "$TMP/beam.tsv"

awk -F'\t' -v sel="$selected" '
    BEGIN { n = split(sel, ws, /[ \n]+/); for (i = 1; i <= n; i++) want[ws[i]] = 1 }
    FILENAME == ARGV[1] { unit[$1] = $2; kind[$1] = $3; next }
    FILENAME == ARGV[2] { beam[$1] = $2; next }
    {
        if (!($1 in unit)) next
        if (!($1 in beam)) { printf "bench/runtime.sh: %s: no BEAM figure\n", $1 > "/dev/stderr"; bad = 1; next }
        e = $2 + 0; b = beam[$1] + 0
        if (kind[$1] == "rate") r = (b > 0 ? e / b : 0)
        else r = (e > 0 ? b / e : 0)
        printf "%s\t%s\t%s\t%s\t%.2f", $1, unit[$1], $2, beam[$1], r
        if (NF >= 3) printf "\t%s", $3 # the limit (bench_runtime.c)
        printf "\n"
        done[$1] = 1
    }
    END {
        for (w in want) if (w != "" && !(w in done)) {
            printf "bench/runtime.sh: %s: not measured\n", w > "/dev/stderr"; bad = 1
        }
        exit bad
    }' "$TMP/workloads" "$TMP/beam.tsv" "$TMP/ember.tsv" || status=1
exit $status
