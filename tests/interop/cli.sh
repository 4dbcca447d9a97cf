#!/bin/sh
# Interop: the `ember` command line's node commands against real OTP 25
# nodes (a private ember-epmd; erl with -start_epmd false) and an ember
# node (the receiver example).  The erl nodes run tests/interop/cli_helper.erl
# (a registered gen_server srv, functions to rpc, and the oracle: what
# rpc:call itself returns for each rpc case).
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
#  5. call: gen_server:call of srv on -sname and -name nodes, the cookie
#     from -c, -setcookie and the cookie file: the reply as ~p (exit 0);
#     exit 1, nothing on stdout and one stderr line for noproc (on an erl
#     node and on the ember node), a timeout, the server's exit during the
#     call, a wrong cookie, no such node, a REQUEST that does not parse
#  6. rpc: for a value, undef, an error (of a function, of a BIF), an exit,
#     a throw (a value, exit 0), a throw and a return of {'EXIT', _}, a
#     killed process, a timeout, a node nobody runs, 256 arguments: stdout
#     exactly what rpc:call returns (the oracle), exit 0 for a value, else
#     exit 1 with one stderr line; the node halted during the call, a wrong
#     cookie: {badrpc,nodedown}; -name node, the cookie file, io:format
#     output of the function; rpc of the ember node's erlang:node/0; ARGS
#     that is no list or does not parse
#  7. eval: a value, several expressions (bindings seen by the next), with
#     and without the final '.', from stdin, io:format output, on -name and
#     -sname nodes and with the cookie file; exit 1 and one stderr line for
#     a syntax error (line and column), an incomplete text, an exception,
#     and an ember node (which cannot evaluate Erlang)
#  8. usage of call, rpc and eval (exit 2), and their help (exit 0)
#  9. every command against examples/kv.c (an ember node), with the cookie
#     from -c and from the cookie file: ping (pong; pang for a wrong
#     cookie), names (kv listed), send (a raw '$gen_cast' that kv's server
#     acts on, seen by the next call), call {put,K,V} / {get,K}, rpc of
#     kv's exports (a value; fetch of a missing key: {badrpc,_}, exit 1),
#     eval (exit 1: an ember node evaluates no Erlang)
set -u
. tests/support/interop.sh
il_init cli
il_need erl erlc timeout
il_built "$B/bin/ember-epmd" "$B/bin/ember" "$B/examples/receiver" "$B/examples/kv"
E=$B/bin/ember
erlc -o "$tmp" tests/interop/cli_helper.erl || die "erlc failed"
il_port_mapper
ERL="erl -noshell -start_epmd false -pa $tmp"
HOME_T=$tmp/home
mkdir -p "$HOME_T"
printf 'filecookie' > "$HOME_T/.erlang.cookie"
chmod 400 "$HOME_T/.erlang.cookie"

# An erl node with a registered `sink` that writes what it gets to its log,
# and cli_helper's srv.
start_erl() { # start_erl LOG FLAG NAME COOKIE
    start_bg "$1" timeout 300 $ERL "$2" "$3" -setcookie "$4" -eval '
        register(sink, spawn(fun L() -> receive M -> io:format("got ~p~n", [M]), L() end end)),
        cli_helper:start(),
        io:format("ready~n")'
}
start_erl es -sname clis "$C"
start_erl el -name clil@127.0.0.1 "$C"
start_erl ef -sname clif filecookie
start_erl ez -sname cliz "$C" # halted by an rpc (6)
start_bg recv timeout 300 "$B/examples/receiver" -sname clie -setcookie "$C"
start_bg kv timeout 300 "$B/examples/kv" -sname clikv -setcookie "$C"
start_bg kvf timeout 300 env HOME="$HOME_T" "$B/examples/kv" -sname clikvf
for n in clis clil clif cliz clie clikv clikvf; do
    wait_until registered $n || die "$n did not register"
done
for n in es el ef ez; do
    wait_until grep -q ready "$tmp/$n.out" || die "the erl node of $n.out is not ready"
done

