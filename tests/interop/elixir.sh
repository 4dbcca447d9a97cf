#!/bin/sh
# Interop: Elixir as a client of an ember node, written as Elixir users
# write it (issue 17): examples/kv.c on a -sname node, and
# tests/interop/elixir_client.exs on an Elixir node (Elixir 1.14 on OTP 25,
# Debian's `elixir`, installed by .ci/deps): GenServer.call and cast to
# {:kv, node}, :rpc.call and :erpc.call of kv's exports, a call to a name
# nobody has (exit noproc), 100 concurrent calls from Task.async_stream,
# Node.list() showing the ember node (visible by default), :global.sync()
# returning, {:global, :kv} reaching kv's server; :pg with an ember node
# (tests/interop/pg_node.c): a C member seen by :pg.get_members and
# reached, an Elixir member seen from C, leave, a stopped C member gone.
# A private ember-epmd; every wait bounded; everything stopped on exit.
set -u
. tests/support/interop.sh
il_init elixir
il_need elixir erl timeout
il_built "$B/bin/ember-epmd" "$B/examples/kv"
il_cc "$tmp/pg_node" tests/interop/pg_node.c
il_port_mapper

k="kvx@$H"
start_bg kv timeout 120 "$B/examples/kv" -sname "$k" -setcookie $C
wait_until grep -q "ready" "$tmp/kv.out" || { bad "kv did not start"; cat "$tmp/kv.err"; }
g="pgx@$H"
start_bg pg timeout 120 "$tmp/pg_node" -sname "$g" -setcookie $C
wait_until grep -q "ready" "$tmp/pg.out" || { bad "pg_node did not start"; cat "$tmp/pg.err"; }

timeout 90 elixir --sname "exc@$H" --cookie $C --erl "-start_epmd false" \
    tests/interop/elixir_client.exs "$k" "$g" >"$tmp/ex.out" 2>&1
grep "^ok: " "$tmp/ex.out" | sed "s/^/elixir.sh: /"
grep "^FAIL" "$tmp/ex.out" | sed "s/^/elixir.sh: /" | grep -q . && { grep "^FAIL" "$tmp/ex.out" | sed "s/^/elixir.sh: /"; fail=1; }
grep -q "^checks done" "$tmp/ex.out" || { bad "the Elixir checks did not finish:"; cat "$tmp/ex.out"; }
wait_until registered kvx || bad "kv is gone"
[ $fail = 0 ] && note "passed" || note "FAILED"
exit $fail
