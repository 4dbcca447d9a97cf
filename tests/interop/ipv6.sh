#!/bin/sh
# Interop: an IPv6 cluster on ::1 -- real OTP 25 nodes started with
# -proto_dist inet6_tcp and ember nodes given the same flag (em_node_args)
# -- with ember-epmd, then real epmd, as the port mapper serving IPv6
# clients; IPv4 nodes beside them unaffected.  Without ::1 on this host the
# script fails (it does not skip).  Every wait is bounded; everything
# started here is stopped on exit.  B = build dir.
#  1. ember-epmd: messages ember -> erl and erl -> ember, net_adm:ping
#     both ways and `ember ping -proto_dist inet6_tcp`, all nodes named @::1;
#     short names (-sname) too (the host's own name is ::1 for an IPv6
#     node, erl's fallback); two erl nodes that only ping the ember node
#     mesh through it over IPv6 and global:sync() returns
#  2. ember-epmd answers IPv6 clients: erl_epmd:names over ::1 and epmd
#     -names list the IPv6 nodes; ember-epmd listens on [::]
#  3. IPv4 unaffected: an ember node and an erl node without the flag talk
#     as before; an IPv6 node reaches neither a@127.0.0.1 nor is reached
#     by an IPv4 node at a@::1, ember as erl
#  4. real epmd as the port mapper: the same exchange, epmd -names and
#     erl_epmd:names over ::1 list the ember node
#  5. an IPv6 node on a host without IPv6 (socket(AF_INET6) refused, by an
#     LD_PRELOAD shim): exit 1, one log line saying so
set -u
. tests/support/interop.sh
il_init ipv6
il_need erl erlc epmd timeout cc
il_built "$B/bin/ember-epmd" "$B/bin/ember" "$B/examples/receiver" "$B/examples/sender" "$B/lib/libember.a"
# ::1 must be there: /proc/net/if_inet6 lists lo's address as 32 hex digits.
grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null ||
    die "FAIL: this host has no IPv6 loopback (::1); an IPv6 cluster cannot be tested here"
il_cc "$tmp/dist_peer" tests/interop/dist_peer.c
erlc -o "$tmp" tests/interop/dist_helper.erl examples/erlang/receiver.erl examples/erlang/sender.erl ||
    die "erlc failed"
il_port_mapper
ERL="erl -noshell -start_epmd false -pa $tmp"
ERL6="$ERL -proto_dist inet6_tcp"
V6="-proto_dist inet6_tcp"

