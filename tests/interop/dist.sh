#!/bin/sh
# Interop: ember's distribution against real OTP 25 (and ember against
# ember).  A private ember-epmd on a private port; every erl runs with
# -start_epmd false and ERL_EPMD_PORT pointing at it.  Every wait is bounded
# (timeout); everything started here is stopped on exit.  B = build dir.
#  1. the seed: ember receiver + ember sender (-name ...@localhost, -sname);
#     erl's seed receiver + ember's sender; ember's receiver + erl's sender
#  2. net_adm:ping erl -> ember and ember -> erl
#  3. a wrong cookie is refused both ways, and the nodes keep serving
#  4. echo round trip of every term type (pids/refs/ports/funs of a third
#     node, a 4 MiB binary, terms 100,000 deep), =:= to the originals
#  5. remote link + monitor both ways; the peer kill -9'd -> noconnection;
#     a remote exit reason arrives as EXIT and DOWN
#  6. ticks: an idle connection with net_ticktime 4 stays up; a frozen
#     peer is taken down after about net_ticktime
#  7. robustness: garbage, a truncated message, an oversized length and a
#     silent client on the distribution port are dropped with one log line
#     each while the node goes on serving
set -u
. tests/support/interop.sh
il_init dist
il_need erl erlc timeout cc
il_built "$B/bin/ember-epmd" "$B/examples/receiver" "$B/examples/sender" "$B/examples/echo" "$B/lib/libember.a"
il_cc "$tmp/dist_peer" tests/interop/dist_peer.c
# The seed's Erlang side is the repository's (examples/erlang).
erlc -o "$tmp" tests/interop/dist_helper.erl examples/erlang/receiver.erl examples/erlang/sender.erl ||
    die "erlc failed"
il_port_mapper
ERL="erl -noshell -start_epmd false -pa $tmp"

# ---- 1. the seed ----
seed_ember() { # seed_ember FLAG RNAME SNAME TARGET
    start_bg "r-$2" timeout 60 "$B/examples/receiver" "$1" "$2" -setcookie $C
    r=$last
    wait_until registered "${2%@*}" || bad "receiver $2 did not register"
    timeout 20 "$B/examples/sender" "$1" "$3" -setcookie $C "$4" >"$tmp/s.out" 2>&1
    echo "rc=$?" >>"$tmp/s.out"
    sleep 0.2
    expect "ember sender ($1 $3) got the reply" "$tmp/s.out" 'Received reply: {thanks,"Thanks for the message!"}'
    expect "ember sender exit 0" "$tmp/s.out" "rc=0"
    expect "ember receiver ($1 $2) printed" "$tmp/r-$2.out" 'Received: "Hello from sender"'
    stop_bg "$r"
}
seed_ember -name r1@localhost s1@localhost r1@localhost
seed_ember -sname r2 s2 "r2@$H"

start_bg er3 timeout 60 $ERL -sname er3 -setcookie $C -eval 'receiver:start(), io:format("started~n"), receive after infinity -> ok end'
r=$last
wait_until grep -q started "$tmp/er3.out" || bad "erl er3 did not start"
timeout 20 "$B/examples/sender" -sname s3 -setcookie $C "er3@$H" >"$tmp/s3.out" 2>&1
expect "ember sender -> erl seed receiver" "$tmp/s3.out" 'Received reply: {thanks,"Thanks for the message!"}'
sleep 0.3
expect "erl seed receiver printed" "$tmp/er3.out" 'Received: "Hello from sender"'
stop_bg "$r"

start_bg r4 timeout 60 "$B/examples/receiver" -name r4@127.0.0.1 -setcookie $C
r=$last
wait_until registered r4 || bad "receiver r4 did not register"
timeout 20 $ERL -name es4@127.0.0.1 -setcookie $C -eval "sender:send('r4@127.0.0.1'), halt()." >"$tmp/es4.out" 2>&1
expect "erl seed sender -> ember receiver" "$tmp/es4.out" 'Received reply: {thanks,"Thanks for the message!"}'
expect "ember receiver printed (erl sender)" "$tmp/r4.out" 'Received: "Hello from sender"'

# ---- 2. ping both ways; 3. wrong cookie ----
timeout 20 $ERL -name ep5@127.0.0.1 -setcookie $C -eval "dist_helper:ping('r4@127.0.0.1'), halt()." >"$tmp/p5.out" 2>&1
expect "net_adm:ping erl -> ember" "$tmp/p5.out" "pong"
timeout 20 $ERL -name ep6@127.0.0.1 -setcookie wrong -eval "dist_helper:ping('r4@127.0.0.1'), halt()." >"$tmp/p6.out" 2>&1
expect "wrong cookie erl -> ember refused" "$tmp/p6.out" "pang"
grep -q "Invalid challenge reply" "$tmp/r4.err" && note "ok: ember logged the bad digest" || bad "ember did not log the bad digest"
timeout 20 $ERL -name ep7@127.0.0.1 -setcookie $C -eval "dist_helper:ping('r4@127.0.0.1'), halt()." >"$tmp/p7.out" 2>&1
expect "ember keeps serving after a bad cookie" "$tmp/p7.out" "pong"
stop_bg "$r"

