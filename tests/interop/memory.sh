#!/bin/sh
# Interop: memory goes back after a remote flood.  An ember node runs a
# slow receiver (`sink` in tests/interop/memory_node.c, compiled here) that
# lets 2M messages pile up in its mailbox before it drains them; we read
# its VmRSS in /proc/PID/status.
#  1. a real erl node floods it with 2M {msg, I} over distribution, the
#     sink drains them: within a few idle seconds the node's RSS is back
#     within 64 MB of what it was before (and the flood had raised it by
#     more than that, or the check proves nothing)
#  2. CYCLES (default 10, MEMORY_CYCLES=N for more) kill/restart cycles of
#     an ember flooding peer (2M messages each), killed with SIGKILL half
#     way through the flood on odd cycles (the sink drains what came at
#     nodedown) and after its flood was drained on even ones: every idle
#     RSS is within 64 MB of the start, and the last within 8 MB of the
#     second's (no growth from cycle to cycle)
# Under ASan/TSan builds (B=build/asan, build/tsan) RSS says little: the
# floods run smaller (200,000 messages, 3 cycles) along the same paths and
# the RSS assertions are skipped with a printed note.
# A private ember-epmd on a private port; every erl runs with -start_epmd
# false.  Every wait is bounded; everything started is stopped on exit.
set -u
. tests/support/interop.sh
il_init memory
il_need erl timeout cc
il_built "$B/bin/ember-epmd" "$B/lib/libember.a"
SAN=$IL_SAN
N=2000000
CYCLES=${MEMORY_CYCLES:-10}
if [ -n "$SAN" ]; then
    N=200000
    CYCLES=3
    note "sanitizer build ($B): RSS assertions skipped, $N messages and $CYCLES cycles (the code paths run)"
fi
ALLOW=$((64 * 1024)) # KiB
SETTLE=50            # polls of 0.2 s: how long RSS may take to come down
[ -n "$SAN" ] && SETTLE=8

il_cc "$tmp/memory_node" tests/interop/memory_node.c
il_port_mapper
wait_tenths() { # wait_tenths TENTHS CMD...: CMD succeeds within TENTHS/10 s
    lim=$1; shift
    n=0
    while ! "$@" >/dev/null 2>&1; do
        n=$((n + 1)); [ $n -ge "$lim" ] && return 1
        sleep 0.1
    done
}
has() { grep -qF -- "$2" "$1"; }
count_at_least() { [ "$(grep -c -- "$2" "$1")" -ge "$3" ]; }

