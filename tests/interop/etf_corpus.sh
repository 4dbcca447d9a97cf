#!/bin/sh
# etf_corpus.sh: ember's external term format against real OTP.
#
# Real erl (tests/interop/etf_corpus.erl, compiled with erlc into a temp dir)
# writes a corpus of ~770 terms covering every term type and its edges
# (integers around 0/255/256/2^27/2^31/2^63/2^64 and their negatives,
# 300-digit bignums, 0.0 and -0.0, unicode and quoted atoms, empty, 255- and
# 256-element tuples, 65535/65536-element strings, maps with mixed keys and
# over 32 keys, bitstrings of 1..7 trailing bits, improper lists, pids, refs,
# ports, funs, 100,000-deep nesting, decode-only legacy tags, compressed terms,
# and 300 terms from a seeded random generator).  Then etf_corpus_check
# (tests/interop/etf_corpus_check.c, built by `make tests`) checks every
# term in one process:
#   (a)  encode(parse(~tw text)) == term_to_binary(T)          [parsable terms]
#   (a2) encode(parse(~p text))  == term_to_binary(T)          [parsable terms]
#   (b)  ~p of decode(bytes)     == erl's ~p                   [every term]
#   (c)  encode(decode(bytes))   == bytes                      [every term]
#   (c2) encode(decode(alt))     == term_to_binary(T)  [legacy tags, unsorted
#        maps, compressed terms, hash-ordered big maps: see etf_corpus.erl]
#   (d)  EM_ETF_DIST encode(decode(bytes)) == term_to_binary(T, [{minor_version,2}])
# Notes:
#  - maps over 32 keys: OTP writes them in hash order, so the expected bytes
#    are term_to_binary(T, [deterministic]) and the default bytes are an alt.
#  - ~p: erl's text is io_lib:format("~*p", [1 bsl 30, T]): ~p's field width
#    is its line length, so no term wraps; for terms of at most 80 columns
#    this is exactly io_lib:format("~p", [T]).
#  - refs, ports, funs and remote pids have no parsable text: (a)/(a2) skip.
# Then a sample of ~60 small terms runs through the `ember encode` and
# `ember decode` commands end to end, and bad input must fail with a message.
#
# The corpus bytes are saved as fuzzer seeds in <build>/fuzz/corpus_etf/.
# Environment: B = build directory (build, build/asan, ...).  Exits non-zero
# on any mismatch, printing the first ones.
set -u
B=${B:-build}
EMBER=$B/bin/ember
CHECK=$B/tests/interop/etf_corpus_check
case "$B" in
    */asan|*/tsan) BASE=${B%/*} ;;
    *) BASE=$B ;;
esac
SEEDS=${EMBER_SEED_DIR:-$BASE/fuzz/corpus_etf}
# Bounds on every wait (seconds); ASan builds are slower.
T_ERL=${EMBER_TIMEOUT_ERL:-300}
T_CHECK=${EMBER_TIMEOUT_CHECK:-600}

fail() { echo "etf_corpus: FAIL: $*" >&2; exit 1; }

[ -x "$EMBER" ] || fail "$EMBER not built (run make)"
[ -x "$CHECK" ] || fail "$CHECK not built (run make tests)"
command -v erl >/dev/null 2>&1 && command -v erlc >/dev/null 2>&1 ||
    fail "erl/erlc not found (make deps installs erlang-base)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ember-etf-corpus.XXXXXX") || fail "mktemp"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP

timeout 120 erlc -o "$TMP" tests/interop/etf_corpus.erl ||
    fail "erlc tests/interop/etf_corpus.erl"
mkdir -p "$SEEDS" || fail "mkdir $SEEDS"
# A plain non-distributed node (no -sname: no epmd); it only computes.
timeout "$T_ERL" erl -noshell -noinput -pa "$TMP" \
    -run etf_corpus main "$TMP/corpus.tsv" "$SEEDS" "$TMP/cli.tsv" ||
    fail "erl could not write the corpus (exit $?)"
n=$(wc -l < "$TMP/corpus.tsv")
[ "$n" -ge 500 ] || fail "corpus has only $n terms (want >= 500)"

rc=0
timeout "$T_CHECK" "$CHECK" "$TMP/corpus.tsv" || rc=$?
[ $rc -eq 124 ] && echo "etf_corpus: etf_corpus_check timed out after ${T_CHECK}s" >&2

# ---- the command line, end to end ---------------------------------------
cli_fail=0
tab=$(printf '\t')
ncli=0
while IFS="$tab" read -r id text hex p; do
    ncli=$((ncli + 1))
    got=$(timeout 20 "$EMBER" encode "$text" 2>&1)
    if [ "$got" != "$hex" ]; then
        echo "MISMATCH cli encode $id: ember encode '$text'" >&2
        echo "    expected $hex" >&2
        printf '%s\n' "$got" | head -n 4 | sed 's/^/    got      /' >&2
        cli_fail=$((cli_fail + 1))
    fi
    got=$(timeout 20 "$EMBER" decode "$hex" 2>&1)
    if [ "$got" != "$p" ]; then
        echo "MISMATCH cli decode $id: ember decode $hex" >&2
        echo "    expected $p" >&2
        printf '%s\n' "$got" | head -n 4 | sed 's/^/    got      /' >&2
        cli_fail=$((cli_fail + 1))
    fi
done < "$TMP/cli.tsv"
[ "$ncli" -ge 20 ] || fail "only $ncli terms in the command-line sample"

# decode - reads raw bytes from stdin.
printf '\203h\002a\001d\000\002ok' > "$TMP/raw.bin"     # {1,ok}
got=$(timeout 20 "$EMBER" decode - < "$TMP/raw.bin" 2>&1)
[ "$got" = "{1,ok}" ] || { echo "MISMATCH cli decode -: got '$got'" >&2; cli_fail=$((cli_fail + 1)); }
# encode - reads the text from stdin.
got=$(printf '{1,ok}' | timeout 20 "$EMBER" encode - 2>&1)
[ "$got" = "83680261016400026f6b" ] ||
    { echo "MISMATCH cli encode -: got '$got'" >&2; cli_fail=$((cli_fail + 1)); }

# Bad input: a message on stderr, nothing on stdout, a non-zero exit.
expect_error() { # description, then the command
    what=$1; shift
    out=$(timeout 20 "$@" 2>"$TMP/err")
    st=$?
    if [ $st -eq 0 ] || [ $st -ge 124 ] || [ -n "$out" ] || [ ! -s "$TMP/err" ]; then
        echo "MISMATCH cli error case '$what': exit $st, stdout '$out', stderr '$(cat "$TMP/err")'" >&2
        cli_fail=$((cli_fail + 1))
    fi
}
expect_error "no command" "$EMBER"
expect_error "unknown command" "$EMBER" frobnicate
expect_error "encode without text" "$EMBER" encode
expect_error "encode syntax error" "$EMBER" encode '{1,'
expect_error "encode bad token" "$EMBER" encode '[1,2,)'
expect_error "decode odd hex" "$EMBER" decode 836
expect_error "decode non-hex" "$EMBER" decode 83zz
expect_error "decode truncated" "$EMBER" decode 836803
expect_error "decode bad version" "$EMBER" decode 8268
expect_error "decode bad tag" "$EMBER" decode 83ff
expect_error "decode trailing bytes" "$EMBER" decode 836a6a
expect_error "decode empty stdin" "$EMBER" decode - < /dev/null
# The syntax error message names where the text went wrong.
timeout 20 "$EMBER" encode '{1,' 2>"$TMP/err" >/dev/null
grep -q 'column' "$TMP/err" ||
    { echo "MISMATCH cli: syntax error message has no position: $(cat "$TMP/err")" >&2; cli_fail=$((cli_fail + 1)); }
timeout 20 "$EMBER" help > "$TMP/help" 2>&1 && grep -q encode "$TMP/help" ||
    { echo "MISMATCH cli: 'ember help' failed" >&2; cli_fail=$((cli_fail + 1)); }

[ $rc -eq 0 ] || fail "etf_corpus_check found mismatches (exit $rc)" \
    "$([ $cli_fail -eq 0 ] || echo "and $cli_fail command-line mismatches")"
[ $cli_fail -eq 0 ] || fail "$cli_fail command-line mismatches"
echo "etf_corpus: ok: $n terms checked, $ncli terms through the command line," \
     "seeds in $SEEDS"