start_bg e8 timeout 60 $ERL -sname e8 -setcookie $C -eval 'io:format("started~n"), receive after infinity -> ok end'
r=$last
wait_until grep -q started "$tmp/e8.out" || bad "erl e8 did not register"
timeout 20 "$tmp/dist_peer" -sname p8 -setcookie $C ping "e8@$H" >"$tmp/p8.out" 2>&1
expect "ember ping -> erl" "$tmp/p8.out" "pong"
timeout 20 "$tmp/dist_peer" -sname p9 -setcookie wrong ping "e8@$H" >"$tmp/p9.out" 2>&1
expect "wrong cookie ember -> erl refused" "$tmp/p9.out" "pang"
timeout 20 "$tmp/dist_peer" -sname p10 -setcookie $C ping "e8@$H" >"$tmp/p10.out" 2>&1
expect "erl keeps serving after a bad cookie" "$tmp/p10.out" "pong"
timeout 20 "$tmp/dist_peer" -sname p11 -setcookie $C ping "nobody@$H" >"$tmp/p11.out" 2>&1
expect "ember ping of an unknown node" "$tmp/p11.out" "pang"
stop_bg "$r"

# ---- 4. echo of every term type from a third node ----
start_bg echo timeout 120 "$B/examples/echo" -sname echo12 -setcookie $C
re=$last
start_bg third timeout 120 $ERL -sname third12 -setcookie $C -eval 'io:format("started~n"), receive after infinity -> ok end'
rt=$last
wait_until registered echo12 || bad "echo did not register"
wait_until grep -q started "$tmp/third.out" || bad "third node did not start"
timeout 60 $ERL -sname a12 -setcookie $C -eval "dist_helper:echo_check('echo12@$H', 'third12@$H'), halt()." >"$tmp/e12.out" 2>&1
expect "echo round trip of every term type" "$tmp/e12.out" "echo ok"
stop_bg "$re"
stop_bg "$rt"

# ---- 4b. a long stream from one ember process arrives whole and in order ----
start_bg q19 timeout 60 $ERL -sname q19 -setcookie $C -eval 'dist_helper:seq_sink()'
rq=$last
wait_until grep -q started "$tmp/q19.out" || bad "erl q19 did not start"
timeout 40 "$tmp/dist_peer" -sname s19 -setcookie $C stream "q19@$H" seq_sink 200000 >"$tmp/s19.out" 2>&1
expect "200,000 messages from one ember process arrive in order" "$tmp/s19.out" "{ok,200000}"
stop_bg "$rq"

# ---- 4c. back-pressure: a frozen erl node holds a big stream's sender ----
# 600 messages of 64 KiB (39 MB) start while erl is stopped (SIGSTOP) for
# 2.5 s: the sender waits once the socket and 8 MiB of queue are full
# (instead of queueing all of it), goes on when erl thaws, and every
# message arrives in order.
start_bg q20 timeout 60 $ERL -sname q20 -setcookie $C -eval 'dist_helper:seq_sink()'
rq=$last
wait_until grep -q started "$tmp/q20.out" || bad "erl q20 did not start"
start_bg s20 timeout 40 "$tmp/dist_peer" -sname s20 -setcookie $C stream "q20@$H" seq_sink 600 65536
rs=$last
wait_until grep -q connected "$tmp/s20.out" || bad "ember s20 did not connect"
pkill -STOP -P "$rq"
sleep 2.5
pkill -CONT -P "$rq"
wait "$rs"
expect "a 39 MB stream to a node frozen for 2.5 s arrives whole and in order" "$tmp/s20.out" "{ok,600}"
ms=$(sed -n 's/^sent in \([0-9]*\) ms$/\1/p' "$tmp/s20.out")
if [ -n "$ms" ] && [ "$ms" -ge 1000 ]; then
    note "ok: the sender was held while the peer was frozen (sent in $ms ms)"
else
    bad "the sender was not held by the frozen peer (sent in '${ms}' ms)"; cat "$tmp/s20.out"
fi
stop_bg "$rq"