SINK=msink$$
start_bg sink "$tmp/memory_node" -sname $SINK -setcookie $C sink
S=$last
wait_tenths 100 has "$tmp/sink.out" ready && wait_tenths 100 registered $SINK ||
    { bad "the sink did not start"; cat "$tmp/sink.err"; exit 1; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$S/status" 2>/dev/null; }
# rss_settle LIMIT: wait up to 10 s (sanitizers: 1.6 s) for the sink RSS to be <= LIMIT KiB;
# prints the last RSS read.
rss_settle() {
    n=0
    r=$(rss)
    while [ -n "$r" ] && [ "$r" -gt "$1" ] && [ $n -lt $SETTLE ]; do
        sleep 0.2
        n=$((n + 1))
        r=$(rss)
    done
    echo "${r:-0}"
}
rss_above() { r=$(rss); [ -n "$r" ] && [ "$r" -gt "$1" ]; }
sleep 1
BEFORE=$(rss)
[ -n "$BEFORE" ] || { bad "cannot read the sink's RSS"; exit 1; }
note "sink RSS before: $BEFORE KiB"

# ---- 1. an erl node floods the sink ----
start_bg erl timeout 300 erl -noshell -start_epmd false -sname eflood$$ -setcookie $C -eval "
    N = $N, T = {sink, '$SINK@$H'},
    F = fun G(0) -> ok; G(I) -> T ! {msg, I}, G(I - 1) end,
    F(N), T ! {self(), done, N},
    receive {drained, _} -> io:format(\"drained~n\") after 240000 -> io:format(\"timeout~n\") end,
    receive after infinity -> ok end."
E=$last
PEAK=0
n=0
while ! has "$tmp/erl.out" drained && [ $n -lt 1200 ] && kill -0 $E 2>/dev/null; do
    r=$(rss); [ -n "$r" ] && [ "$r" -gt $PEAK ] && PEAK=$r
    sleep 0.2
    n=$((n + 1))
done
if has "$tmp/erl.out" drained; then
    AFTER=$(rss_settle $((BEFORE + ALLOW)))
    note "erl flood of $N: sink RSS peak >= $PEAK KiB, $AFTER KiB a few idle seconds after the drain"
    if [ -n "$SAN" ]; then
        note "sanitizer build: RSS assertions of the erl flood skipped"
    else
        [ $PEAK -gt $((BEFORE + ALLOW)) ] || bad "the erl flood raised RSS by only $((PEAK - BEFORE)) KiB"
        [ "$AFTER" -le $((BEFORE + ALLOW)) ] || bad "sink RSS $AFTER KiB after the erl flood, $BEFORE before"
    fi
else
    bad "the erl flood was not drained"; cat "$tmp/erl.out" "$tmp/erl.err"
fi
pkill -9 -P $E 2>/dev/null # erl itself, under timeout
kill -9 $E 2>/dev/null
wait $E 2>/dev/null
downs=1 # the sink prints a line at each nodedown, this one included
wait_tenths 300 count_at_least "$tmp/sink.out" "after nodedown" $downs || bad "the sink saw no nodedown of erl"
kill -0 $S 2>/dev/null || bad "the sink died"

# ---- 2. kill/restart cycles of an ember flooding peer ----
idles=""
second=""
last_idle=""
c=1
while [ $c -le "$CYCLES" ] && kill -0 $S 2>/dev/null; do
    start_bg flood$c "$tmp/memory_node" -sname mflood$$ -setcookie $C flood "$SINK@$H" $N
    F=$last
    if [ $((c % 2)) -eq 1 ]; then
        # half way: the sink has part of the flood queued when we kill
        if [ -n "$SAN" ]; then
            sleep 2
        else
            wait_tenths 300 rss_above $((BEFORE + ALLOW / 2)) ||
                note "cycle $c: the flood did not reach the sink in 30 s"
        fi
        kill -9 $F 2>/dev/null
        wait $F 2>/dev/null
        downs=$((downs + 1))
        wait_tenths 300 count_at_least "$tmp/sink.out" "after nodedown" $downs ||
            bad "cycle $c: the sink did not drain after the flooder's death"
    else
        wait_tenths 1200 has "$tmp/flood$c.out" drained || bad "cycle $c: the flood was not drained"
        kill -9 $F 2>/dev/null
        wait $F 2>/dev/null
        # the sink sees this nodedown too (with nothing to drain)
        downs=$((downs + 1))
        wait_tenths 300 count_at_least "$tmp/sink.out" "after nodedown" $downs || true
    fi
    rss_settle $((BEFORE + ALLOW)) >/dev/null
    sleep 1.5
    r=$(rss)
    idles="$idles ${r:-?}"
    [ $c -eq 2 ] && second=$r
    last_idle=$r
    if [ -z "$SAN" ] && [ -n "$r" ] && [ "$r" -gt $((BEFORE + ALLOW)) ]; then
        bad "cycle $c: idle RSS $r KiB, $BEFORE before"
    fi
    c=$((c + 1))
done
kill -0 $S 2>/dev/null || bad "the sink died"
note "idle sink RSS after each of $CYCLES flooder cycles of $N (KiB):$idles"
if [ -n "$SAN" ]; then
    note "sanitizer build: RSS assertions of the cycles skipped"
elif [ -n "$second" ] && [ -n "$last_idle" ]; then
    [ "$last_idle" -le $((second + 8 * 1024)) ] ||
        bad "idle RSS grew from $second KiB (cycle 2) to $last_idle KiB (cycle $CYCLES)"
else
    bad "fewer than 2 cycles ran"
fi

if [ $fail -ne 0 ]; then
    echo "memory.sh: sink log:"; cat "$tmp/sink.out" "$tmp/sink.err"
    echo "memory.sh: FAILED"
    exit 1
fi
echo "memory.sh: all passed"
