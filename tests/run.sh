#!/bin/sh
# Runs every unit test binary given as argument, then every interop test
# (tests/interop/*.sh, which drive real erl/epmd); with --unit first, the
# unit tests only.  Exits non-zero if any failed.  Environment: B = build
# directory (build, build/asan, build/tsan).
B=${B:-build}
export B
interop=yes
if [ "${1:-}" = --unit ]; then
    interop=no
    shift
fi
failed=""
for t in "$@"; do
    echo "== $t"
    if ! "$t"; then failed="$failed $t"; fi
done
for s in tests/interop/*.sh; do
    [ $interop = yes ] && [ -f "$s" ] || continue
    echo "== $s"
    if ! sh "$s"; then failed="$failed $s"; fi
done
if [ -n "$failed" ]; then
    echo "FAILED:$failed"
    exit 1
fi
echo "all tests passed"
