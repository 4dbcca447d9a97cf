#!/bin/sh
# Interop: terms nested 12 million levels deep through the distribution.
# A real erl node (tests/interop/deep_helper.erl) sends a list nested
# DEPTH levels deep ([[[...]]], built with lists:foldl) and a tuple nested
# as deep ({{{...}}}) to an echo node, once to ember's echo example
# (build/examples/echo) and once to an erl echo node doing the same thing,
# each echo node fresh for each term.  Checks, per term:
#  - both echo nodes send it back =:= to the original (OTP decodes and
#    encodes such terms; so must ember, without recursion on any stack);
#  - ember's echo node logs nothing about the message (no "garbage");
#  - the ember node's peak RSS (VmHWM of /proc/PID/status) is at most the
#    erl echo node's peak for the same term.  Both figures are printed.
# Then the optional guard: an ember echo node started with
# EMBER_DIST_MAX_DEPTH=1000 refuses a list 2000 deep (the connection goes
# down, one log line naming the variable, nothing called garbage) and
# echoes a list 999 deep ({Pid, List}: 1000 levels) on the next
# connection.
# DEPTH is 12,000,000 (EMBER_DEEP_DEPTH overrides it) in every build: the
# sanitizer builds ($B ending in asan or tsan) take about 20 s (ASan) and
# 35 s (TSan, 1.8 GB) for the whole script.  Under them the RSS comparison
# is skipped, said in the output: their shadow memory is not ember's.
# A private ember-epmd on a private port; every erl runs with -start_epmd
# false.  Every wait is bounded; everything started is stopped on exit.
# Environment: B = build directory (build, build/asan, build/tsan).
set -u
. tests/support/interop.sh
il_init deep
il_need erl erlc timeout
il_built "$B/bin/ember-epmd" "$B/examples/echo"
SAN=$IL_SAN
DEPTH=${EMBER_DEEP_DEPTH:-12000000}
# Bound on one round trip (seconds); sanitizer builds are slower.
T_TRIP=${EMBER_DEEP_TIMEOUT:-300}
erlc -o "$tmp" tests/interop/deep_helper.erl || die "erlc failed"
ERL="erl -noshell -start_epmd false -pa $tmp"
IL_WAIT=150
# Peak resident set of a process, in MB (VmHWM is in kB).
peak_mb() { awk '/^VmHWM:/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }
il_port_mapper
note "depth $DEPTH"

# round_trip WHO KIND: start a fresh echo node (WHO = erl or ember), send
# it the KIND term from erl, check the answer, set $peak to the echo
# node's peak RSS in MB.
round_trip() {
    who=$1 kind=$2
    name=dp$who$kind$$
    peak=""
    if [ "$who" = erl ]; then
        # erl execs erlexec, which execs beam.smp: $! is the VM itself.
        start_bg "$name" $ERL -sname "$name" -setcookie $C -eval 'deep_helper:echo()'
        e=$last
        wait_until grep -q started "$tmp/$name.out" || { bad "erl echo $name did not start"; return; }
    else
        start_bg "$name" "$B/examples/echo" -sname "$name" -setcookie $C
        e=$last
        wait_until registered "$name" || { bad "ember echo $name did not register"; return; }
    fi
    timeout $((T_TRIP + 60)) $ERL -sname "ds$who$kind$$" -setcookie $C \
        -eval "deep_helper:send([\"$name@$H\", \"$kind\", \"$DEPTH\", \"$T_TRIP\"])." \
        >"$tmp/s$name.out" 2>&1
    peak=$(peak_mb "$e")
    if grep -q "deep: ok" "$tmp/s$name.out"; then
        note "ok: $who echo sent the $kind back =:= ($(sed -n 's/^deep: ok (\(.*\))$/\1/p' "$tmp/s$name.out")), peak RSS ${peak} MB"
    else
        bad "$who echo, $kind $DEPTH deep: $(cat "$tmp/s$name.out")"
    fi
    if [ "$who" = ember ] && [ -s "$tmp/$name.err" ]; then
        bad "ember echo logged:"
        head -n 5 "$tmp/$name.err"
    fi
    stop_bg "$e"
}

for kind in list tuple; do
    round_trip erl $kind
    erl_peak=$peak
    round_trip ember $kind
    ember_peak=$peak
    if [ -n "$SAN" ]; then
        note "$kind: peak RSS erl ${erl_peak} MB, ember ${ember_peak} MB (not compared under $SAN)"
    elif [ -n "$erl_peak" ] && [ -n "$ember_peak" ] && [ "$ember_peak" -le "$erl_peak" ]; then
        note "ok: $kind $DEPTH deep: peak RSS ember ${ember_peak} MB <= erl ${erl_peak} MB"
    else
        bad "$kind $DEPTH deep: peak RSS ember ${ember_peak:-?} MB > erl ${erl_peak:-?} MB"
    fi
done

# ---- the guard, when asked for ----
name=dpguard$$
EMBER_DIST_MAX_DEPTH=1000 start_bg "$name" "$B/examples/echo" -sname "$name" -setcookie $C
e=$last
if wait_until registered "$name"; then
    timeout 60 $ERL -sname "dsg1$$" -setcookie $C \
        -eval "deep_helper:send([\"$name@$H\", \"list\", \"2000\", \"30\"])." >"$tmp/g1.out" 2>&1
    timeout 60 $ERL -sname "dsg2$$" -setcookie $C \
        -eval "deep_helper:send([\"$name@$H\", \"list\", \"999\", \"30\"])." >"$tmp/g2.out" 2>&1
    if grep -q "deep: nodedown" "$tmp/g1.out"; then
        note "ok: EMBER_DIST_MAX_DEPTH=1000: a list 2000 deep is refused (connection closed)"
    else
        bad "EMBER_DIST_MAX_DEPTH=1000, list 2000 deep: $(cat "$tmp/g1.out")"
    fi
    grep -q "deep: ok" "$tmp/g2.out" && note "ok: EMBER_DIST_MAX_DEPTH=1000: a list 999 deep (1000 levels in {Pid, List}) still comes back" ||
        bad "EMBER_DIST_MAX_DEPTH=1000, list 999 deep: $(cat "$tmp/g2.out")"
    if [ "$(grep -c . "$tmp/$name.err")" -eq 1 ] && grep -q "EMBER_DIST_MAX_DEPTH" "$tmp/$name.err" &&
        ! grep -qi garbage "$tmp/$name.err"; then
        note "ok: one log line names the guard: $(cat "$tmp/$name.err")"
    else
        bad "the guard's log:"
        cat "$tmp/$name.err"
    fi
else
    bad "ember echo $name did not register"
fi
stop_bg "$e"

[ $fail -eq 0 ] && note "all passed" || note "FAILED"
exit $fail
