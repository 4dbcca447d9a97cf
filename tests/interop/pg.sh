#!/bin/sh
# Interop: process groups (<ember/pg.h>) against real OTP 25's pg: an
# ember node (tests/interop/pg_node.c, driven from Erlang through its
# registered `ctl`) and two erl nodes, each running scope pg
# (pg:start_link()) and Phoenix.PubSub's scope 'Elixir.Phoenix.PubSub'.
# Run twice: the ember node published (visible) and hidden.  A private
# ember-epmd on a private port; every wait is bounded.  Checked
# (tests/interop/pg_helper.erl prints one line per check):
#  - C members in pg:get_members on Erlang, Erlang members (of both erl
#    nodes) in em_pg_get_members, local members on each side
#  - leave both ways, not_joined, several joins of one pid, list joins and
#    leaves, a C member exiting leaves all its groups on Erlang
#  - the named scope: em_pg_start (and EEXIST), members both ways, a
#    Phoenix-style {forward_to_local, Topic, Msg, Dispatcher} to the C member
#  - OTP 26's {discover, Pid, Vsn}, sent by hand: answered with sync and
#    discover
#  - an Erlang node halted: its members go on C; the ember node killed:
#    its members go on Erlang
#  - the Erlang scopes are the same processes at the end (a message they
#    do not expect crashes them), and the ember node logged no message as
#    malformed (it understood all that real pg sent)
set -u
. tests/support/interop.sh
il_init pg
il_need erl erlc timeout cc
il_built "$B/bin/ember-epmd" "$B/lib/libember.a"
il_cc "$tmp/pg_node" tests/interop/pg_node.c
erlc -o "$tmp" tests/interop/pg_helper.erl || die "erlc failed"
ERL="erl -noshell -start_epmd false -pa $tmp"
il_port_mapper

for K in published hidden; do
    start_bg "c-$K" timeout 90 "$tmp/pg_node" -sname "c$K@$H" -setcookie $C -$K
    rc=$last
    wait_until grep -q ready "$tmp/c-$K.out" || bad "ember node ($K) not ready"
    start_bg "v-$K" timeout 90 $ERL -sname "v$K@$H" -setcookie $C -eval "pg_helper:victim('c$K@$H')"
    rv=$last
    wait_until grep -q victim "$tmp/v-$K.out" || bad "erl victim ($K) did not start"
    timeout 80 $ERL -sname "d$K@$H" -setcookie $C \
        -eval "pg_helper:driver('c$K@$H', 'v$K@$H', $K), halt()." >"$tmp/d-$K.out" 2>&1
    for c in node_kind c_member_seen_on_erlang c_member_not_local_on_erlang erl_member_seen_on_c \
        erl_member_not_local_on_c c_local_members e2_member_seen_on_c c_leave c_leave_seen_on_erlang \
        c_leave_not_joined erl_leave_seen_on_c c_multi_join_seen_on_erlang c_list_leave_seen_on_erlang \
        c_member_in_two_groups c_member_exit_seen_on_erlang c_named_scope_start c_named_scope_eexist \
        c_named_member_seen_on_erlang c_named_member_not_in_pg forward_to_local_reaches_c \
        erl_named_member_seen_on_c e2_named_member_seen_on_c c_which_groups c_member_3_seen \
        discover3_sync discover3_discover e2_members_gone_on_c c_members_gone_on_erlang scopes_alive; do
        expect "$c ($K)" "$tmp/d-$K.out" "$c ok"
    done
    expect "driver ran to its end ($K)" "$tmp/d-$K.out" "done"
    if grep -q "pg scope" "$tmp/c-$K.err"; then
        bad "the ember node dropped a message of real pg ($K):"; cat "$tmp/c-$K.err"
    fi
    stop_bg "$rv"
    stop_bg "$rc"
done

il_finish
