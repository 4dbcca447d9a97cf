#!/bin/sh
# A node that finds no port mapper starts ember-epmd itself, looking for it
# in this order (include/ember/epmd.h, em_epmd_spawn): $EMBER_EPMD when set
# (the only candidate then), the build tree the program runs from
# (<dir>/bin for its directory and the two above), beside the executable,
# the installed $(BINDIR), then $PATH.  Checked with a copy of the receiver example in a
# scratch tree t/build/examples/ where every candidate is a wrapper script
# that notes its name and runs the real ember-epmd:
#  1. $EMBER_EPMD wins over everything else;
#  2. without it, t/build/bin/ember-epmd (the build tree);
#  3. without that, t/build/examples/ember-epmd (beside the executable);
#  4. without that, $PATH (unless an installed ember-epmd comes first: then
#     the note says so);
#  5. with none: exit 1, and the node's one log line names ember-epmd and
#     every place tried, then the example's own line with the reason;
#  6. a $EMBER_EPMD that does not exist is the only place tried.
# The auto-started daemon listens on ERL_EPMD_PORT (private) and is stopped
# after each case.  Every wait is bounded; everything started here is
# stopped on exit.  B = build directory.
set -u
B=${B:-build}
fail=0
pids=""
tmp=$(mktemp -d /tmp/ember-autostart.XXXXXX)
note() { echo "autostart.sh: $*"; }
bad() { echo "autostart.sh: FAIL: $*"; fail=1; }

for f in "$B/bin/ember-epmd" "$B/examples/receiver"; do
    [ -x "$f" ] || { echo "autostart.sh: $f not built"; exit 1; }
done
TO=$(command -v timeout) || { echo "autostart.sh: timeout not found"; exit 1; }
EE=$(cd "$(dirname "$B/bin/ember-epmd")" && pwd)/ember-epmd

