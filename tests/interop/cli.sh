#!/bin/sh
# Interop: the `ember` command line's node commands against real OTP 25
# nodes (a private ember-epmd; erl with -start_epmd false).
#  1. ping: pong (exit 0) from a -sname and a -name erl node, with the
#     cookie from -c, from -setcookie and from the cookie file ($HOME is a
#     temporary folder holding .erlang.cookie); pang (exit 1) with one
#     stderr line naming the reason: wrong cookie, no such node,
#     unreachable (a node that accepts but never answers: stopped); no
#     port mapper here: exit 1, and no daemon left behind
#  2. names: the `name N at port P` lines of the port mapper, as
#     `epmd -names` prints them (the erl nodes are there); exit 1 and one
#     line when no port mapper answers
#  3. send: TERM reaches the process registered as NAME on the erl node
#  4. usage: no NODE, an unknown option, a -timeout that is no number:
#     exit 2 and the synopsis; `ember ping --help` and `ember help ping`:
#     exit 0
set -u
. tests/support/interop.sh
il_init cli
il_need erl timeout
il_built "$B/bin/ember-epmd" "$B/bin/ember"
E=$B/bin/ember
il_port_mapper
ERL="erl -noshell -start_epmd false"
HOME_T=$tmp/home
mkdir -p "$HOME_T"
printf 'filecookie' > "$HOME_T/.erlang.cookie"
chmod 400 "$HOME_T/.erlang.cookie"

# An erl node with a registered `sink` that writes what it gets to its log.
start_erl() { # start_erl LOG FLAG NAME COOKIE
    start_bg "$1" timeout 120 $ERL "$2" "$3" -setcookie "$4" -eval '
        register(sink, spawn(fun L() -> receive M -> io:format("got ~p~n", [M]), L() end end)),
        io:format("ready~n")'
}
start_erl es -sname clis "$C"
start_erl el -name clil@127.0.0.1 "$C"
start_erl ef -sname clif filecookie
wait_until registered clis && wait_until registered clil && wait_until registered clif ||
    die "the erl nodes did not register"
wait_until grep -q ready "$tmp/es.out" && wait_until grep -q ready "$tmp/el.out" || die "the erl nodes are not ready"

# run LABEL WANT_RC WANT_OUT WANT_ERR CMD...: exit status, stdout holding
# WANT_OUT and stderr holding WANT_ERR ("" for anything), else FAIL.
run() {
    label=$1 want=$2 out=$3 err=$4
    shift 4
    timeout 60 "$@" >"$tmp/o" 2>"$tmp/e"
    rc=$?
    if [ $rc -ne "$want" ]; then
        bad "$label: exit $rc, not $want"; cat "$tmp/o" "$tmp/e"
    elif [ -n "$out" ] && ! grep -qF -- "$out" "$tmp/o"; then
        bad "$label: no '$out' on stdout:"; cat "$tmp/o"
    elif [ -n "$err" ] && ! grep -qF -- "$err" "$tmp/e"; then
        bad "$label: no '$err' on stderr:"; cat "$tmp/e"
    elif [ $want -ne 0 ] && [ $want -ne 2 ] && [ "$(wc -l <"$tmp/e")" -ne 1 ]; then
        bad "$label: $(wc -l <"$tmp/e") stderr lines, not one:"; cat "$tmp/e"
    else
        note "ok: $label"
    fi
}

# ---- 1. ping ----
run "ping -sname node, -c" 0 pong "" "$E" ping -c "$C" "clis@$H"
run "ping -name node, -setcookie" 0 pong "" "$E" ping -setcookie "$C" clil@127.0.0.1
run "ping with the cookie file" 0 pong "" env HOME="$HOME_T" "$E" ping "clif@$H"
run "ping with an explicit -sname" 0 pong "" "$E" ping -sname pinger -c "$C" "clis@$H"
run "ping, wrong cookie: pang" 1 pang "wrong cookie" "$E" ping -c nottheone "clis@$H"
run "ping, no such node: pang" 1 pang "no such node" "$E" ping -c "$C" "nobody@$H"
run "ping -timeout" 0 pong "" "$E" ping -timeout 5000 -c "$C" "clis@$H"
run "ping, no port mapper here: exit 1" 1 "" "cannot start" env ERL_EPMD_PORT=$((P + 1)) "$E" ping -c "$C" "clis@$H"
answers $((P + 1)) && bad "ping started a port mapper on $((P + 1))"
# A node that accepts connections but never answers (stopped): unreachable.
ef=$(pgrep -f "sname clif" | head -1)
kill -STOP $(pgrep -P "$ef") "$ef" 2>/dev/null
run "ping, a node that does not answer: pang" 1 pang "unreachable" "$E" ping -timeout 2000 -c filecookie "clif@$H"
kill -CONT "$ef" $(pgrep -P "$ef") 2>/dev/null

# ---- 2. names ----
run "names lists the erl nodes" 0 "name clis at port" "" "$E" names
grep -q "^name clil at port [0-9][0-9]*$" "$tmp/o" && note "ok: names: the line format" ||
    { bad "names: no 'name clil at port N' line:"; cat "$tmp/o"; }
run "names, no port mapper" 1 "" "no port mapper" env ERL_EPMD_PORT=$((P + 1)) "$E" names

# ---- 3. send ----
run "send to {sink, Node}" 0 "" "" "$E" send -c "$C" "clis@$H" sink '{hello, [1,2,3], <<"x">>, 4.5}'
wait_until grep -q 'got {hello,\[1,2,3\],<<"x">>,4.5}' "$tmp/es.out" && note "ok: send: erl got the term" ||
    { bad "send: erl did not get the term:"; cat "$tmp/es.out"; }
run "send, wrong cookie" 1 "" "wrong cookie" "$E" send -c nope "clis@$H" sink hello
run "send, a TERM that does not parse" 1 "" "does not parse" "$E" send -c "$C" "clis@$H" sink '{a,'

# ---- 4. usage ----
run "ping without NODE" 2 "" "usage: ember ping" "$E" ping
run "an unknown option" 2 "" "unknown option" "$E" ping -x "clis@$H"
run "-timeout not a number" 2 "" "-timeout" "$E" ping -timeout soon "clis@$H"
run "send without TERM" 2 "" "usage: ember send" "$E" send "clis@$H" sink
run "ping --help" 0 "Example: ember ping" "" "$E" ping --help
run "help ping" 0 "usage: ember ping" "" "$E" help ping

[ $fail -eq 0 ] && note "all passed"
exit $fail
