#!/bin/sh
# The README's by-hand commands work as written, so that README.md cannot
# drift from what the programs do.  Every fenced block that README.md marks
# with `<!-- readme.sh: background -->` or `<!-- readme.sh: foreground -->`
# is taken from README.md and run in order, its command lines verbatim
# (`sh` in a directory that looks like a clone after `make`: build/ is $B,
# examples/ the repository's); lines starting with `# ` are what the command
# prints, and must appear in its output.
#  - background (a terminal 1: runs until stopped): started, and waited for
#    until its node is registered (and, for erl, until its -eval has run);
#    stopped as by Ctrl-C (TERM) after the next foreground block ended, and
#    its lines are then checked;
#  - foreground (a terminal 2): run to its end (bounded), exit status 0.
# At first no port mapper answers: the README's first node must start one
# by itself, and it is checked to be the build tree's ember-epmd, started as
# a daemon on the private port.  All of it runs with ERL_EPMD_PORT set to a
# private free port (ember nodes, ember-epmd and erl all honour it), so it
# never touches 4369 and other runs; the README's own last block stops the
# port mapper, and the test checks that it is gone.
# The README must keep the seed in C and both mixed runs with real erl
# (checked).  Every wait is bounded; everything started is stopped on exit.
# B = build directory.
set -u
B=${B:-build}
fail=0
tmp=$(mktemp -d /tmp/ember-readme.XXXXXX)
note() { echo "readme.sh: $*"; }
bad() { echo "readme.sh: FAIL: $*"; fail=1; }

for t in erl erlc timeout pgrep setsid; do
    command -v $t >/dev/null 2>&1 || { echo "readme.sh: $t not found"; exit 1; }
done
for f in "$B/bin/ember-epmd" "$B/examples/receiver" "$B/examples/sender"; do
    [ -x "$f" ] || { echo "readme.sh: $f not built"; exit 1; }
done
ROOT=$(pwd)
BABS=$(cd "$B" && pwd)
EE=$BABS/bin/ember-epmd

