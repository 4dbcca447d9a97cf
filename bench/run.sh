#!/bin/sh
# bench/run.sh: runs ember's benchmarks against BEAM and tabulates them.
#
#   make bench [BENCH=NAME]        (runs: B=build sh bench/run.sh [NAME])
#
# THE CONTRACT FOR A BENCHMARK GROUP (bench/<group>.sh, e.g. bench/etf.sh):
#  - It contains a comment line listing its workloads:
#        # workloads: etf_encode_seed etf_decode_seed ...
#  - It is run from the top of the tree as `sh bench/<group>.sh [NAME]` with
#    B (the build directory: build, build/asan, ...) in the environment; the
#    binaries it needs are already built (`make bench` builds every
#    bench/*.c into $B/bench/<name>, the library and the tools).
#  - With NAME it runs only the workloads whose name contains NAME (or all
#    of them when NAME is the group's name).  run.sh only starts a group
#    when NAME is empty, the group's name, or part of one of its workloads.
#  - For every workload it prints ONE line on stdout, five or six
#    TAB-separated fields:  workload  unit  ember  beam  ratio  [limit]
#      workload  lower-case name, unique across all groups (<group>_...)
#      unit      what ember and beam are measured in, e.g. ops/s, MB/s, us
#      ember     ember's figure, beam: the same workload on BEAM (real erl
#                with default flags), measured in the same invocation
#                -- one documented exception: dist_stream_64k_tcp (bench/
#                dist.sh), whose beam column is raw TCP on loopback (plain
#                send/recv of 64 KiB packets), not BEAM, and whose ratio is
#                the share of raw TCP that ember's dist_stream_64k reaches
#                (left out of the geometric mean of ember/BEAM ratios)
#      ratio     how many times better ember is: ember/beam for rates,
#                beam/ember for times; > 1 means ember is better
#      limit     where the workload has one, the same figure for the least
#                the machine must do for it, measured by the group's own
#                code in the same invocation (pingpong: a bare round trip
#                between two coroutines with ember's context switch; the
#                64 KiB binary encode and copying decode: memcpy of the
#                bytes; epmd_lookup: bench/epmd_floor, accept/recv/reply/
#                close); absent otherwise
#    Anything else on stdout must start with '#' (information: make bench
#    shows it on stderr, ahead of the table); progress and diagnostics
#    go to stderr.
#  - Every wait is bounded (timeout), nothing is left running, temporary
#    files go in a mktemp directory removed on exit.  Exit non-zero if the
#    group could not measure something (it may still print the lines it has).
#
# run.sh writes $B/bench/results.tsv: a header line
#   workload<TAB>unit<TAB>ember<TAB>beam<TAB>ratio<TAB>limit
# then one line per workload (six fields; limit empty where there is none).  Rows of workloads not run this time are kept
# from the previous results.tsv, rows run this time replace theirs in place.  Then it
# prints this run's rows as an aligned table (with `of limit`: ember's figure
# as a share of the limit), and draws results.tsv as $B/bench/results.svg
# (bench/svg.awk).  Exit status: non-zero if any
# group failed or printed a malformed line.
set -u
B=${B:-build}
export B
NAME=${1:-}
# The machine, for the chart's caption: CPU model, CPUs, and the date.
bench_machine() {
    cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -1)
    echo "${cpu:-unknown CPU}, $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') CPUs, $(date -u +%Y-%m-%d)"
}
# How fast each CPU is right now ($B/bench/cpu_speed, a fixed loop pinned
# to each in turn), on stderr before the groups run and after: on a VM the
# CPUs need not run at the same speed, and a single-threaded workload's
# ratio then depends on which CPU each side ran on (docs/perf.md).
cpu_speeds() {
    [ -x "$B/bench/cpu_speed" ] || return 0
    "$B/bench/cpu_speed" 2>/dev/null | awk -F'\t' -v when="$1" '
        { cpu[n++] = $1; r[$1] = $2; if ($2 > max) max = $2; if (min == "" || $2 < min) min = $2 }
        END {
            if (n < 2 || max <= 0) exit
            line = "# CPU speeds " when ":"
            for (i = 0; i < n; i++) line = line sprintf(" cpu%s %.2f", cpu[i], r[cpu[i]] / max)
            print line " (of the fastest)" > "/dev/stderr"
            if (min < 0.85 * max)
                printf "# the CPUs differ by %.0f%%: a single-threaded workload'"'"'s ratio depends on which CPU ember and BEAM ran on (docs/perf.md)\n", 100 * (1 - min / max) > "/dev/stderr"
        }'
}
OUT=$B/bench/results.tsv
mkdir -p "$B/bench" || exit 1
cpu_speeds before
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ember-bench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP

