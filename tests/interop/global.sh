#!/bin/sh
# Interop: an ember node in OTP 25's `global` (issue 17): real erl nodes
# (-sname, a private port mapper) and ember nodes (global_node.c), driven
# by a hidden erl node running global_helper:main/1, which prints one
# "CHECK <label> ok|FAIL" line per check:
#  1. three erl nodes that only connect to the ember node: global:sync()
#     returns within 5 s on each, they see each other (the transitive
#     mesh), the ember node connects to all, em_global_sync;
#  2. a name registered in C: global:whereis_name, gen_server:call and
#     global:send with it from erl; a taken name refused both ways;
#  3. a name registered in erl: em_global_whereis, em_global_send, em_call
#     of its pid and of {global, Name};
#  4. unregistering both ways; 5. names gone with their process; 6. with
#     their node;
#  7-9. name clashes between partitions that join, resolved by the ember
#     node itself (its pid), by the Erlang node of the existing pid (rpc
#     of global:resolve_it from ember) and by ember for an Erlang node
#     (ember's global:resolve_it/4): one pid keeps the name everywhere,
#     the loser is killed (random_exit_name);
#  10. {remove_connection, Node} honoured; a malformed message to
#     global_name_server dropped with a log line;
#  11. prevent_overlapping_partitions: an erl node drops another, the
#     ember node does as global does;
#  12. -connect_all false: no mesh, global:sync() does not return, as
#     between two real nodes;
# and at the end every erl node is alive, none logged "Kernel pid
# terminated".  Environment: B = build directory.
set -u
. tests/support/interop.sh
il_init global
il_need erl erlc timeout cc
il_built "$B/bin/ember-epmd" "$B/lib/libember.a"
il_cc "$tmp/global_node" tests/interop/global_node.c
erlc -o "$tmp" tests/interop/global_helper.erl || die "erlc failed"
ERL="erl -noshell -start_epmd false -setcookie $C -pa $tmp"
il_port_mapper

n() { echo "$1@$H"; }
for e in e1 e2 e3 z1 y1 a1 z2 f1 f2; do
    start_bg "$e" timeout 120 $ERL -sname "$e"
done
for c in c1 a0 b1; do
    start_bg "$c" timeout 120 "$tmp/global_node" -sname "$c" -setcookie $C
done
start_bg cf timeout 120 "$tmp/global_node" -sname cf -setcookie $C -connect_all false
for c in c1 a0 b1 cf; do
    wait_until grep -q ready "$tmp/$c.out" || die "ember node $c not ready"
done
for e in e1 e2 e3 z1 y1 a1 z2 f1 f2; do
    wait_until registered "$e" || die "erl node $e did not start"
done

timeout 100 $ERL -hidden -sname drv -eval "global_helper:main(['$(n c1)', '$(n e1)', '$(n e2)', '$(n e3)', \
'$(n a0)', '$(n z1)', '$(n y1)', '$(n a1)', '$(n b1)', '$(n z2)', '$(n cf)', '$(n f1)', '$(n f2)']), halt()." \
    >"$tmp/drv.out" 2>&1
grep '^sync' "$tmp/drv.out"
while read -r line; do
    case "$line" in
    "CHECK "*" ok") l=${line#CHECK }; note "ok: ${l% ok}" ;;
    "CHECK "*) bad "${line#CHECK }" ;;
    esac
done <"$tmp/drv.out"
grep -q '^DONE' "$tmp/drv.out" || { bad "the driver did not finish:"; cat "$tmp/drv.out"; }
expect "a malformed message to global_name_server logged" "$tmp/b1.err" "dropped a malformed message"
expect "a0 resolved the clash itself (random_exit_name)" "$tmp/a0.err" "global: Name conflict terminating {clash,"
expect "b1 resolved the clash for a1 (global:resolve_it/4)" "$tmp/b1.err" "global: Name conflict terminating {clash2,"
expect "c1 took part in prevent_overlapping_partitions" "$tmp/c1.err" "in order to prevent overlapping partitions"
for f in "$tmp"/*.out "$tmp"/*.err; do
    if grep -q 'Kernel pid terminated' "$f"; then
        bad "an erl node went down: $f"; cat "$f"
    fi
    crashed "$f" && { bad "sanitizer or crash report in $f:"; cat "$f"; }
done
[ $fail = 0 ] || for c in c1 a0 b1 cf; do echo "-- $c:"; cat "$tmp/$c.err"; done
[ $fail = 0 ] && note "all passed"
exit $fail
