#!/bin/sh
# Runs every unit test binary given as argument, then every interop test
# (tests/interop/*.sh, which drive real erl/epmd); with --unit first, the
# unit tests only.  Exits non-zero if any failed.  Environment: B = build
# directory (build, build/asan, build/tsan).
# Each test's output goes to $B/test-logs/NAME.log and is printed when the
# test ends (into a file, not a pipe: a process a test leaves behind with
# its output open cannot hold the run up); a failed test's last lines are
# printed again at the end, after the "FAILED:" line, so that a CI log cut
# to its tail still says why.
B=${B:-build}
export B
interop=yes
if [ "${1:-}" = --unit ]; then
    interop=no
    shift
fi
logs=$B/test-logs
mkdir -p "$logs"
failed=""
# run_one NAME CMD...: runs CMD, its output into $logs/NAME.log, then
# shown; a failure adds NAME to $failed.
run_one() {
    name=$1
    shift
    echo "== $name"
    log=$logs/$(basename "$name").log
    "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    [ "$rc" = 0 ] || failed="$failed $name"
}
for t in "$@"; do
    run_one "$t" "$t"
done
for s in tests/interop/*.sh; do
    [ $interop = yes ] && [ -f "$s" ] || continue
    run_one "$s" sh "$s"
done
if [ -n "$failed" ]; then
    echo "FAILED:$failed"
    for f in $failed; do
        echo "---- the last lines of $f (all of it: $logs/$(basename "$f").log)"
        tail -n 40 "$logs/$(basename "$f").log"
    done
    echo "FAILED:$failed"
    exit 1
fi
echo "all tests passed"