# exchange TAG: ember receiver <-> erl sender, erl receiver <-> ember
# sender, ping both ways, all IPv6 long names @::1.
exchange() {
    tag=$1
    start_bg "r$tag" timeout 60 "$B/examples/receiver" $V6 -name "r$tag@::1" -setcookie $C
    r=$last
    wait_until registered "r$tag" || bad "$tag: ember receiver r$tag@::1 did not register"
    timeout 20 $ERL6 -name "es$tag@::1" -setcookie $C -eval "sender:send('r$tag@::1'), halt()." \
        >"$tmp/es$tag.out" 2>&1
    expect "$tag: erl (inet6) sender -> ember receiver: reply" "$tmp/es$tag.out" \
        'Received reply: {thanks,"Thanks for the message!"}'
    expect "$tag: ember receiver printed" "$tmp/r$tag.out" 'Received: "Hello from sender"'
    timeout 20 $ERL6 -name "ep$tag@::1" -setcookie $C -eval "dist_helper:ping('r$tag@::1'), halt()." \
        >"$tmp/ep$tag.out" 2>&1
    expect "$tag: net_adm:ping erl -> ember over IPv6" "$tmp/ep$tag.out" pong

    start_bg "er$tag" timeout 60 $ERL6 -name "er$tag@::1" -setcookie $C \
        -eval 'receiver:start(), io:format("started~n"), receive after infinity -> ok end'
    e=$last
    wait_until grep -q started "$tmp/er$tag.out" || bad "$tag: erl er$tag@::1 did not start"
    timeout 20 "$B/examples/sender" $V6 -name "s$tag@::1" -setcookie $C "er$tag@::1" >"$tmp/s$tag.out" 2>&1
    expect "$tag: ember (inet6) sender -> erl receiver: reply" "$tmp/s$tag.out" \
        'Received reply: {thanks,"Thanks for the message!"}'
    sleep 0.3
    expect "$tag: erl receiver printed" "$tmp/er$tag.out" 'Received: "Hello from sender"'
    timeout 20 "$tmp/dist_peer" $V6 -name "p$tag@::1" -setcookie $C ping "er$tag@::1" >"$tmp/p$tag.out" 2>&1
    expect "$tag: ember ping -> erl over IPv6" "$tmp/p$tag.out" pong
    # the command line: ember ping -proto_dist inet6_tcp (its own name @::1)
    timeout 20 "$B/bin/ember" ping -proto_dist inet6_tcp -c $C "er$tag@::1" >"$tmp/cp$tag.out" 2>&1
    expect "$tag: ember ping -proto_dist inet6_tcp -> erl" "$tmp/cp$tag.out" pong

    # erl_epmd (OTP's client) asks the port mapper over ::1
    timeout 20 $ERL6 -name "en$tag@::1" -setcookie $C \
        -eval "io:format(\"~p~n\", [erl_epmd:names({0,0,0,0,0,0,0,1})]), halt()." >"$tmp/en$tag.out" 2>&1
    expect "$tag: erl_epmd:names over ::1 lists the ember node" "$tmp/en$tag.out" "{\"r$tag\","
    expect "$tag: erl_epmd:names over ::1 lists the erl node" "$tmp/en$tag.out" "{\"er$tag\","

    # a cluster through the ember node (visible, taking part in global):
    # two erl nodes that only ping it mesh with each other over IPv6, and
    # global:sync() returns
    start_bg "m1$tag" timeout 60 $ERL6 -name "m1$tag@::1" -setcookie $C \
        -eval "pong = net_adm:ping('r$tag@::1'), io:format(\"up~n\"), receive after infinity -> ok end"
    m1=$last
    wait_until grep -q up "$tmp/m1$tag.out" || bad "$tag: erl m1$tag@::1 did not reach the ember node"
    timeout 30 $ERL6 -name "m2$tag@::1" -setcookie $C -eval "
        pong = net_adm:ping('r$tag@::1'),
        Sync = global:sync(),
        Mesh = fun W(0) -> false; W(K) -> lists:member('m1$tag@::1', nodes()) orelse
                   begin timer:sleep(100), W(K - 1) end end,
        io:format(\"sync ~p mesh ~p~n\", [Sync, Mesh(50)]), halt()." >"$tmp/m2$tag.out" 2>&1
    expect "$tag: erl nodes meshed through the ember node over IPv6, global:sync() returned" \
        "$tmp/m2$tag.out" "sync ok mesh true"
    stop_bg "$m1"
    stop_bg "$r"
    stop_bg "$e"
}

# ---- 1. and 2. with ember-epmd ----
exchange 1
# epmd's listening places: 0.0.0.0 and [::] (as Debian's epmd)
if command -v ss >/dev/null 2>&1; then # (erl_epmd above already spoke IPv6 to it)
    ss -ltn >"$tmp/listen.out" 2>&1
    expect "ember-epmd listens on [::]" "$tmp/listen.out" "[::]:$P "
fi
epmd -port "$P" -names >"$tmp/names1.out" 2>&1
expect "epmd -names against ember-epmd" "$tmp/names1.out" "up and running on port $P"

# short names: the host's own name is ::1 for an IPv6 node (erl and ember)
start_bg rs timeout 60 "$B/examples/receiver" $V6 -sname rs -setcookie $C
r=$last
wait_until registered rs || bad "ember receiver rs (-sname) did not register"
timeout 20 $ERL6 -sname ess -setcookie $C -eval "sender:send('rs@$H'), halt()." >"$tmp/ess.out" 2>&1
expect "short names: erl (inet6) -> ember" "$tmp/ess.out" 'Received reply: {thanks,"Thanks for the message!"}'
timeout 20 "$B/examples/sender" $V6 -sname ss -setcookie $C "rs@$H" >"$tmp/ss.out" 2>&1
expect "short names: ember (inet6) -> ember" "$tmp/ss.out" 'Received reply: {thanks,"Thanks for the message!"}'
stop_bg "$r"

# ---- 3. IPv4 beside it, unaffected ----
start_bg r4 timeout 60 "$B/examples/receiver" -name r4@127.0.0.1 -setcookie $C
r=$last
wait_until registered r4 || bad "ember receiver r4 did not register"
timeout 20 $ERL -name es4@127.0.0.1 -setcookie $C -eval "sender:send('r4@127.0.0.1'), halt()." >"$tmp/es4.out" 2>&1
expect "IPv4: erl sender -> ember receiver" "$tmp/es4.out" 'Received reply: {thanks,"Thanks for the message!"}'
start_bg e4 timeout 60 $ERL -name e4@127.0.0.1 -setcookie $C -eval 'io:format("started~n"), receive after infinity -> ok end'
e=$last
wait_until grep -q started "$tmp/e4.out" || bad "erl e4 did not start"
timeout 20 "$tmp/dist_peer" -name p4@127.0.0.1 -setcookie $C ping e4@127.0.0.1 >"$tmp/p4.out" 2>&1
expect "IPv4: ember ping -> erl" "$tmp/p4.out" pong
# the families do not mix, for erl as for ember
timeout 20 $ERL6 -name x6@::1 -setcookie $C -eval "dist_helper:ping('r4@127.0.0.1'), halt()." >"$tmp/x6.out" 2>&1
expect "erl (inet6) does not reach an IPv4 name" "$tmp/x6.out" pang
timeout 20 "$tmp/dist_peer" $V6 -name y6@::1 -setcookie $C ping e4@127.0.0.1 >"$tmp/y6.out" 2>&1
expect "ember (inet6) does not reach an IPv4 name either" "$tmp/y6.out" pang
start_bg r6 timeout 60 "$B/examples/receiver" $V6 -name r6@::1 -setcookie $C
r6=$last
wait_until registered r6 || bad "ember receiver r6 did not register"
timeout 20 $ERL -name x4@127.0.0.1 -setcookie $C -eval "dist_helper:ping('r6@::1'), halt()." >"$tmp/x4.out" 2>&1
expect "erl (inet) does not reach a@::1" "$tmp/x4.out" pang
timeout 20 "$tmp/dist_peer" -name y4@127.0.0.1 -setcookie $C ping e4@127.0.0.1 >"$tmp/y4.out" 2>&1
expect "IPv4 ember still pings IPv4 erl with an IPv6 node up" "$tmp/y4.out" pong
stop_bg "$r"
stop_bg "$e"
stop_bg "$r6"

# ---- 4. real epmd as the port mapper ----
P2=""
for i in 1 2 3 4 5 6 7 8; do
    c=$((25000 + ($$ * 13 + i * 1009) % 9000))
    answers $c || {
        P2=$c
        break
    }
done
[ -n "$P2" ] || die "no free port for epmd"
start_bg epmd2 epmd -port "$P2"
wait_until answers "$P2" || die "real epmd did not start on $P2"
ERL_EPMD_PORT=$P2
export ERL_EPMD_PORT
P=$P2 # registered() asks $P
note "real epmd on $P2"
exchange 2
start_bg r7 timeout 60 "$B/examples/receiver" $V6 -name r7@::1 -setcookie $C
r=$last
wait_until registered r7 || bad "ember receiver r7 did not register with real epmd"
epmd -port "$P2" -names >"$tmp/names2.out" 2>&1
expect "epmd -names lists the IPv6 ember node" "$tmp/names2.out" "name r7 at port"
stop_bg "$r"

# ---- 5. no IPv6 on the host ----
cat >"$tmp/noinet6.c" <<'EOF'
/* socket(AF_INET6, ...) fails as on a kernel without IPv6. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
int socket(int domain, int type, int protocol)
{
    if (domain == AF_INET6) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return (int)syscall(SYS_socket, domain, type, protocol);
}
EOF
cc -shared -fPIC -o "$tmp/noinet6.so" "$tmp/noinet6.c" || die "cannot build the no-IPv6 shim"
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD="$tmp/noinet6.so" \
    timeout 20 "$B/examples/receiver" $V6 -name nov6@::1 -setcookie $C >"$tmp/nov6.out" 2>"$tmp/nov6.err"
echo "rc=$?" >>"$tmp/nov6.out"
expect "no IPv6: the node does not start (exit 1)" "$tmp/nov6.out" "rc=1"
expect "no IPv6: the log says so" "$tmp/nov6.err" "this host has no IPv6"
n=$(grep -c '^=ember dist' "$tmp/nov6.err")
[ "$n" = 1 ] && note "ok: no IPv6: one log line" || { bad "no IPv6: $n log lines:"; cat "$tmp/nov6.err"; }

[ $fail = 0 ] && note "all passed"
exit $fail