# run LABEL WANT_RC WANT_OUT WANT_ERR CMD...: exit status, stdout holding
# WANT_OUT and stderr holding WANT_ERR ("" for anything), else FAIL.
# WANT_OUT "=TEXT": stdout is exactly the line TEXT; "=": stdout is empty.
run() {
    label=$1 want=$2 out=$3 err=$4
    shift 4
    timeout 60 "$@" >"$tmp/o" 2>"$tmp/e"
    rc=$?
    case "$out" in
    =*) printf '%s' "${out#=}" >"$tmp/want"; [ -n "${out#=}" ] && echo >>"$tmp/want" ;;
    esac
    if [ $rc -ne "$want" ]; then
        bad "$label: exit $rc, not $want"; cat "$tmp/o" "$tmp/e"
    elif [ "${out#=}" != "$out" ] && ! cmp -s "$tmp/want" "$tmp/o"; then
        bad "$label: stdout is not exactly '${out#=}':"; cat "$tmp/o"
    elif [ "${out#=}" = "$out" ] && [ -n "$out" ] && ! grep -qF -- "$out" "$tmp/o"; then
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

# ---- 5. call ----
run "call -sname node, -c" 0 '={a,[1,2],"s",<<"b">>,3.5}' "" "$E" call -c "$C" "clis@$H" srv '{echo, {a, [1,2], "s", <<"b">>, 3.5}}'
run "call -name node, -setcookie" 0 "=ok" "" "$E" call -setcookie "$C" clil@127.0.0.1 srv '{echo, ok}'
run "call with the cookie file" 0 "=[x]" "" env HOME="$HOME_T" "$E" call "clif@$H" srv '{echo, [x]}'
run "call with an explicit -name" 0 "=42" "" "$E" call -name caller@127.0.0.1 -c "$C" clil@127.0.0.1 srv '{echo, 42}'
run "call: noproc" 1 "=" "noproc" "$E" call -c "$C" "clis@$H" nobody '{echo, 1}'
run "call: noproc on an ember node" 1 "=" "noproc" "$E" call -c "$C" "clie@$H" nobody hello
run "call: wrong cookie" 1 "=" "wrong cookie" "$E" call -c nope "clis@$H" srv '{echo, 1}'
run "call: no such node" 1 "=" "no such node" "$E" call -c "$C" "nobody@$H" srv '{echo, 1}'
run "call: REQUEST does not parse" 1 "=" "REQUEST does not parse" "$E" call -c "$C" "clis@$H" srv '{echo,'
run "call: timeout" 1 "=" "timeout" "$E" call -timeout 300 -c "$C" "clil@127.0.0.1" srv '{sleep, 1500}'
run "call: the server exits during the call" 1 "=" "exited during the call: died" "$E" call -c "$C" "clis@$H" srv die
run "rpc: srv started again" 0 "=ok" "" "$E" rpc -c "$C" "clis@$H" cli_helper start
run "call: srv answers again" 0 "=again" "" "$E" call -c "$C" "clis@$H" srv '{echo, again}'

# ---- 6. rpc: what rpc:call returns (the oracle, from another erl node) ----
timeout 60 $ERL -sname clio -setcookie "$C" \
    -eval "cli_helper:oracle('clis@$H', 'nobody@$H', \"$tmp/oracle\"), halt()." >"$tmp/oracle.log" 2>&1 ||
    { bad "the oracle failed:"; cat "$tmp/oracle.log"; }