# ---- 5. links and monitors ----
start_bg t13 timeout 60 $ERL -sname t13 -setcookie $C -eval 'dist_helper:target()'
rt=$last
wait_until grep -q started "$tmp/t13.out" || bad "erl t13 did not start"
start_bg w13 timeout 40 "$tmp/dist_peer" -sname w13 -setcookie $C watch "t13@$H" target 20000
rw=$last
wait_until grep -q ready "$tmp/w13.out" || bad "ember watcher not ready"
pkill -9 -P "$rt"
wait "$rw"
expect "ember link to killed erl: EXIT noconnection" "$tmp/w13.out" "EXIT noconnection"
expect "ember monitor of killed erl: DOWN noconnection" "$tmp/w13.out" "DOWN noconnection"
expect "ember monitor_node: nodedown" "$tmp/w13.out" "nodedown"

start_bg t14 timeout 60 $ERL -sname t14 -setcookie $C -eval 'dist_helper:target()'
rt=$last
wait_until grep -q started "$tmp/t14.out" || bad "erl t14 did not start"
timeout 30 "$tmp/dist_peer" -sname w14 -setcookie $C watch "t14@$H" target 20000 exit >"$tmp/w14.out" 2>&1
expect "remote exit reason via link" "$tmp/w14.out" "EXIT boom"
expect "remote exit reason via monitor" "$tmp/w14.out" "DOWN boom"
stop_bg "$rt"

# ---- 5a. unlink over the wire (UNLINK_ID / UNLINK_ID_ACK), both ways ----
# A process links to an exit-trapping `unlinkee` on the other node and
# unlinks it twice, links once more (relink) or not (unlink), and exits with
# boom: the unlinkee gets the DOWN of its monitor either way, and the EXIT
# only after relink.
reject() { # reject LABEL FILE TEXT: FILE has "end" and not TEXT
    if grep -qF -- "end" "$2" && ! grep -qF -- "$3" "$2"; then note "ok: $1"; else bad "$1: '$3' or no 'end' in:"; cat "$2"; fi
}
for mode in unlink relink; do
    start_bg "eu-$mode" timeout 60 $ERL -sname "eu$mode" -setcookie $C -eval 'dist_helper:unlinkee()'
    ru=$last
    wait_until grep -q started "$tmp/eu-$mode.out" || bad "erl eu$mode did not start"
    timeout 30 "$tmp/dist_peer" -sname "wu$mode" -setcookie $C unlink "eu$mode@$H" $mode >"$tmp/wu$mode.out" 2>&1
    wait_until grep -q end "$tmp/eu-$mode.out"
    stop_bg "$ru"
    expect "ember $mode of erl: the unlinker died (DOWN boom)" "$tmp/eu-$mode.out" "DOWN boom"
    start_bg "vu-$mode" timeout 60 "$tmp/dist_peer" -sname "vu$mode" -setcookie $C unlinkee
    rv=$last
    wait_until registered "vu$mode" || bad "ember vu$mode did not register"
    relink=false; [ $mode = relink ] && relink=true
    timeout 30 $ERL -sname "xu$mode" -setcookie $C \
        -eval "dist_helper:unlink_ember('vu$mode@$H', $relink), halt()." >"$tmp/xu$mode.out" 2>&1
    wait "$rv"
    expect "erl $mode of ember: the unlinker died (DOWN boom)" "$tmp/vu-$mode.out" "DOWN boom"
done
reject "ember unlink of erl: no exit signal after UNLINK_ID" "$tmp/eu-unlink.out" "EXIT"
expect "ember link after unlinks holds: EXIT boom" "$tmp/eu-relink.out" "EXIT boom"
reject "erl unlink of ember: no exit signal after UNLINK_ID" "$tmp/vu-unlink.out" "EXIT"
expect "erl link after unlinks holds: EXIT boom" "$tmp/vu-relink.out" "EXIT boom"

# ---- 5b. simultaneous connect with erl (both send first at the same ms) ----
# Ten rounds, each a new ember node (a<K> sorts below erl's msim, z<K>
# above: both resolutions); every message must arrive.  How many rounds
# really met simultaneously is timing and is only reported.
R=10
T0=$(( $(date +%s%3N) + 3000 ))
start_bg msim timeout 60 $ERL -sname msim -setcookie $C -eval "dist_helper:simul(\"$H\", $R, $T0), halt()."
rm=$last
sp=""
k=1
while [ $k -le $R ]; do
    p=a; [ $((k % 2)) = 0 ] && p=z
    start_bg "sim$k" timeout 60 "$tmp/dist_peer" -sname "$p$k" -setcookie $C simul "msim@$H" $k $((T0 + k * 2000))
    sp="$sp $last"
    k=$((k + 1))
