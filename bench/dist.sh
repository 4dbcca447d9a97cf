#!/bin/sh
# bench/dist.sh: the distribution on loopback, ember<->ember vs BEAM<->BEAM,
# two OS processes each (contract: see bench/run.sh).
# workloads: dist_pingpong dist_stream_12b dist_stream_1k dist_stream_64k dist_stream_64k_tcp
#
# A private ember-epmd on a private port serves both.  dist_pingpong: round
# trips per second of {self(), ping} -> pong to a registered process on the
# other node; dist_stream_*: one-way messages per second (binaries of 12,
# 1024 and 65536 bytes) to a registered process that counts them and
# replies at the end.  Best of 3 on each side.
#
# dist_stream_64k_tcp is NOT an ember-vs-BEAM row: its "beam" column is raw
# TCP, measured in the same run (bench/bench_tcp.c: two OS processes on
# loopback moving 4-byte-length-framed 65536-byte packets with plain
# blocking send/recv, best of 3, with no node running), its "ember" column
# is ember's dist_stream_64k figure of this run, and its ratio is the share
# of raw TCP throughput ember's distribution reaches (target: >= 0.85).
set -u
B=${B:-build}
NAME=${1:-}
[ "$NAME" = dist ] && NAME=
BIN=$B/bench/bench_dist
TCP=$B/bench/bench_tcp
fail() { echo "bench/dist.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "$BIN not built (make bench builds it)"
[ -x "$TCP" ] || fail "$TCP not built (make bench builds it)"
. bench/lib/nodes.sh
bn_init dist bench/dist_bench.erl 0
# One server at a time: an idle BEAM node's schedulers busy-wait, which
# would take CPU from the ember side on a small machine (and an idle ember
# node sleeps, which would flatter BEAM's side) -- so each side is measured
# with only its own two nodes running.
start_ember() {
    timeout 900 "$BIN" -sname bes$$ -setcookie bench server >/dev/null 2>"$TMP/es.err" &
    es=$!
    bn_registered bes$$
}
start_beam() {
    timeout 900 erl -noshell -start_epmd false -pa "$TMP" -sname bbs$$ -setcookie bench \
        -eval 'dist_bench:server()' >"$TMP/bs.out" 2>&1 &
    bs=$!
    bn_started "$TMP/bs.out"
}

WORKLOADS="pingpong:50000 stream_12:1000000 stream_1024:300000 stream_65536:20000"
TCP_N=50000
selected() { # selected WORKLOAD -> name and unit, or nothing
    case $1 in
        pingpong) name=dist_pingpong; unit="rt/s";;
        stream_12) name=dist_stream_12b; unit="msg/s";;
        stream_1024) name=dist_stream_1k; unit="msg/s";;
        stream_65536) name=dist_stream_64k; unit="msg/s";;
        tcp) name=dist_stream_64k_tcp; unit="msg/s";;
    esac
    if [ -n "$NAME" ]; then case $name in *"$NAME"*) ;; *) return 1;; esac; fi
    return 0
}
# The raw TCP row needs ember's 64k figure even when only it is selected.
tcp=0
selected tcp && tcp=1
start_ember
for w in $WORKLOADS; do
    wl=${w%%:*}; n=${w#*:}
    selected "$wl" || { [ "$wl" = stream_65536 ] && [ $tcp = 1 ]; } || continue
    echo "bench/dist.sh: $name (ember) ..." >&2
    best timeout 300 "$BIN" -sname bec$$ -setcookie bench client "bes$$@$H" "$wl" "$n" > "$TMP/e.$wl"
done
stop "$es"
if [ $tcp = 1 ]; then
    echo "bench/dist.sh: dist_stream_64k_tcp (raw TCP) ..." >&2
    "$TCP" server >"$TMP/tcp.port" 2>>"$TMP/err" &
    ts=$!
    pids="$pids $ts"
    n=0
    until [ -s "$TMP/tcp.port" ]; do
        n=$((n + 1)); [ $n -ge 50 ] && fail "bench_tcp server did not start"; sleep 0.1
    done
    best timeout 300 "$TCP" client "$(cat "$TMP/tcp.port")" 65536 $TCP_N > "$TMP/t.tcp"
    stop "$ts"
fi
start_beam
for w in $WORKLOADS; do
    wl=${w%%:*}; n=${w#*:}
    selected "$wl" || continue
    echo "bench/dist.sh: $name (beam) ..." >&2
    best timeout 300 erl -noshell -start_epmd false -pa "$TMP" -sname bbc$$ -setcookie bench \
        -run dist_bench client "bbs$$@$H" "$wl" "$n" > "$TMP/b.$wl"
done
stop "$bs"
status=0
for w in $WORKLOADS tcp; do
    wl=${w%%:*}
    selected "$wl" || continue
    if [ "$wl" = tcp ]; then
        e=$(cat "$TMP/e.stream_65536"); b=$(cat "$TMP/t.tcp")
    else
        e=$(cat "$TMP/e.$wl"); b=$(cat "$TMP/b.$wl")
    fi
    if [ "$e" -eq 0 ] || [ "$b" -eq 0 ]; then
        echo "bench/dist.sh: $name: no figure (ember $e, beam $b)" >&2; cat "$TMP/err" >&2; status=1
    fi
    awk -v n="$name" -v u="$unit" -v e="$e" -v b="$b" \
        'BEGIN { printf "%s\t%s\t%.0f\t%.0f\t%.2f\n", n, u, e, b, (b > 0 ? e / b : 0) }'
done
exit $status
