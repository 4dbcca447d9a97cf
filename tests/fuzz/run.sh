#!/bin/sh
# tests/fuzz/run.sh: run each libFuzzer target given as argument.
#   make fuzz                    builds them and runs each for 60 s
#   make fuzz FUZZ_SECONDS=600   runs each for 10 minutes
# A target fuzz_X (in $BUILD/fuzz/) runs every input of its seed corpora
# first, then mutates them for the rest of the time: corpus_X/ (written by
# tests/fuzz/seeds.escript, which `make fuzz` runs first) and, for
# fuzz_etf_decode, corpus_etf/ too (tests/interop/etf_corpus.sh writes it
# from real erl during `make test`).  A target without any seed is an
# error.  What it finds is kept in found_X/.  Prints each target's execution
# count; exits non-zero if any target reports a crash, leak or timeout.
secs=${FUZZ_SECONDS:-60}
[ -n "$secs" ] || secs=60
status=0
for f in "$@"; do
    name=$(basename "$f")
    dir=$(dirname "$f")
    short=${name#fuzz_}
    seeds=""
    for c in "$dir/corpus_$short" "$dir/corpus_${short%%_*}"; do
        case "$seeds " in *" $c "*) continue ;; esac
        [ -d "$c" ] && [ -n "$(ls -A "$c")" ] && seeds="$seeds $c"
    done
    if [ -z "$seeds" ]; then
        echo "$name: no seed corpus in $dir/corpus_$short (run tests/fuzz/seeds.escript $dir)"
        status=1
        continue
    fi
    found="$dir/found_$short"
    mkdir -p "$found"
    log="$dir/$name.log"
    echo "== $name for ${secs}s (seeds:$seeds)"
    if ! "$f" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$dir/$name-" \
            "$found" $seeds > "$log" 2>&1; then
        echo "$name: FINDING, see $log"
        tail -30 "$log"
        status=1
    fi
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$log" | tail -2
done
exit $status