done
for p in $sp; do wait "$p"; done
wait "$rm"
n_erl=$(grep -c "ok$" "$tmp/msim.out")
n_ember=$(cat "$tmp"/sim*.out | grep -c "ok$")
n_nok=$(cat "$tmp"/sim*.err | grep -c "Simultaneous connect.*(nok)")
n_oks=$(cat "$tmp"/sim*.err | grep -c "Simultaneous connect.*(ok_simultaneous)")
if [ "$n_erl" = $R ] && [ "$n_ember" = $R ]; then
    note "ok: simultaneous first sends with erl: $R rounds, every message arrived both ways (simultaneous connects ember resolved: $n_nok nok, $n_oks ok_simultaneous)"
else
    bad "simultaneous first sends with erl: $n_erl/$R at erl, $n_ember/$R at ember"
    cat "$tmp/msim.out" "$tmp"/sim*.out "$tmp"/sim*.err
fi

start_bg v15 timeout 60 "$tmp/dist_peer" -sname v15 -setcookie $C serve
rv=$last
wait_until registered v15 || bad "ember v15 did not register"
start_bg ew15 timeout 40 $ERL -sname ew15 -setcookie $C -eval "dist_helper:watch_ember('v15@$H', 20000), halt()."
rw=$last
wait_until grep -q ready "$tmp/ew15.out" || { bad "erl watcher not ready"; cat "$tmp/ew15.out" "$tmp/ew15.err"; }
pkill -9 -P "$rv"
wait "$rw"
expect "erl link to killed ember: EXIT noconnection" "$tmp/ew15.out" "EXIT noconnection"
expect "erl monitor of killed ember: DOWN noconnection" "$tmp/ew15.out" "DOWN noconnection"
expect "erl monitor_node of ember: nodedown" "$tmp/ew15.out" "nodedown"

# ---- 6. ticks ----
start_bg e16 timeout 60 $ERL -sname e16 -setcookie $C -kernel net_ticktime 4 -eval 'io:format("started~n"), receive after infinity -> ok end'
rt=$last
wait_until grep -q started "$tmp/e16.out" || bad "erl e16 did not register"
timeout 30 "$tmp/dist_peer" -sname i16 -setcookie $C -kernel net_ticktime 4 idle "e16@$H" 12000 >"$tmp/i16.out" 2>&1
expect "idle connection with net_ticktime 4 stays up 12 s" "$tmp/i16.out" "still up"
start_bg i17 timeout 30 "$tmp/dist_peer" -sname i17 -setcookie $C -kernel net_ticktime 4 idle "e16@$H" 15000
ri=$last
wait_until grep -q pong "$tmp/i17.out" || bad "i17 did not connect"
pkill -STOP -P "$rt"
wait "$ri"
pkill -CONT -P "$rt"
if grep -Eq "nodedown after ([3-7][0-9]{3}) ms" "$tmp/i17.out"; then
    note "ok: frozen peer taken down after net_ticktime ($(cat "$tmp/i17.out" | tail -1))"
else
    bad "tick timeout: $(cat "$tmp/i17.out")"
fi
grep -q net_tick_timeout "$tmp/i17.err" && note "ok: net_tick_timeout logged" || bad "net_tick_timeout not logged"
stop_bg "$rt"

# ---- 7. robustness of the distribution port ----
start_bg rb timeout 60 "$B/examples/receiver" -sname rb18 -setcookie $C
rr=$last
wait_until registered rb18 || bad "receiver rb18 did not register"
port=$(timeout 5 "$B/bin/ember-epmd" -port "$P" -names | sed -n 's/^name rb18 at port //p')
raw() { # raw BYTES (printf format): send them, hold 0.5 s, close
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf '$1' >&3; sleep 0.5" 2>/dev/null
}
raw 'GET / HTTP/1.0\r\n\r\n'
raw '\000\020N\000\000\000\004'
raw '\377\377N\000\000\000\000\000\000\000'
timeout 12 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; sleep 9" 2>/dev/null &
silent=$!
pids="$pids $silent"
timeout 20 "$tmp/dist_peer" -sname p18 -setcookie $C ping "rb18@$H" >"$tmp/p18.out" 2>&1
expect "node serves while a client stays silent" "$tmp/p18.out" "pong"
wait "$silent"
sleep 0.5
nlog=$(grep -c "ember dist" "$tmp/rb.err")
if [ "$nlog" -eq 4 ] && grep -q "timed out" "$tmp/rb.err"; then
    note "ok: garbage, truncated, oversized and silent clients: one log line each"
else
    bad "robustness log lines ($nlog):"; cat "$tmp/rb.err"
fi
timeout 20 "$B/examples/sender" -sname s18 -setcookie $C "rb18@$H" >"$tmp/s18.out" 2>&1
expect "node still serves after the bad clients" "$tmp/s18.out" 'Received reply'
stop_bg "$rr"

il_finish