# rpc_case LABEL WANT_RC ERR NODE MOD FUN [ARGS]: stdout is the oracle's
# line LABEL.
rpc_case() {
    label=$1 want=$2 err=$3
    shift 3
    line=$(grep "^$label	" "$tmp/oracle" | cut -f2-)
    [ -n "$line" ] || { bad "rpc $label: no oracle line"; return; }
    run "rpc $label: $line" "$want" "=$line" "$err" "$E" rpc -c "$C" "$@"
}
rpc_case value 0 "" "clis@$H" lists seq '[1, 5]'
rpc_case undef 1 "nosuch:f/0 is undefined" "clis@$H" nosuch f
rpc_case undef_args 1 "cli_helper:nosuch/2 is undefined" "clis@$H" cli_helper nosuch '[1, "two"]'
rpc_case error 1 "raised an exception: error:{bad,thing}" "clis@$H" cli_helper boom '[{bad, thing}]'
rpc_case error_bif 1 "error:boom" "clis@$H" erlang error '[boom]'
rpc_case badarith 1 "error:badarith" "clis@$H" erlang / '[1, 0]'
rpc_case exit 1 "exit:bye" "clis@$H" cli_helper ex '[bye]'
rpc_case throw 0 "" "clis@$H" cli_helper th '[ball]'
rpc_case throw_exit 1 "threw an {'EXIT', _}" "clis@$H" cli_helper th "[{'EXIT', x}]"
rpc_case exit_value 1 "returned an {'EXIT', _}" "clis@$H" cli_helper exit_value '[]'
rpc_case signal 1 "exit signal: killed" "clis@$H" cli_helper signal
rpc_case timeout 1 "timeout" -timeout 500 "clis@$H" cli_helper slow '[3000]'
rpc_case nodedown 1 "no such node" "nobody@$H" erlang node
rpc_case args256 1 "erlang:node/256 is undefined" "clis@$H" erlang node "[$(seq -s, 1 256)]"
run "rpc: wrong cookie" 1 "={badrpc,nodedown}" "wrong cookie" "$E" rpc -c nope "clis@$H" erlang node
run "rpc: the node halted during the call" 1 "={badrpc,nodedown}" "nodedown" "$E" rpc -c "$C" "cliz@$H" erlang halt
run "rpc -name node, -setcookie" 0 "='clil@127.0.0.1'" "" "$E" rpc -setcookie "$C" clil@127.0.0.1 erlang node '[]'
run "rpc with the cookie file" 0 "=clif@$H" "" env HOME="$HOME_T" "$E" rpc "clif@$H" erlang node
run "rpc: the ember node's erlang:node/0" 0 "=clie@$H" "" "$E" rpc -c "$C" "clie@$H" erlang node
run "rpc: io:format output comes here" 0 "said hello" "" "$E" rpc -c "$C" "clis@$H" cli_helper say '[hello]'
[ "$(tail -1 "$tmp/o")" = hello ] && note "ok: rpc: the value after the output" ||
    { bad "rpc: no value after the output:"; cat "$tmp/o"; }
run "rpc: ARGS not a list" 1 "=" "ARGS is not a list" "$E" rpc -c "$C" "clis@$H" erlang node '{a}'
run "rpc: ARGS does not parse" 1 "=" "ARGS does not parse" "$E" rpc -c "$C" "clis@$H" erlang node '[a,'

# ---- 7. eval ----
run "eval: a value" 0 "=3" "" "$E" eval -c "$C" "clis@$H" '1 + 2'
run "eval: expressions" 0 "=42" "" "$E" eval -c "$C" "clis@$H" 'X = 6, Y = 7, X * Y.'
run "eval: a term" 0 '={6,"six",<<"6">>}' "" "$E" eval -c "$C" "clis@$H" '{ok, N} = {ok, 6}, {N, "six", integer_to_binary(N)}'
printf 'A = 3,\nB = A * 2,\n{A, B}.\n' >"$tmp/exprs"
run "eval: from stdin" 0 "={3,6}" "" sh -c "\"$E\" eval -c $C clis@$H - <\"$tmp/exprs\""
run "eval: io:format output comes here" 0 "hi there" "" "$E" eval -c "$C" "clis@$H" 'io:format("hi ~p~n", [there]), done'
[ "$(tail -1 "$tmp/o")" = done ] && note "ok: eval: the value after the output" ||
    { bad "eval: no value after the output:"; cat "$tmp/o"; }