answers() { "$TO" 5 "$EE" -port "$1" -names >/dev/null 2>&1; }
# Stop the daemon on port $P: -kill once no node is registered (bounded).
kill_daemon() {
    n=0
    while answers "$P"; do
        "$TO" 5 "$EE" -port "$P" -kill >/dev/null 2>&1
        n=$((n + 1)); [ $n -ge 50 ] && return 1
        sleep 0.1
    done
    return 0
}
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    [ -n "${P:-}" ] && kill_daemon
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# A private port nothing listens on.
free() {
    answers "$1" && return 1
    command -v ss >/dev/null 2>&1 || return 0
    [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}
P=""
for i in 1 2 3 4 5 6 7 8; do
    c=$((20000 + ($$ * 11 + i * 1013) % 8000))
    free $c && { P=$c; break; }
done
[ -n "$P" ] || { P=""; echo "autostart.sh: no free port"; exit 1; }
ERL_EPMD_PORT=$P
export ERL_EPMD_PORT
unset EMBER_EPMD
note "private port mapper port $P"

T=$tmp/t
mkdir -p "$T/build/examples" "$T/build/bin" "$tmp/env" "$tmp/path" "$tmp/empty"
cp "$B/examples/receiver" "$T/build/examples/receiver"
wrapper() { # wrapper FILE NAME: a candidate that notes NAME and runs the real one
    printf '#!/bin/sh\necho %s >>"%s/ran"\nexec "%s" "$@"\n' "$2" "$tmp" "$EE" >"$1"
    chmod 755 "$1"
}
wrapper "$tmp/env/ember-epmd" env
wrapper "$T/build/bin/ember-epmd" build
wrapper "$T/build/examples/ember-epmd" beside
wrapper "$tmp/path/ember-epmd" path
BASEPATH=/usr/bin:/bin

# run_case LABEL EXPECTED: no port mapper; the receiver starts one through
# the candidate named EXPECTED, registers, and is stopped with the daemon.
n_case=0
run_case() {
    n_case=$((n_case + 1))
    rm -f "$tmp/ran"
    answers "$P" && { bad "$1: a port mapper already answers on $P"; return; }
    name=auto$$x$n_case
    "$T/build/examples/receiver" -name "$name@127.0.0.1" -setcookie abc \
        >"$tmp/r.out" 2>"$tmp/r.err" &
    r=$!
    pids="$pids $r"
    n=0
    until "$TO" 5 "$EE" -port "$P" -names 2>/dev/null | grep -q "name $name at"; do
        n=$((n + 1))
        if [ $n -ge 100 ] || ! kill -0 "$r" 2>/dev/null; then
            bad "$1: the receiver did not register on $P"; cat "$tmp/r.err"; break
        fi
        sleep 0.1
    done
    kill "$r" 2>/dev/null; wait "$r" 2>/dev/null
    ran=$(cat "$tmp/ran" 2>/dev/null | tr '\n' ' ')
    if [ "$ran" = "$2 " ]; then note "ok: $1 ($2 ran)"; else bad "$1: expected '$2' to run, ran: '$ran'"; fi
    kill_daemon || bad "$1: the started daemon does not stop"
}

EMBER_EPMD=$tmp/env/ember-epmd PATH=$tmp/path:$BASEPATH run_case "\$EMBER_EPMD first" env
PATH=$tmp/path:$BASEPATH run_case "the build tree before beside and PATH" build
rm "$T/build/bin/ember-epmd"
PATH=$tmp/path:$BASEPATH run_case "beside the executable before PATH" beside
rm "$T/build/examples/ember-epmd"
# 5 first (with an empty PATH): that no candidate is left also shows that
# no installed ember-epmd would come before PATH in case 4.
out=$(PATH=$tmp/empty "$TO" 20 "$T/build/examples/receiver" -name none$$@127.0.0.1 -setcookie abc 2>&1)
rc=$?
if [ $rc = 0 ] || answers "$P"; then
    # An installed ember-epmd exists and was started: the PATH step and the
    # not-found case can not be exercised on this machine.
    note "an installed ember-epmd answered before PATH; PATH and not-found cases not checkable here: $out"
    kill_daemon
else
    PATH=$tmp/path:$BASEPATH run_case "PATH last" path
    rm "$tmp/path/ember-epmd"
    # 5. none anywhere.
    [ "$rc" = 1 ] && note "ok: exit 1 when none is found" || bad "exit $rc when none is found"
    printf '%s\n' "$out" >"$tmp/none.out"
    lines=$(grep -c . "$tmp/none.out")
    [ "$lines" = 2 ] && note "ok: two lines (the node's, the example's)" || { bad "expected 2 lines:"; cat "$tmp/none.out"; }
    line=$(grep "cannot start a port mapper" "$tmp/none.out")
    for want in "=ember dist none$$@127.0.0.1= cannot start a port mapper: ember-epmd not found in: " \
                "$T/build/examples/bin/ember-epmd, $T/build/bin/ember-epmd, $T/bin/ember-epmd, $T/build/examples/ember-epmd, " \
                "$T/build/examples/ember-epmd, /*/ember-epmd, \$PATH ($tmp/empty)"; do
        # (the installed tree, built in, is the /*/ one before $PATH)
        case "$line" in
            *$want*) note "ok: the log line has '$want'" ;;
            *) bad "the log line lacks '$want': $line" ;;
        esac
    done
    grep -qx "receiver: cannot start node none$$@127.0.0.1: no port mapper answers and ember-epmd could not be started" "$tmp/none.out" &&
        note "ok: the example prints the reason" || { bad "the example's line:"; cat "$tmp/none.out"; }
fi

# 6. A $EMBER_EPMD that does not exist is the only place tried.
out=$(EMBER_EPMD=$tmp/nothing PATH=$tmp/path:$BASEPATH "$TO" 20 "$T/build/examples/receiver" \
    -name none$$@127.0.0.1 -setcookie abc 2>&1)
rc=$?
case "$out" in
    *"cannot start a port mapper: ember-epmd not found in: $tmp/nothing (\$EMBER_EPMD)
receiver: cannot start node"*) [ $rc = 1 ] && note "ok: a wrong \$EMBER_EPMD is reported alone" ||
        bad "exit $rc for a wrong \$EMBER_EPMD" ;;
    *) bad "a wrong \$EMBER_EPMD: $out" ;;
esac
answers "$P" && bad "something answers on $P after the failed starts"

[ $fail = 0 ] && note "all passed"
exit $fail
