#!/bin/sh
# bench/etf.sh: external term format encode/decode rates, ember vs BEAM's
# term_to_binary/1 and binary_to_term/1 (contract: see bench/run.sh).
# workloads: etf_encode_seed etf_decode_seed etf_encode_map10 etf_decode_map10 etf_encode_list1000 etf_decode_list1000 etf_encode_bin64k etf_decode_bin64k etf_decode_bin64k_copy
#
# ember's side is $B/bench/bench_etf (bench/bench_etf.c), BEAM's side
# bench/etf_bench.erl compiled with erlc into a temp dir and run with plain
# `erl` (default flags).  Both run the same messages in this invocation; each
# takes the best of 5 calibrated repetitions.  Unit ops/s; ratio ember/beam.
# ember decodes from a binary term with em_etf_decode_bin, which shares
# large binaries with the input instead of copying them (see bench_etf.c);
# etf_decode_bin64k_copy is the copying decoder (em_etf_decode) on the same
# bytes, against the same binary_to_term/1.
# Fails if the two sides' encodings of a message differ in size (they would
# not be measuring the same workload).
set -u
B=${B:-build}
NAME=${1:-}
BIN=$B/bench/bench_etf
fail() { echo "bench/etf.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "$BIN not built (make bench builds it)"
command -v erl >/dev/null 2>&1 || fail "erl not found"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ember-bench-etf.XXXXXX") || fail "mktemp"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP

timeout 120 erlc -o "$TMP" bench/etf_bench.erl || fail "erlc bench/etf_bench.erl"
echo "bench/etf.sh: ember ..." >&2
timeout 600 "$BIN" "$NAME" > "$TMP/ember.tsv" || fail "$BIN failed (exit $?)"
echo "bench/etf.sh: beam ..." >&2
timeout 600 erl -noshell -noinput -pa "$TMP" -run etf_bench main "$NAME" \
    > "$TMP/beam.tsv" || fail "erl etf_bench failed (exit $?)"

awk -F'\t' '
    NR == FNR { rate[$1] = $2; size[$1] = $3; next }
    {
        if (!($1 in rate)) { printf "bench/etf.sh: %s: no BEAM figure\n", $1 > "/dev/stderr"; bad = 1; next }
        if (size[$1] != $3) {
            printf "bench/etf.sh: %s: ember encodes %s bytes, BEAM %s\n", $1, $3, size[$1] > "/dev/stderr"
            bad = 1
        }
        printf "%s\tops/s\t%s\t%s\t%.2f", $1, $2, rate[$1], (rate[$1] > 0 ? $2 / rate[$1] : 0)
        if (NF >= 4) printf "\t%s", $4 # the limit (bench_etf.c)
        printf "\n"
        n++
    }
    END { if (n == 0) { print "bench/etf.sh: no workload measured" > "/dev/stderr"; bad = 1 }
          exit bad }' "$TMP/beam.tsv" "$TMP/ember.tsv"