run "eval -name node, -setcookie" 0 "='clil@127.0.0.1'" "" "$E" eval -setcookie "$C" clil@127.0.0.1 'node()'
run "eval with the cookie file" 0 "=clif@$H" "" env HOME="$HOME_T" "$E" eval "clif@$H" 'node().'
run "eval: a syntax error" 1 "=" "at line 1, column 4: syntax error before: '*'" "$E" eval -c "$C" "clis@$H" '1 +* 2'
run "eval: a syntax error on line 2" 1 "=" "at line 2, column 6: syntax error before: ')'" "$E" eval -c "$C" "clis@$H" 'X = 1,
f(), ) + X'
run "eval: an incomplete text" 1 "=" "end too early" "$E" eval -c "$C" "clis@$H" 'lists:seq(1,'
run "eval: an unterminated string" 1 "=" "unterminated string" "$E" eval -c "$C" "clis@$H" '"abc'
run "eval: an exception" 1 "=" "exception error: badarith" "$E" eval -c "$C" "clis@$H" 'X = 0, 1 / X'
run "eval: an undefined function" 1 "=" "nosuch:f/0 is undefined" "$E" eval -c "$C" "clis@$H" 'nosuch:f()'
run "eval: an ember node" 1 "=" "cannot evaluate Erlang" "$E" eval -c "$C" "clie@$H" '1 + 2'
run "eval: wrong cookie" 1 "=" "wrong cookie" "$E" eval -c nope "clis@$H" '1'
run "eval: timeout" 1 "=" "timeout" "$E" eval -timeout 500 -c "$C" "clis@$H" 'timer:sleep(3000)'

# ---- 8. usage and help of call, rpc, eval ----
run "call without REQUEST" 2 "" "usage: ember call" "$E" call "clis@$H" srv
run "rpc without FUN" 2 "" "usage: ember rpc" "$E" rpc "clis@$H" erlang
run "rpc with too many arguments" 2 "" "usage: ember rpc" "$E" rpc "clis@$H" erlang node '[]' extra
run "eval without EXPRS" 2 "" "usage: ember eval" "$E" eval "clis@$H"

run "eval: an unknown option" 2 "" "unknown option" "$E" eval -x "clis@$H" 1
run "call: -timeout 0" 2 "" "-timeout" "$E" call -timeout 0 "clis@$H" srv x
run "ember --help lists call" 0 "call [OPTS] NODE NAME REQUEST" "" "$E" --help
cp "$tmp/o" "$tmp/help"
for cmd in call rpc eval; do
    grep -q "^  $cmd " "$tmp/help" && note "ok: ember --help lists $cmd" || bad "ember --help does not list $cmd"
    run "$cmd --help" 0 "Example: ember $cmd" "" "$E" $cmd --help
    run "help $cmd" 0 "usage: ember $cmd" "" "$E" help $cmd
done

# ---- 9. against kv (examples/kv.c) ----
K="clikv@$H"
KF="clikvf@$H"
run "kv: ping, -c" 0 "=pong" "" "$E" ping -c "$C" "$K"
run "kv: ping with the cookie file" 0 "=pong" "" env HOME="$HOME_T" "$E" ping "$KF"
run "kv: ping, wrong cookie: pang" 1 "=pang" "wrong cookie" "$E" ping -c nope "$K"
run "kv: names lists kv" 0 "name clikv at port" "" "$E" names
run "kv: call put" 0 "=ok" "" "$E" call -c "$C" "$K" kv '{put, a, [1, "two", <<3>>]}'
run "kv: call get" 0 '={ok,[1,"two",<<3>>]}' "" "$E" call -c "$C" "$K" kv '{get, a}'
run "kv: rpc kv:get" 0 '={ok,[1,"two",<<3>>]}' "" "$E" rpc -c "$C" "$K" kv get '[a]'
run "kv: rpc kv:fetch of a missing key" 1 "={badrpc,{'EXIT',{{badkey,zz},[{kv,fetch,1,[]}]}}}" "" "$E" rpc -c "$C" "$K" kv fetch '[zz]'
run "kv: send a '\$gen_cast'" 0 "=" "" "$E" send -c "$C" "$K" kv "{'\$gen_cast', {delete, a}}"
IL_WAIT=50 wait_until sh -c "\"$E\" call -c $C $K kv '{get, a}' | grep -qx error" &&
    note "ok: kv: the sent cast took effect" || bad "kv: the sent cast did not take effect"
run "kv: call with the cookie file" 0 "=ok" "" env HOME="$HOME_T" "$E" call "$KF" kv '{put, b, 2}'
run "kv: rpc with the cookie file" 0 "={ok,2}" "" env HOME="$HOME_T" "$E" rpc "$KF" kv get '[b]'
run "kv: eval" 1 "=" "cannot evaluate Erlang" "$E" eval -c "$C" "$K" '1 + 2'

[ $fail -eq 0 ] && note "all passed"
exit $fail
