#!/bin/sh
# Interop: a C supervision tree (tests/interop/sup_node.c: include/ember/
# sup.h) driven from a real erl 25 with OTP's own supervisor functions
# (tests/interop/sup_helper.erl): which_children and count_children answer
# as an OTP supervisor does, a nested supervisor answers by pid, a child
# killed from Erlang is restarted and serves, terminate_child /
# restart_child / delete_child, start_child with an Erlang spec refused,
# and too many restarts shut the supervisor down (the Erlang monitor's
# DOWN says shutdown, and the C node sees it end and exits 0, with no
# sanitizer report in a sanitizer build).
# A private ember-epmd on a private port, unique node names, every wait
# bounded, everything started stopped on exit.  B = build dir.
set -u
B=${B:-build}
fail=0
pids=""
tmp=$(mktemp -d /tmp/ember-sup-interop.XXXXXX)
note() { echo "sup.sh: $*"; }
bad() { echo "sup.sh: FAIL: $*"; fail=1; }

for t in erl erlc timeout cc; do
    command -v $t >/dev/null 2>&1 || { echo "sup.sh: $t not found"; exit 1; }
done
for f in "$B/bin/ember-epmd" "$B/lib/libember.a"; do
    [ -e "$f" ] || { echo "sup.sh: $f not built"; exit 1; }
done

cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do
        n=0
        while kill -0 "$p" 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
        kill -9 "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

SAN=""
case "$B" in *asan*) SAN="-fsanitize=address,undefined";; *tsan*) SAN="-fsanitize=thread";; esac
cc -std=c11 -D_GNU_SOURCE -O1 -g $SAN -Iinclude -o "$tmp/sup_node" tests/interop/sup_node.c \
    "$B/lib/libember.a" -lpthread -lm || { echo "sup.sh: cannot build sup_node"; exit 1; }
erlc -o "$tmp" tests/interop/sup_helper.erl || { echo "sup.sh: erlc failed"; exit 1; }

answers() { timeout 5 "$B/bin/ember-epmd" -port "$1" -names >/dev/null 2>&1; }
P=""
for i in 1 2 3 4 5 6 7 8; do
    c=$((15000 + ($$ * 19 + i * 1013) % 9000))
    answers $c || { P=$c; break; }
done
[ -n "$P" ] || { echo "sup.sh: no free port"; exit 1; }
ERL_EPMD_PORT=$P
ERL_CRASH_DUMP=$tmp/erl_crash.dump
export ERL_EPMD_PORT ERL_CRASH_DUMP
H=$(hostname -s)
C=embertest
N="supc$$"

"$B/bin/ember-epmd" -port "$P" >"$tmp/epmd.out" 2>&1 &
pids="$pids $!"
n=0
until answers "$P"; do
    n=$((n + 1)); [ $n -ge 100 ] && { bad "ember-epmd did not start"; exit 1; }
    sleep 0.1
done

timeout 120 "$tmp/sup_node" -sname "$N" -setcookie $C >"$tmp/node.out" 2>"$tmp/node.err" &
node=$!
pids="$pids $node"
n=0
until grep -q '^ready$' "$tmp/node.out" 2>/dev/null; do
    n=$((n + 1)); [ $n -ge 200 ] && { bad "sup_node did not start: $(cat "$tmp/node.err")"; exit 1; }
    sleep 0.1
done
note "sup_node $N@$H ready (port mapper on $P)"

timeout 90 erl -noshell -start_epmd false -sname "esup$$" -setcookie $C -pa "$tmp" \
    -eval "sup_helper:run('$N@$H'), halt()." >"$tmp/erl.out" 2>&1
sed 's/^/sup.sh: erl: /' "$tmp/erl.out"
grep -q '^done$' "$tmp/erl.out" || bad "the Erlang side did not finish"
grep -q '^FAIL' "$tmp/erl.out" && bad "a check on the Erlang side failed"
[ "$(grep -c '^ok: ' "$tmp/erl.out")" -eq 12 ] || bad "expected 12 checks to pass on the Erlang side"

# The C side saw its supervisor end with the same reason, and exits.
n=0
while kill -0 "$node" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
grep -q '^sup exited shutdown$' "$tmp/node.out" || bad "sup_node did not see its supervisor exit shutdown: $(cat "$tmp/node.out")"
# The reports on stderr: a child_terminated per kill, and the give-up.
[ "$(grep -c 'child_terminated: child one' "$tmp/node.err")" -ge 6 ] ||
    bad "sup_node reported fewer than 6 child_terminated for one: $(cat "$tmp/node.err")"
grep -q 'shutdown: child one (.*): reached_max_restart_intensity' "$tmp/node.err" ||
    bad "sup_node did not report reached_max_restart_intensity: $(cat "$tmp/node.err")"

if grep -Eq 'Sanitizer|runtime error|Assertion|Segmentation' "$tmp/node.err"; then
    bad "sanitizer or crash report from sup_node:"; cat "$tmp/node.err"
fi
wait "$node"
rc=$?
[ $rc -eq 0 ] || bad "sup_node exited $rc"

[ $fail -eq 0 ] && note "ok"
exit $fail
