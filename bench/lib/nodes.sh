# bench/lib/nodes.sh: what the benchmark groups that start nodes share
# (bench/dist.sh, rpc.sh, call.sh).  Sourced, not run (bench/run.sh runs
# only bench/*.sh): set B, NAME (the workload filter) and fail() first.
#
#     bn_init GROUP ERLFILE OFFSET   TMP (removed on exit), pids (stopped on
#                                    exit), ERLFILE compiled into TMP, a
#                                    private ember-epmd on port P (ERL_EPMD_PORT,
#                                    20000 + (pid + OFFSET) % 5000, so groups
#                                    run at once do not meet), H the short host
#     bn_registered NAME             wait until NAME is on the port mapper
#     bn_started FILE                wait until FILE says `started` (a BEAM server)
#     stop PID                       TERM to it and its children, reaped
#     best CMD...                    the best of 3 rates CMD prints last
#     selected WORKLOAD              whether NAME selects it
# Every wait is bounded (10 s).

bn_init() {
    EPMD=$B/bin/ember-epmd
    [ -x "$EPMD" ] || fail "$EPMD not built (make bench builds it)"
    command -v erl >/dev/null 2>&1 || fail "erl not found"
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/ember-bench-$1.XXXXXX") || fail "mktemp"
    pids=""
    trap bn_cleanup EXIT
    trap 'exit 130' INT TERM HUP
    timeout 120 erlc -o "$TMP" "$2" || fail "erlc $2"
    P=$((20000 + ($$ + $3) % 5000))
    ERL_EPMD_PORT=$P
    export ERL_EPMD_PORT
    "$EPMD" -port "$P" >/dev/null 2>&1 &
    pids="$pids $!"
    n=0
    until timeout 5 "$EPMD" -port "$P" -names >/dev/null 2>&1; do
        n=$((n + 1)); [ $n -ge 50 ] && fail "ember-epmd did not start"; sleep 0.1
    done
    H=$(hostname -s)
}

bn_cleanup() {
    for p in $pids; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}

bn_registered() {
    n=0
    until timeout 5 "$EPMD" -port "$P" -names | grep -q "name $1 "; do
        n=$((n + 1)); [ $n -ge 100 ] && fail "ember server $1 did not start"; sleep 0.1
    done
}

bn_started() {
    n=0
    until grep -q started "$1" 2>/dev/null; do
        n=$((n + 1)); [ $n -ge 100 ] && fail "BEAM server did not start"; sleep 0.1
    done
}

stop() { pkill -P "$1" 2>/dev/null; kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

best() {
    b=0
    for _ in 1 2 3; do
        r=$("$@" 2>>"$TMP/err" | tail -n 1)
        case "$r" in ''|*[!0-9]*) r=0;; esac
        [ "$r" -gt "$b" ] && b=$r
    done
    echo "$b"
}

selected() { [ -z "$NAME" ] || case $1 in *"$NAME"*) return 0;; *) return 1;; esac; }