: > "$TMP/new.tsv"
failed=""
ran=0
for g in bench/*.sh; do
    [ -f "$g" ] || continue
    [ "$g" = bench/run.sh ] && continue
    group=$(basename "$g" .sh)
    if [ -n "$NAME" ] && [ "$NAME" != "$group" ]; then
        workloads=$(sed -n 's/^# *workloads: *//p' "$g")
        case " $workloads " in
            *"$NAME"*) ;;
            *) continue ;;
        esac
    fi
    ran=$((ran + 1))
    echo "bench: $group ..." >&2
    if [ "$NAME" = "$group" ]; then arg=""; else arg=$NAME; fi
    rc=0
    sh "$g" ${arg:+"$arg"} > "$TMP/out" || rc=$?
    # Keep well-formed lines; '#' lines (information) go to stderr; report
    # the others.
    awk -F'\t' -v g="$group" -v name="$NAME" -v grp="$group" '
        /^#/ { print > "/dev/stderr"; next }
        /^[[:space:]]*$/ { next }
        (NF == 5 || NF == 6) && $1 ~ /^[a-z0-9_]+$/ {
            if (name == "" || name == grp || index($1, name)) print $1 "\t" $2 "\t" $3 "\t" $4 "\t" $5 "\t" $6
            next
        }
        { printf "bench: %s: malformed line: %s\n", g, $0 > "/dev/stderr"; bad = 1 }
        END { exit bad }' "$TMP/out" >> "$TMP/new.tsv" ||
        { [ "$rc" = 0 ] && rc="malformed output"; }
    if [ "$rc" != 0 ]; then
        echo "bench: $group FAILED (exit $rc)" >&2
        failed="$failed $group"
    fi
done
if [ $ran -eq 0 ]; then
    echo "bench: no benchmark group has a workload matching '$NAME'" >&2
    exit 1
fi

# Merge into results.tsv: re-measured rows replace theirs in place, rows not
# re-measured stay, new workloads go at the end.
[ -s "$TMP/new.tsv" ] && {
    printf 'workload\tunit\tember\tbeam\tratio\tlimit\n'
    [ -f "$OUT" ] || : > "$OUT"
    # (rows of an older results.tsv, with five fields, get an empty limit)
    awk -F'\t' 'NR == FNR { row[$1] = $0; order[++n] = $1; next }
                 FNR == 1 && $1 == "workload" { next }
                 $1 in row { if (!done[$1]++) print row[$1]; next }
                 NF == 5 { print $0 "\t"; next }
                 { print }
                 END { for (i = 1; i <= n; i++) if (!done[order[i]]++) print row[order[i]] }' \
        "$TMP/new.tsv" "$OUT"
} > "$TMP/results.tsv" && mv "$TMP/results.tsv" "$OUT"

# The table of this run, and the geometric mean of the ratios.
awk -F'\t' '
    NF == 0 { next }
    {
        R++
        # of limit: ember as a share of the limit (a rate: ember/limit; the
        # limits are all rates so far)
        $7 = (R == 1) ? "of limit" : ($6 > 0 ? sprintf("%.0f%%", 100 * $3 / $6) : "")
        for (i = 1; i <= 7; i++) { c[R, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
    }
    R > 1 && $5 > 0 && $1 != "dist_stream_64k_tcp" { lg += log($5); n++ }
    END {
        for (r = 1; r <= R; r++) {
            line = sprintf("%-" w[1] "s  %-" w[2] "s", c[r, 1], c[r, 2])
            for (i = 3; i <= 7; i++) line = line sprintf("  %" w[i] "s", c[r, i])
            sub(/ +$/, "", line)
            print line
        }
        if (n) printf "%d workloads, geometric mean ratio %.2f (> 1: ember faster)\n", n, exp(lg / n)
    }' <<EOF
workload	unit	ember	beam	ratio	limit
$(cat "$TMP/new.tsv")
EOF
cpu_speeds after
echo "results: $OUT"
if awk -F'\t' -f bench/svg.awk -v machine="$(bench_machine)" "$OUT" > "$TMP/results.svg"; then
    mv "$TMP/results.svg" "$B/bench/results.svg"
    echo "chart: $B/bench/results.svg"
else
    echo "bench: could not draw $B/bench/results.svg" >&2
fi
if [ -n "$failed" ]; then
    echo "bench: FAILED:$failed" >&2
    exit 1
fi
