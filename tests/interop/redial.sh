#!/bin/sh
# Interop: no redial storm (issue 14).  A node that cannot be reached is
# dialled at most once at a time and, after a failed attempt, not again on
# demand for a short back-off (EM__REDIAL_BACKOFF_MS, 500 ms), what is sent
# to it meanwhile is dropped without blocking the sender, and node monitors
# hear only of connections that were up.  A private ember-epmd (-d -d: it
# logs every port mapper lookup) on a private port; erl runs with
# -start_epmd false.  Every wait is bounded; everything started here is
# stopped on exit.  B = build dir.
#  1. a send storm to a node that is not there, for 3 s: one log line,
#     no nodedown/nodeup, a handful of port mapper lookups (one per
#     back-off, not one per send), and the sender is not held up (no
#     single send waits); monitor_node of that node gets exactly one nodedown, also
#     within the back-off (as erlang:monitor_node, checked against erl),
#     and a monitor of a process there DOWN noconnection once; erl's
#     monitor_nodes hears nothing of its own failed attempts either
#  2. an ember peer killed and restarted K times while a process keeps
#     sending to it: exactly K nodeups and K nodedowns to an
#     em_monitor_nodes subscriber, and at most a line or two of log per
#     cycle
#  3. sends to an ember peer that is down, then it comes back: a send made
#     a second after it registered connects and is delivered
#  4. as 2 and 3 with a real OTP erl peer (kill -9 and restart)
#  6. 64 KiB sends for 3 s to a node whose handshake never answers: the
#     sender is held once 8 MiB are queued for the pending connection
set -u
. tests/support/interop.sh
il_init redial
il_cleanup_hook() { exec 3>&- 4>&- 5>&- 2>/dev/null; }
il_need erl timeout cc mkfifo
il_built "$B/bin/ember-epmd" "$B/lib/libember.a"
il_cc "$tmp/redial_peer" tests/interop/redial_peer.c
PEER="$tmp/redial_peer"
ERL="erl -noshell -start_epmd false"
IL_WAIT=200 # 20 s
count() { # count FILE TEXT: lines holding TEXT
    grep -cF -- "$2" "$1" 2>/dev/null || true
}
atleast() { [ "$(count "$1" "$2")" -ge "$3" ]; }
kill9() { pkill -9 -P "$1" 2>/dev/null; kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
field() { # field FILE LINE-PREFIX N: the Nth word of the first line starting with LINE-PREFIX
    grep -- "^$2" "$1" | head -1 | awk -v n="$3" '{print $n}'
}
il_port_mapper -d -d
lookups() { count "$tmp/epmd.err" "PORT2_REQ for \"$1\""; }

# A watcher: a redial_peer `watch` node reading commands from a FIFO
# (opened for writing on file descriptor $2 by the caller).
start_watcher() { # start_watcher LOG FIFO SNAME PEER BG_MS
    mkfifo "$tmp/$2"
    "$PEER" -sname "$3" -setcookie $C watch "$4" "$5" <"$tmp/$2" >"$tmp/$1.out" 2>"$tmp/$1.err" &
    last=$!
    pids="$pids $last"
    ws="$ws $last"
}
ws=""

# ---- 1. a send storm to a node that is not there ----
D="dead$$"
start_watcher w1 f1 "w1x$$" "$D@$H" 0
w1=$last
exec 3>"$tmp/f1"
wait_until atleast "$tmp/w1.out" watching 1 || bad "watcher w1 did not start"
echo "storm 3000" >&3
wait_until atleast "$tmp/w1.out" "storm sends" 1 || bad "storm did not end"
echo "monnode 2000" >&3
echo "monnode 2000" >&3
echo "storm 200" >&3
echo "monitor 1500" >&3
echo "counts" >&3
wait_until atleast "$tmp/w1.out" "counts up" 1 || bad "watcher w1 did not answer"
sends=$(field "$tmp/w1.out" "storm sends" 3)
rate=$(field "$tmp/w1.out" "storm sends" 7)
maxgap=$(field "$tmp/w1.out" "storm sends" 9)
logs=$(count "$tmp/w1.err" "$D@$H")
nl=$(lookups "$D")
note "storm: $sends sends in 3 s ($rate/s, longest send $maxgap ms), $logs log lines, $nl port mapper lookups"
# Not held: no single send waits (a held sender waits 100 ms at a time),
# checked by the longest send, not by a rate, which a loaded machine or a
# sanitizer build slows.
[ "${sends:-0}" -ge 1000 ] && [ "${maxgap:-99999}" -lt 1000 ] &&
    note "ok: the sender is not held up ($sends sends, longest $maxgap ms)" ||
    bad "storm: ${sends:-?} sends, longest ${maxgap:-?} ms (want >= 1000 sends, each < 1000 ms)"
[ "$logs" -ge 1 ] && [ "$logs" -le 2 ] && note "ok: $logs log line(s) for the whole storm" ||
    { bad "$logs log lines for the storm (want 1..2):"; head -5 "$tmp/w1.err"; }
# 3 s / 500 ms of back-off: about 7 attempts (+2 for monitor_node, +1 or
# 2 for the short storm and the monitor); OTP makes one per send once the
# last failed (~630 in 2 s, measured).
[ "$nl" -ge 2 ] && [ "$nl" -le 16 ] && note "ok: $nl lookups: one per back-off, retried" ||
    bad "$nl port mapper lookups for $D (want 2..16)"
[ "$(count "$tmp/w1.out" "monnode nodedowns 1")" -eq 2 ] &&
    note "ok: monitor_node of an unreachable node: one nodedown each time" ||
    { bad "monitor_node of an unreachable node:"; grep monnode "$tmp/w1.out"; }
expect_counts() { # expect_counts LABEL FILE UP DOWN
    if grep -qx "counts up $3 down $4" "$2"; then note "ok: $1: $3 nodeup, $4 nodedown"; else
        bad "$1: want $3 nodeup, $4 nodedown, got: $(grep '^counts' "$2" | tail -1)"; fi
}
grep -qx "monitor downs 1 noconnection" "$tmp/w1.out" &&
    note "ok: a monitor of a process there just after a storm: DOWN noconnection, once" ||
    { bad "monitor after a storm:"; grep '^monitor' "$tmp/w1.out"; }
expect_counts "storm to a node that is not there" "$tmp/w1.out" 0 0
echo quit >&3
exec 3>&-
# What erl does for monitor_node of a node that is not there: one nodedown.
timeout 20 $ERL -sname "o1x$$" -setcookie $C -eval "
    N = '$D@$H', monitor_node(N, true),
    Count = fun F(K) -> receive {nodedown, N} -> F(K + 1) after 2000 -> K end end,
    io:format(\"otp monnode nodedowns ~p~n\", [Count(0)]), halt()." >"$tmp/o1.out" 2>&1
grep -q "otp monnode nodedowns 1" "$tmp/o1.out" && note "ok: erl agrees (one nodedown)" ||
    { bad "erl monitor_node reference:"; cat "$tmp/o1.out"; }
# And erl's monitor_nodes subscriber hears nothing of its failed attempts.
timeout 20 $ERL -sname "o2x$$" -setcookie $C -eval "
    N = '$D@$H', ok = net_kernel:monitor_nodes(true),
    T = erlang:monotonic_time(millisecond) + 1000,
    L = fun F(I) -> case erlang:monotonic_time(millisecond) < T of
                        true -> {redial, N} ! {storm, I}, F(I + 1); false -> I end end,
    L(0),
    Count = fun F(K) -> receive {nodedown, _} -> F(K + 1); {nodeup, _} -> F(K + 1) after 500 -> K end end,
    io:format(\"otp storm node events ~p~n\", [Count(0)]), halt()." >"$tmp/o2.out" 2>&1
grep -q "otp storm node events 0" "$tmp/o2.out" && note "ok: erl agrees (no nodedown for failed attempts)" ||
    { bad "erl monitor_nodes reference:"; cat "$tmp/o2.out"; }

# ---- 2 and 3. an ember peer killed and restarted K times ----
K=10
E="ep$$"
start_watcher w2 f2 "w2x$$" "$E@$H" 20
exec 4>"$tmp/f2"
wait_until atleast "$tmp/w2.out" watching 1 || bad "watcher w2 did not start"
k=1
while [ $k -le $K ]; do
    start_bg "e$k" timeout 120 "$PEER" -sname "$E" -setcookie $C serve
    e=$last
    wait_until atleast "$tmp/w2.out" nodeup $k || bad "cycle $k: no nodeup"
    kill9 "$e"
    wait_until atleast "$tmp/w2.out" nodedown $k || bad "cycle $k: no nodedown"
    k=$((k + 1))
done
sleep 2 # the sender keeps dialling the dead peer meanwhile
echo counts >&4
wait_until atleast "$tmp/w2.out" "counts up" 1 || bad "watcher w2 did not answer"
expect_counts "$K kill/restart cycles of an ember peer" "$tmp/w2.out" $K $K
logs=$(count "$tmp/w2.err" "$E@$H")
grep -F "$E@$H" "$tmp/w2.err" | sed 's/^/    /' | cut -c1-160
[ "$logs" -le $((2 * K)) ] && note "ok: $logs log lines over $K cycles" ||
    { bad "$logs log lines over $K cycles:"; head -20 "$tmp/w2.err"; }
echo quit >&4
exec 4>&-

# 3: no background sender; a storm while the peer is down, then it returns.
start_watcher w3 f3 "w3x$$" "$E@$H" 0
exec 5>"$tmp/f3"
wait_until atleast "$tmp/w3.out" watching 1 || bad "watcher w3 did not start"
echo "storm 1000" >&5
wait_until atleast "$tmp/w3.out" "storm sends" 1 || bad "w3 storm did not end"
start_bg e-back timeout 120 "$PEER" -sname "$E" -setcookie $C serve
e=$last
wait_until registered "$E" || bad "the peer did not come back"
sleep 1
echo probe >&5
wait_until atleast "$tmp/w3.out" "probe " 1 || bad "w3 did not probe"
wait_until atleast "$tmp/w3.out" nodeup 1 # counted by another process: let it
echo counts >&5
wait_until atleast "$tmp/w3.out" "counts up" 1 || bad "watcher w3 did not answer"
grep -qx "probe ok" "$tmp/w3.out" && note "ok: a send 1 s after the ember peer came back was delivered" ||
    { bad "send after the ember peer came back:"; cat "$tmp/w3.out"; }
expect_counts "ember peer down, then back" "$tmp/w3.out" 1 0
echo quit >&5
exec 5>&-
stop_bg "$e"

# ---- 4. a real erl peer, killed and restarted ----
KO=3
O="op$$"
SERVE='register(redial, spawn(fun L() -> receive {probe, P, N} -> P ! {probe_ok, N}, L(); _ -> L() end end)), io:format("serving~n")'
start_watcher w4 f4 "w4x$$" "$O@$H" 20
exec 3>"$tmp/f4"
wait_until atleast "$tmp/w4.out" watching 1 || bad "watcher w4 did not start"
k=1
while [ $k -le $KO ]; do
    start_bg "o$k" timeout 120 $ERL -sname "$O" -setcookie $C -eval "$SERVE"
    o=$last
    wait_until atleast "$tmp/w4.out" nodeup $k || bad "erl cycle $k: no nodeup"
    kill9 "$o"
    wait_until atleast "$tmp/w4.out" nodedown $k || bad "erl cycle $k: no nodedown"
    k=$((k + 1))
done
sleep 2
echo counts >&3
wait_until atleast "$tmp/w4.out" "counts up" 1 || bad "watcher w4 did not answer"
expect_counts "$KO kill/restart cycles of an erl peer" "$tmp/w4.out" $KO $KO
logs=$(count "$tmp/w4.err" "$O@$H")
[ "$logs" -le $((2 * KO)) ] && note "ok: $logs log lines over $KO erl cycles" ||
    { bad "$logs log lines over $KO erl cycles:"; head -20 "$tmp/w4.err"; }
echo quit >&3
exec 3>&-
# 3 with erl: the peer is down (storm), comes back, a send a second later.
start_watcher w5 f5 "w5x$$" "$O@$H" 0
exec 3>"$tmp/f5"
wait_until atleast "$tmp/w5.out" watching 1 || bad "watcher w5 did not start"
echo "storm 1000" >&3
wait_until atleast "$tmp/w5.out" "storm sends" 1 || bad "w5 storm did not end"
start_bg o-back timeout 120 $ERL -sname "$O" -setcookie $C -eval "$SERVE"
o=$last
wait_until registered "$O" || bad "the erl peer did not come back"
sleep 1
echo probe >&3
wait_until atleast "$tmp/w5.out" "probe " 1 || bad "w5 did not probe"
wait_until atleast "$tmp/w5.out" nodeup 1 # counted by another process: let it
echo counts >&3
wait_until atleast "$tmp/w5.out" "counts up" 1 || bad "watcher w5 did not answer"
grep -qx "probe ok" "$tmp/w5.out" && note "ok: a send 1 s after the erl peer came back was delivered" ||
    { bad "send after the erl peer came back:"; cat "$tmp/w5.out"; }
expect_counts "erl peer down, then back" "$tmp/w5.out" 1 0
echo quit >&3
exec 3>&-
stop_bg "$o"

# ---- 6. big sends while a connection attempt hangs ----
# A node whose port accepts TCP (the kernel's backlog) and never answers the
# handshake: the attempt stays pending for the setup time (7 s).  What is
# sent meanwhile is queued for it, but a sender is held once 8 MiB are
# queued, as OTP holds it (dist_buf_busy_limit): 64 KiB messages for 3 s
# stop at about 130 sends, their memory bounded, instead of gigabytes.
G="hang$$"
start_bg hang timeout 60 $ERL -eval "{ok, L} = gen_tcp:listen(0, []), {ok, Port} = inet:port(L),
    {ok, _} = erl_epmd:start_link(), {ok, _} = erl_epmd:register_node(\"$G\", Port),
    io:format(\"registered~n\"), receive after infinity -> L end."
g=$last
wait_until registered "$G" || bad "the hanging node did not register"
start_watcher w6 f6 "w6x$$" "$G@$H" 0
exec 3>"$tmp/f6"
wait_until atleast "$tmp/w6.out" watching 1 || bad "watcher w6 did not start"
echo "bigstorm 3000" >&3
wait_until atleast "$tmp/w6.out" "bigstorm sends" 1 || bad "w6 bigstorm did not end"
bs=$(field "$tmp/w6.out" "bigstorm sends" 3)
bgap=$(field "$tmp/w6.out" "bigstorm sends" 5)
bgrow=$(field "$tmp/w6.out" "bigstorm sends" 7)
note "pending: ${bs:-?} sends of 64 KiB, longest ${bgap:-?} ms, RSS grew ${bgrow:-?} KiB"
[ -n "$bs" ] && [ "$bs" -le 400 ] && [ "${bgrow:-999999}" -le 102400 ] &&
    note "ok: a sender to a pending connection is held at the queue's limit" ||
    bad "pending connection: ${bs:-?} sends queued (want <= 400), RSS +${bgrow:-?} KiB (want <= 100 MiB)"
[ "${bgap:-0}" -ge 500 ] && note "ok: the held send waited (${bgap} ms) for the attempt to end" ||
    bad "no send was held while the connection was pending (longest ${bgap:-?} ms)"
echo quit >&3
exec 3>&-
stop_bg "$g"

# The watchers have quit (stopping their node); under SANITIZE a leak or
# an error report would be in their standard error.
for w in $ws; do wait "$w" 2>/dev/null || bad "watcher $w exited with $?"; done
if grep -lE "Sanitizer|runtime error" "$tmp"/*.err 2>/dev/null; then
    bad "sanitizer reports:"; grep -hE -A5 "Sanitizer|runtime error" "$tmp"/*.err | head -40
fi

if [ $fail -ne 0 ]; then
    echo "redial.sh: FAILED"
    exit 1
fi
echo "redial.sh: all passed"
