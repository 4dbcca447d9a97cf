#!/bin/sh
# Interop: a C supervision tree (tests/interop/sup_node.c: include/ember/
# sup.h) driven from a real erl 25 with OTP's own supervisor functions
# (tests/interop/sup_helper.erl): which_children and count_children answer
# as an OTP supervisor does, a nested supervisor answers by pid, a child
# killed from Erlang is restarted and serves, terminate_child /
# restart_child / delete_child, start_child with an Erlang spec refused,
# and too many restarts shut the supervisor down (the Erlang monitor's
# DOWN says shutdown, and the C node sees it end and exits 0, with its
# reports on stderr and no sanitizer report in a sanitizer build).
# A private ember-epmd on a private port, unique node names, every wait
# bounded, everything started stopped on exit.  B = build dir.
set -u
. tests/support/interop.sh
il_init sup
il_need erl erlc timeout cc
il_built "$B/bin/ember-epmd" "$B/lib/libember.a"
il_cc "$tmp/sup_node" tests/interop/sup_node.c
erlc -o "$tmp" tests/interop/sup_helper.erl || die "erlc failed"
il_port_mapper
N="supc$$"

start_bg node timeout 120 "$tmp/sup_node" -sname "$N" -setcookie $C
node=$last
IL_WAIT=200
wait_until grep -q '^ready$' "$tmp/node.out" ||
    die "sup_node did not start: $(cat "$tmp/node.err")"
note "sup_node $N@$H ready"

timeout 90 erl -noshell -start_epmd false -sname "esup$$" -setcookie $C -pa "$tmp" \
    -eval "sup_helper:run('$N@$H'), halt()." >"$tmp/erl.out" 2>&1
sed 's/^/sup.sh: erl: /' "$tmp/erl.out"
grep -q '^done$' "$tmp/erl.out" || bad "the Erlang side did not finish"
grep -q '^FAIL' "$tmp/erl.out" && bad "a check on the Erlang side failed"
[ "$(grep -c '^ok: ' "$tmp/erl.out")" -eq 12 ] || bad "expected 12 checks to pass on the Erlang side"

# The C side saw its supervisor end with the same reason, and exits 0.
wait "$node"
rc=$?
[ $rc -eq 0 ] || bad "sup_node exited $rc"
expect "sup_node saw its supervisor exit shutdown" "$tmp/node.out" "sup exited shutdown"
# The reports on stderr: a child_terminated per kill, and the give-up.
[ "$(grep -c 'child_terminated: child one' "$tmp/node.err")" -ge 6 ] ||
    { bad "sup_node reported fewer than 6 child_terminated for one:"; cat "$tmp/node.err"; }
expect "sup_node reported the intensity reached" "$tmp/node.err" "reached_max_restart_intensity"
crashed "$tmp/node.err" && { bad "sanitizer or crash report from sup_node:"; cat "$tmp/node.err"; }

[ $fail -eq 0 ] && note "ok"
exit $fail