answers() { timeout 5 "$EE" -port "$1" -names >/dev/null 2>&1; }
# The daemon a node started on port $P (its command line is em_epmd_spawn's).
daemon_pid() { pgrep -f "^[^ ]*ember-epmd -daemon -port $P\$" | head -n 1; }
# killpg SIG PGID: the background block's process group (dash's kill
# builtin takes no negative pid: /bin/kill's does).
killpg() { env kill "-$1" -- "-$2" 2>/dev/null; }
bg=""
cleanup() {
    [ -n "$bg" ] && { killpg KILL "$bg"; wait "$bg" 2>/dev/null; }
    if [ -n "${P:-}" ]; then
        n=0
        while answers "$P" && [ $n -lt 30 ]; do
            timeout 5 "$EE" -port "$P" -kill >/dev/null 2>&1; sleep 0.1; n=$((n + 1))
        done
        d=$(daemon_pid)
        [ -n "$d" ] && kill "$d" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# ---- the blocks, from README.md ----
mkdir -p "$tmp/blocks"
awk -v dir="$tmp/blocks" '
    /^<!-- readme\.sh: (background|foreground) -->$/ {
        kind = $3; want_fence = 1; next
    }
    want_fence {
        want_fence = 0
        if ($0 != "```sh") { print "marker not followed by ```sh at line " NR > "/dev/stderr"; bad = 1; next }
        n++; f = sprintf("%s/%02d.%s", dir, n, kind); in_block = 1; printf "" > f; next
    }
    in_block && /^```$/ { in_block = 0; close(f); next }
    in_block { print > f }
    END { exit bad }
' README.md || { bad "README.md: a marked block is malformed"; exit 1; }
blocks=$(ls "$tmp/blocks")
[ -n "$blocks" ] || { bad "README.md has no readme.sh blocks"; exit 1; }
# The README keeps the seed in C and both mixed runs.
all=$(cat "$tmp"/blocks/*)
for want in "build/examples/receiver -name node2@localhost" "build/examples/sender -name node1@localhost" \
            "erl -sname node2" "receiver:start()" "erl -name node1@127.0.0.1" "sender:send(" \
            "build/examples/receiver -name node2@127.0.0.1" "build/examples/sender -sname node1"; do
    case "$all" in *"$want"*) ;; *) bad "README.md's blocks lack '$want'" ;; esac
done

# ---- a private port nothing listens on, and a clone-like directory ----
P=""
for i in 1 2 3 4 5 6 7 8; do
    c=$((20000 + ($$ * 17 + i * 1019) % 8000))
    answers $c && continue
    if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Hltn "sport = :$c" 2>/dev/null)" ]; then
        continue
    fi
    P=$c; break
done
[ -n "$P" ] || { echo "readme.sh: no free port"; exit 1; }
ERL_EPMD_PORT=$P
export ERL_EPMD_PORT
unset EMBER_EPMD
# A failing erl must not leave erl_crash.dump files behind.
ERL_CRASH_DUMP_SECONDS=0
export ERL_CRASH_DUMP_SECONDS
W=$tmp/clone
mkdir -p "$W"
ln -s "$BABS" "$W/build"
ln -s "$ROOT/examples" "$W/examples"
note "ERL_EPMD_PORT=$P, commands run in a clone-like $W (build -> $B)"
if answers "$P"; then bad "a port mapper answers on $P before the first command"; exit 1; fi

# expect FILE BLOCK LABEL: every "# " line of BLOCK is a line of FILE.
expect() {
    grep '^# ' "$2" | sed 's/^# //' >"$tmp/want"
    while IFS= read -r line; do
        if grep -qxF -- "$line" "$1"; then note "ok: $3 printed: $line"
        else bad "$3 did not print '$line'; its output:"; cat "$1"; fi
    done <"$tmp/want"
}
# The node name in a command (after -name or -sname) and its kind.
node_of() { # node_of CMD -> "kind name"
    set -f; set -- $1; set +f
    while [ $# -gt 1 ]; do
        case "$1" in -name|-sname) echo "$1 $2"; return;; esac
        shift
    done
}
registered() { timeout 5 "$EE" -port "$P" -names 2>/dev/null | grep -q "name $1 at"; }
wait_until() { # wait_until TRIES CMD...: 0.1 s apart
    tries=$1; shift; n=0
    while ! "$@" >/dev/null 2>&1; do
        n=$((n + 1)); [ $n -ge "$tries" ] && return 1
        sleep 0.1
    done
}
# An erl node's -eval has run once init's status is started: asked by a
# hidden probe node.
erl_ready() { # erl_ready KIND NAME COOKIE
    case "$1" in
        -sname) node="${2%@*}@$(hostname -s)"; me="-sname probe$$" ;;
        *) node=$2; me="-name probe$$@${2#*@}" ;;
    esac
    timeout 30 erl -noshell -hidden $me -setcookie "$3" -eval "
        W = fun W(0) -> halt(1);
                W(N) -> case rpc:call('$node', init, get_status, [], 2000) of
                            {started, _} -> halt(0);
                            _ -> timer:sleep(100), W(N - 1)
                        end
            end,
        W(200)." >/dev/null 2>&1
}

first=1
bgblock=""
stop_bg() {
    [ -n "$bg" ] || return 0
    sleep 0.3 # what it prints on the last message
    killpg TERM "$bg"
    n=0
    while killpg 0 "$bg" && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    killpg KILL "$bg"; wait "$bg" 2>/dev/null
    expect "$tmp/bg.out" "$bgblock" "terminal 1 ($(head -n 1 "$tmp/bg.cmd"))"
    bg=""
}
for b in $blocks; do
    f=$tmp/blocks/$b
    grep -v '^#' "$f" | grep -v '^[[:space:]]*$' >"$tmp/cmd.$b"
    cmd=$(cat "$tmp/cmd.$b")
    case "$b" in
    *.background)
        stop_bg
        cp "$tmp/cmd.$b" "$tmp/bg.cmd"
        bgblock=$f
        # Its own process group (setsid: a background job is no group
        # leader, so it does not fork), stopped as a whole as Ctrl-C does.
        (cd "$W" && exec setsid sh "$tmp/cmd.$b") >"$tmp/bg.out" 2>&1 &
        bg=$!
        set -- $(node_of "$cmd")
        [ $# = 2 ] || { bad "no -name/-sname in '$cmd'"; continue; }
        kind=$1; name=$2
        if ! wait_until 200 registered "${name%@*}"; then
            bad "'$cmd' did not register ${name%@*} within 20 s; its output:"; cat "$tmp/bg.out"; continue
        fi
        note "ok: '$cmd' is up"
        if [ $first = 1 ]; then
            first=0
            # Nothing answered before; now the build tree's ember-epmd does,
            # started by that node as a daemon on the private port.
            d=$(daemon_pid)
            exe=$(readlink "/proc/$d/exe" 2>/dev/null)
            if [ -n "$d" ] && [ "$exe" = "$EE" ]; then
                note "ok: the first node started $exe -daemon -port $P"
            else
                bad "no ember-epmd daemon of the build tree on $P (pid '$d', exe '$exe')"
            fi
        fi
        case "$cmd" in
            erl\ *) cookie=$(echo "$cmd" | sed -n 's/.*-setcookie \([^ ]*\).*/\1/p')
                    erl_ready "$kind" "$name" "$cookie" || bad "'$cmd' did not finish starting" ;;
        esac
        ;;
    *.foreground)
        (cd "$W" && timeout 60 sh "$tmp/cmd.$b") >"$tmp/fg.out" 2>&1
        rc=$?
        if [ $rc = 0 ]; then note "ok: '$cmd' exited 0"; else bad "'$cmd' exited $rc; its output:"; cat "$tmp/fg.out"; fi
        expect "$tmp/fg.out" "$f" "'$cmd'"
        stop_bg
        ;;
    esac
done
stop_bg
# The README's last block stopped the port mapper.
if answers "$P" || [ -n "$(daemon_pid)" ]; then bad "the port mapper still runs on $P"
else note "ok: no port mapper left on $P"; fi

[ $fail = 0 ] && note "all passed"
exit $fail
