#!/bin/sh
# examples/demo.sh (`make demo`): the seed, in C.  Starts a port mapper if
# none answers (and stops it again), runs the receiver as node2@localhost
# and the sender as node1@localhost with cookie abc, shows both outputs and
# leaves nothing running.  B = build directory.
set -u
B=${B:-build}
port=${ERL_EPMD_PORT:-4369}
export ERL_EPMD_PORT=$port
tmp=$(mktemp -d /tmp/ember-demo.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

if ! timeout 5 "$B/bin/ember-epmd" -port "$port" -names >/dev/null 2>&1; then
    echo "demo: starting a port mapper on port $port"
    "$B/bin/ember-epmd" -port "$port" >"$tmp/epmd.log" 2>&1 &
    pids="$pids $!"
    n=0
    until timeout 5 "$B/bin/ember-epmd" -port "$port" -names >/dev/null 2>&1; do
        n=$((n + 1)); [ $n -ge 50 ] && { echo "demo: port mapper did not start"; exit 1; }
        sleep 0.1
    done
fi

echo "\$ receiver -name node2@localhost -setcookie abc &"
timeout 60 "$B/examples/receiver" -name node2@localhost -setcookie abc >"$tmp/receiver.out" 2>&1 &
pids="$pids $!"
n=0
until timeout 5 "$B/bin/ember-epmd" -port "$port" -names 2>/dev/null | grep -q "name node2 at"; do
    n=$((n + 1)); [ $n -ge 50 ] && { echo "demo: receiver did not register"; cat "$tmp/receiver.out"; exit 1; }
    sleep 0.1
done
echo "\$ sender -name node1@localhost -setcookie abc node2@localhost"
timeout 20 "$B/examples/sender" -name node1@localhost -setcookie abc node2@localhost
rc=$?
sleep 0.2
echo "--- receiver's output:"
cat "$tmp/receiver.out"
exit $rc
