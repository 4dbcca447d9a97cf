# tests/support/interop.sh: what the interop scripts (tests/interop/*.sh)
# share.  Sourced, not run:
#
#     . tests/support/interop.sh
#     il_init dist                        # messages say "dist.sh: ..."
#     il_need erl erlc timeout cc         # tools that must be on PATH
#     il_built "$B/bin/ember-epmd" ...    # files the build must have made
#     il_cc "$tmp/peer" tests/interop/peer.c
#     il_port_mapper                      # a private ember-epmd on $P
#
# il_init sets B (default build), fail=0, pids (what cleanup stops), tmp
# (a fresh folder, removed on exit), H (the short host name), C (the
# cookie the scripts use) and the exit trap; a script may define
# il_cleanup_hook, which cleanup calls first.  Every helper bounds its
# waits.  POSIX sh.

il_init() { # il_init NAME
    IL_NAME=$1
    B=${B:-build}
    fail=0
    pids=""
    last=""
    tmp=$(mktemp -d "/tmp/ember-$1-interop.XXXXXX") || exit 1
    H=$(hostname -s)
    C=embertest
    # A crashing erl writes its dump here, never into the tree.
    ERL_CRASH_DUMP=$tmp/erl_crash.dump
    export ERL_CRASH_DUMP
    # The sanitizer a build was made with: $B ending in asan or tsan.
    IL_SAN=""
    IL_SANFLAGS=""
    case "$B" in
    *asan) IL_SAN=asan IL_SANFLAGS="-fsanitize=address,undefined" ;;
    *tsan) IL_SAN=tsan IL_SANFLAGS="-fsanitize=thread" ;;
    esac
    trap il_cleanup EXIT INT TERM
}

note() { echo "$IL_NAME.sh: $*"; }
bad() { echo "$IL_NAME.sh: FAIL: $*"; fail=1; }
# die MSG: the script cannot go on (exit 1; cleanup runs).
die() { echo "$IL_NAME.sh: $*"; exit 1; }

il_need() { # il_need TOOL...
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || die "$t not found"
    done
}
il_built() { # il_built FILE...
    for f in "$@"; do
        [ -e "$f" ] || die "$f not built"
    done
}

# Stop everything started with start_bg: TERM (after CONT, for a process a
# test froze), up to 3 s for it to go, then KILL; then the temporary folder.
il_cleanup() {
    command -v il_cleanup_hook >/dev/null 2>&1 && il_cleanup_hook
    for p in $pids; do
        kill -CONT "$p" 2>/dev/null
        pkill -CONT -P "$p" 2>/dev/null
        pkill -P "$p" 2>/dev/null
        kill "$p" 2>/dev/null
    done
    n=0
    while [ $n -lt 30 ]; do
        alive=""
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        [ -z "$alive" ] && break
        sleep 0.1
        n=$((n + 1))
    done
    for p in $pids; do pkill -9 -P "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}

# il_cc OUT SRC...: a C program against the build's libember.a, with the
# build's sanitizer.
il_cc() {
    out=$1
    shift
    cc -std=c11 -D_GNU_SOURCE -O1 -g $IL_SANFLAGS -Iinclude -o "$out" "$@" \
        "$B/lib/libember.a" -lpthread -lm || die "cannot build $out"
}

# start_bg LOG CMD...: CMD in the background, stdout in $tmp/LOG.out and
# stderr in $tmp/LOG.err; $last is its pid (stopped at exit).
start_bg() {
    log=$1
    shift
    "$@" >"$tmp/$log.out" 2>"$tmp/$log.err" &
    last=$!
    pids="$pids $last"
}
# stop_bg PID: TERM to it and its children, and reap it.
stop_bg() {
    kill -CONT "$1" 2>/dev/null
    pkill -CONT -P "$1" 2>/dev/null
    kill "$1" 2>/dev/null
    pkill -P "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
# wait_until CMD...: CMD succeeds within IL_WAIT tenths of a second
# (default 100: 10 s).
wait_until() {
    n=0
    while ! "$@" >/dev/null 2>&1; do
        n=$((n + 1))
        [ $n -ge "${IL_WAIT:-100}" ] && return 1
        sleep 0.1
    done
}
# expect LABEL FILE TEXT: FILE holds TEXT (else FAIL, with FILE shown).
expect() {
    if grep -qF -- "$3" "$2"; then note "ok: $1"; else bad "$1: no '$3' in:"; cat "$2"; fi
}

# answers PORT: a port mapper answers there.
answers() { timeout 5 "$B/bin/ember-epmd" -port "$1" -names >/dev/null 2>&1; }
# registered NAME: NAME is registered with the port mapper on $P.
registered() { timeout 5 "$B/bin/ember-epmd" -port "$P" -names 2>/dev/null | grep -q "name $1 at"; }

# il_port_mapper [ARGS]: ember-epmd (with ARGS) on a free private port,
# $P; ERL_EPMD_PORT is exported for erl (run it with -start_epmd false)
# and for ember; its log is $tmp/epmd.err.
il_port_mapper() {
    P=""
    for i in 1 2 3 4 5 6 7 8; do
        c=$((15000 + ($$ * 17 + i * 1013) % 9000))
        answers $c || {
            P=$c
            break
        }
    done
    [ -n "$P" ] || die "no free port"
    ERL_EPMD_PORT=$P
    export ERL_EPMD_PORT
    start_bg epmd "$B/bin/ember-epmd" -port "$P" "$@"
    wait_until answers "$P" || die "ember-epmd did not start"
    note "port mapper on $P, short host $H"
}

# crashed FILE: FILE holds a sanitizer or crash report.
crashed() { grep -Eq 'Sanitizer|runtime error|Assertion|Segmentation' "$1"; }

# il_finish: every $tmp/*.err checked for a sanitizer or crash report (a
# FAIL, the file shown), "all passed" noted when nothing failed; exits
# with the script's status (cleanup runs).
il_finish() {
    for f in "$tmp"/*.err; do
        [ -e "$f" ] || continue
        crashed "$f" && { bad "sanitizer or crash report in $f:"; cat "$f"; }
    done
    [ $fail = 0 ] && note "all passed"
    exit $fail
}
