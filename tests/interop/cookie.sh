#!/bin/sh
# Interop: the cookie, ember against a real erl 25 on the same files.  For
# each case a fresh HOME holds the cookie file (or none); the ember node
# (build/examples/echo) and erl both start with it, and:
#   - erl accepts it: ember must start too, and erl, with the same HOME,
#     pings ember: pong means the two found the same cookie (a different
#     cookie fails the handshake; a control case checks that it does).
#     Where the case says which cookie OTP takes, erl's erlang:get_cookie()
#     is checked too.
#   - erl refuses it: ember must refuse too (exit 1), with exactly one log
#     line holding OTP's wording (and the file's path).
# Cases: the content (spaces, line ends, tabs and other control bytes,
# bytes >= 0x80, a second line, empty, 255/256 characters, a big file),
# the mode, a directory, a FIFO, a symbolic link, a missing file (created,
# by either side first), $HOME against the XDG file, no HOME, an unreadable
# file and an unwritable HOME (as nobody), and -setcookie texts (spaces,
# tabs, empty, non-ASCII under a UTF-8 and a C locale, U+20AC, too long,
# two of them).
# A private ember-epmd on a private port, unique node names (with $$),
# every wait bounded, everything started stopped on exit.  B = build dir.
set -u
B=${B:-build}
fail=0
pids=""
tmp=$(mktemp -d /tmp/ember-cookie-interop.XXXXXX)
note() { echo "cookie.sh: $*"; }
bad() { echo "cookie.sh: FAIL: $*"; fail=1; }

for t in erl timeout; do
    command -v $t >/dev/null 2>&1 || { echo "cookie.sh: $t not found"; exit 1; }
done
for f in "$B/bin/ember-epmd" "$B/examples/echo"; do
    [ -x "$f" ] || { echo "cookie.sh: $f not built"; exit 1; }
done
ECHO=$(cd "$(dirname "$B/examples/echo")" && pwd)/echo
EPMD=$(cd "$(dirname "$B/bin/ember-epmd")" && pwd)/ember-epmd

cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do
        n=0
        while kill -0 "$p" 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
        kill -9 "$p" 2>/dev/null
    done
    chmod -R u+rwx "$tmp" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

answers() { timeout 5 "$EPMD" -port "$1" -names >/dev/null 2>&1; }
P=""
for i in 1 2 3 4 5 6 7 8; do
    c=$((15000 + ($$ * 17 + i * 1013) % 9000))
    answers $c || { P=$c; break; }
done
[ -n "$P" ] || { echo "cookie.sh: no free port"; exit 1; }
ERL_EPMD_PORT=$P
# no erl_crash.dump files from the erl runs that are meant to fail
ERL_CRASH_DUMP_SECONDS=0
export ERL_EPMD_PORT ERL_CRASH_DUMP_SECONDS
H=$(hostname -s)
"$EPMD" -port "$P" >"$tmp/epmd.log" 2>&1 &
pids="$pids $!"
n=0
while ! answers "$P"; do
    n=$((n + 1)); [ $n -ge 100 ] && { echo "cookie.sh: ember-epmd did not start"; exit 1; }
    sleep 0.1
done
note "port mapper on $P, short host $H"
registered() { timeout 5 "$EPMD" -port "$P" -names 2>/dev/null | grep -q "name $1 at"; }
# RUNAS: empty, or a command prefix that runs as nobody (the unreadable cases)
RUNAS=""

# mkhome NAME [MODE CONTENT]: a fresh HOME, with .erlang.cookie holding
# CONTENT (printf format) and mode MODE when given.
mkhome() {
    h="$tmp/$1"
    mkdir -p "$h"
    if [ $# -ge 3 ]; then
        printf "$3" >"$h/.erlang.cookie"
        chmod "$2" "$h/.erlang.cookie"
    fi
}

k=0
# ember_start CASE HOME [ENV...] [-- ARGS]: starts echo as node e<k>_$$ with
# HOME; sets $ep (its pid, or empty when it exited) and $elog (stderr).
ember_start() {
    k=$((k + 1))
    case_=$1; home=$2; shift 2
    en="e${k}_$$"
    elog="$tmp/ember.$k.err"
    envs=""
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs="$envs $1"; shift; done
    [ $# -gt 0 ] && shift
    # shellcheck disable=SC2086
    env HOME="$home" $envs $RUNAS timeout 60 "$ECHO" -sname "$en" "$@" >"$tmp/ember.$k.out" 2>"$elog" &
    ep=$!
    pids="$pids $ep"
    n=0
    while ! registered "$en"; do
        if ! kill -0 "$ep" 2>/dev/null; then
            wait "$ep"
            erc=$?
            ep=""
            return
        fi
        n=$((n + 1)); [ $n -ge 100 ] && { bad "$case_: ember neither started nor stopped"; return; }
        sleep 0.1
    done
}
ember_stop() { [ -n "$ep" ] && { kill "$ep" 2>/dev/null; wait "$ep" 2>/dev/null; }; ep=""; }

# erl_run HOME [ENV...] [-- ARGS]: erl as node o<k>_$$ with HOME; prints its
# cookie ("COOKIE [chars]") and the ping of ember's node; output in $olog.
erl_run() {
    home=$1; shift
    envs=""
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs="$envs $1"; shift; done
    [ $# -gt 0 ] && shift
    olog="$tmp/erl.$k.out"
    # shellcheck disable=SC2086
    env HOME="$home" $envs $RUNAS timeout 60 erl -noshell -start_epmd false -sname "o${k}_$$" "$@" \
        -eval "io:format(\"COOKIE ~w~n\", [atom_to_list(erlang:get_cookie())]),
               io:format(\"PING ~p~n\", [net_adm:ping('e${k}_$$@$H')]), halt()." >"$olog" 2>&1
    orc=$?
}

# same CASE HOME [ENV...] [-- ARGS]: erl and ember both accept the cookie,
# and it is the same one.  $want (when set): the cookie erl must print.
same() {
    c=$1; home=$2; shift 2
    ember_start "$c" "$home" "$@"
    if [ -z "$ep" ]; then
        bad "$c: ember refused what erl takes:"; cat "$elog"
        erl_run "$home" "$@"
        return
    fi
    erl_run "$home" "$@"
    ember_stop
    if [ -n "${want:-}" ] && ! grep -qF "COOKIE $want" "$olog"; then
        bad "$c: erl's cookie is not $want:"; cat "$olog"
    elif grep -q "PING pong" "$olog"; then
        note "ok: $c: same cookie ($(sed -n 's/^COOKIE //p' "$olog" | cut -c1-60))"
    else
        bad "$c: erl and ember did not connect:"; cat "$olog" "$elog"
    fi
    want=""
}

# refuse CASE HOME OTP-TEXT [EMBER-TEXT] [ENV...] [-- ARGS]: erl stops with
# OTP-TEXT in its output; ember stops (exit $erc_want, 1 unless set: 2 is
# echo's usage exit after em_node_args refused) with one log line holding
# EMBER-TEXT (default: OTP-TEXT).
refuse() {
    c=$1; home=$2; otp=$3; shift 3
    mine=$otp
    if [ $# -gt 0 ] && [ "$1" != "--" ] && ! echo "$1" | grep -q '^[A-Z_]*='; then mine=$1; shift; fi
    ok=1
    ember_start "$c" "$home" "$@"
    if [ -n "$ep" ]; then
        bad "$c: ember started where erl refuses"; ember_stop; ok=0
    else
        lines=$(grep -c "^=ember dist " "$elog")
        if [ "$erc" -ne "${erc_want:-1}" ] || [ "$lines" -ne 1 ] || ! grep "^=ember dist " "$elog" | grep -qF -- "$mine"; then
            bad "$c: ember exit $erc, $lines log lines, expected 1 with '$mine':"; cat "$elog"; ok=0
        fi
    fi
    erl_run "$home" "$@"
    if [ "$orc" -eq 0 ] || ! grep -qF -- "$otp" "$olog"; then
        bad "$c: erl exit $orc, expected a refusal with '$otp':"; head -5 "$olog"; ok=0
    fi
    [ $ok = 1 ] && note "ok: $c: both refuse: $(grep '^=ember dist ' "$elog" | sed 's/^=ember dist [^=]*= //' | cut -c1-120)"
    erc_want=""
}

BADC="Bad characters in cookie"
SHORT="Too short cookie string"
OWNER="must be accessible by owner only"

# ---- the content ----
mkhome sp 400 'abc  \n';        want="[97,98,99,32,32]"; same "trailing spaces are cookie" "$tmp/sp"
mkhome lead 400 '  abc\n';      want="[32,32,97,98,99]"; same "leading spaces are cookie" "$tmp/lead"
mkhome allsp 400 '   ';         want="[32,32,32]"; same "only spaces" "$tmp/allsp"
mkhome crlf 400 'abc\r\n';      want="[97,98,99]"; same "CR LF ends it" "$tmp/crlf"
mkhome ends 400 'abc\n \n\r \n'; want="[97,98,99]"; same "line ends and spaces after it" "$tmp/ends"
mkhome nonl 400 'abc';          want="[97,98,99]"; same "no line end" "$tmp/nonl"
mkhome punct 400 'a~b!@#$%%^&*()"x'; same "punctuation" "$tmp/punct"
mkhome l255 400 "$(head -c 255 /dev/zero | tr '\0' 'k')"; same "255 characters" "$tmp/l255"
mkhome big 400 "abc$(head -c 20000 /dev/zero | tr '\0' '\n' | sed 's/^/ /')"; same "a 40 KB file, cookie first" "$tmp/big"
mkhome tab 400 'abc\t\n';       refuse "a tab" "$tmp/tab" "$BADC" "$BADC: byte 0x09 at offset 3 of $tmp/tab/.erlang.cookie"
mkhome tab2 400 'abc\n\t\n';    refuse "a tab after the line" "$tmp/tab2" "$BADC"
mkhome two 400 'abc\ndef\n';    refuse "a second line" "$tmp/two" "$BADC" "$BADC: 'd' at offset 4 of $tmp/two/.erlang.cookie"
mkhome cr 400 'abc\rdef';       refuse "text after a CR" "$tmp/cr" "$BADC"
mkhome nul 400 'ab\000c';       refuse "a NUL byte" "$tmp/nul" "$BADC"
mkhome del 400 'ab\177c';       refuse "DEL" "$tmp/del" "$BADC"
mkhome utf8 400 'ab\303\251c';  refuse "UTF-8 e-acute" "$tmp/utf8" "$BADC" "$BADC: byte 0xC3 at offset 2"
mkhome latin 400 'ab\351c';     refuse "Latin-1 e-acute" "$tmp/latin" "$BADC" "$BADC: byte 0xE9 at offset 2"
mkhome empty 400 '';            refuse "an empty file" "$tmp/empty" "$SHORT" "$SHORT: $tmp/empty/.erlang.cookie is empty"
mkhome nl 400 '\n';             refuse "only a line end" "$tmp/nl" "$SHORT" "$SHORT: $tmp/nl/.erlang.cookie"
mkhome l256 400 "$(head -c 256 /dev/zero | tr '\0' 'k')"; refuse "256 characters" "$tmp/l256" "system_limit" "$tmp/l256/.erlang.cookie is 256 characters long"
mkhome lsp 400 "abc$(head -c 300 /dev/zero | tr '\0' ' ')"; refuse "abc and 300 spaces" "$tmp/lsp" "system_limit" "is 303 characters long"

# ---- the file ----
for m in 600 700; do mkhome "m$m" $m 'abc'; same "mode $m" "$tmp/m$m"; done
for m in 440 404 644 401; do
    mkhome "m$m" $m 'abc'
    refuse "mode $m" "$tmp/m$m" "Cookie file $tmp/m$m/.erlang.cookie $OWNER"
done
mkhome dir; mkdir -m 700 "$tmp/dir/.erlang.cookie"
refuse "a directory" "$tmp/dir" "directory" "Cookie file $tmp/dir/.erlang.cookie is of type directory"
mkhome fifo; mkfifo -m 400 "$tmp/fifo/.erlang.cookie"
refuse "a FIFO" "$tmp/fifo" "other" "Cookie file $tmp/fifo/.erlang.cookie is of type other"
mkhome link; printf linked >"$tmp/link/target"; chmod 400 "$tmp/link/target"
ln -s "$tmp/link/target" "$tmp/link/.erlang.cookie"
want="[108,105,110,107,101,100]"; same "a symbolic link" "$tmp/link"

# ---- where ----
# missing: whichever starts first creates $HOME/.erlang.cookie, the other reads it
mkhome new1
ember_start "missing, ember first" "$tmp/new1"
ember_stop
if [ -f "$tmp/new1/.erlang.cookie" ] && [ "$(stat -c %a "$tmp/new1/.erlang.cookie")" = 400 ] &&
    grep -qx '[A-Z]\{20\}' "$tmp/new1/.erlang.cookie" && [ "$(stat -c %y "$tmp/new1/.erlang.cookie" | cut -c12-19)" = 00:00:00 ]; then
    note "ok: missing: ember created \$HOME/.erlang.cookie, 20 A..Z, mode 0400, midnight"
else
    bad "missing: ember's new cookie file:"; ls -la --full-time "$tmp/new1"; cat "$tmp/new1/.erlang.cookie"
fi
same "missing, ember first: erl reads ember's file" "$tmp/new1"
mkhome new2; mkdir -p "$tmp/new2/.config/erlang"
erl_run "$tmp/new2"
if [ -f "$tmp/new2/.erlang.cookie" ] && [ ! -e "$tmp/new2/.config/erlang/.erlang.cookie" ]; then
    note "ok: missing: erl created \$HOME/.erlang.cookie (not the XDG one)"
else
    bad "missing: erl did not create \$HOME/.erlang.cookie"
fi
same "missing, erl first: ember reads erl's file" "$tmp/new2"
mkhome new3; mkdir -p "$tmp/new3/.config/erlang"
ember_start "missing, XDG folder there" "$tmp/new3"; ember_stop
[ -f "$tmp/new3/.erlang.cookie" ] && [ ! -e "$tmp/new3/.config/erlang/.erlang.cookie" ] &&
    note "ok: missing: ember created \$HOME/.erlang.cookie (not the XDG one)" ||
    bad "missing: ember created the wrong file"

mkhome both 400 'home'; mkdir -p "$tmp/both/.config/erlang"
printf xdg >"$tmp/both/.config/erlang/.erlang.cookie"; chmod 400 "$tmp/both/.config/erlang/.erlang.cookie"
want="[104,111,109,101]"; same "HOME and XDG files: HOME wins" "$tmp/both"
mkhome xdg; mkdir -p "$tmp/xdg/.config/erlang"
printf xdgonly >"$tmp/xdg/.config/erlang/.erlang.cookie"; chmod 400 "$tmp/xdg/.config/erlang/.erlang.cookie"
want="[120,100,103,111,110,108,121]"; same "only \$HOME/.config/erlang/.erlang.cookie" "$tmp/xdg"
mkhome xdge; mkdir -p "$tmp/xdge/cfg/erlang"
printf xdgenv >"$tmp/xdge/cfg/erlang/.erlang.cookie"; chmod 400 "$tmp/xdge/cfg/erlang/.erlang.cookie"
want="[120,100,103,101,110,118]"; same "\$XDG_CONFIG_HOME/erlang/.erlang.cookie" "$tmp/xdge" XDG_CONFIG_HOME="$tmp/xdge/cfg"
mkhome xbad; mkdir -p "$tmp/xbad/.config/erlang"
printf xdg >"$tmp/xbad/.config/erlang/.erlang.cookie"; chmod 644 "$tmp/xbad/.config/erlang/.erlang.cookie"
refuse "a bad XDG file" "$tmp/xbad" "Cookie file $tmp/xbad/.config/erlang/.erlang.cookie $OWNER"
mkhome hbad 644 'home'; mkdir -p "$tmp/hbad/.config/erlang"
printf xdg >"$tmp/hbad/.config/erlang/.erlang.cookie"; chmod 400 "$tmp/hbad/.config/erlang/.erlang.cookie"
refuse "a bad HOME file, a good XDG one" "$tmp/hbad" "Cookie file $tmp/hbad/.erlang.cookie $OWNER"

# HOME unset: erl 25 crashes (badmatch in filename:basedir); ember names it
k=$((k + 1))
(cd "$tmp" && env -u HOME timeout 60 "$ECHO" -sname "e${k}_$$" >/dev/null 2>"$tmp/nohome.err"); erc=$?
(cd "$tmp" && env -u HOME timeout 60 erl -noshell -start_epmd false -sname "o${k}_$$" -eval 'halt().' >"$tmp/nohome.out" 2>&1); orc=$?
if [ "$erc" = 1 ] && [ "$(grep -c '^=ember dist .*No home for cookie file: HOME is not set' "$tmp/nohome.err")" = 1 ] &&
    [ "$orc" != 0 ] && grep -q basedir "$tmp/nohome.out"; then
    note "ok: HOME unset: both refuse"
else
    bad "HOME unset: ember exit $erc, erl exit $orc:"; cat "$tmp/nohome.err"; head -3 "$tmp/nohome.out"
fi

# ---- as nobody: an unreadable file, a HOME nobody can write ----
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
    RUNAS="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups"
elif [ "$(id -u)" != 0 ]; then
    RUNAS=""
else
    RUNAS="none"
fi
if [ "$RUNAS" = none ]; then
    bad "root without setpriv or a nobody user: cannot test an unreadable cookie file"
else
    chmod 711 "$tmp"
    # nobody runs a copy: the build tree may sit under a directory only
    # root can enter (a clone in /root).
    ECHO_ROOT=$ECHO
    ECHO="$tmp/echo-nobody"
    cp "$ECHO_ROOT" "$ECHO" && chmod 755 "$ECHO"
    mkhome unr 200 'abc'
    mkhome ro
    [ -n "$RUNAS" ] && chown -R nobody "$tmp/unr" "$tmp/ro"
    refuse "an unreadable file" "$tmp/unr" "Error when reading $tmp/unr/.erlang.cookie: eacces"
    chmod 555 "$tmp/ro"
    refuse "missing, HOME not writable" "$tmp/ro" "Failed to create cookie file '$tmp/ro/.erlang.cookie': eacces"
    RUNAS=""
    ECHO=$ECHO_ROOT
fi

# ---- -setcookie ----
mkhome sc 400 'filecookie'
want="[97,32,98]"; same "-setcookie 'a b'" "$tmp/sc" -- -setcookie 'a b'
tabc=$(printf 'a\tb')
want="[97,9,98]"; same "-setcookie with a tab" "$tmp/sc" -- -setcookie "$tabc"
want="[]"; same "-setcookie ''" "$tmp/sc" -- -setcookie ''
want="[233,116,233]"; same "-setcookie été, UTF-8 locale" "$tmp/sc" LC_ALL=C.UTF-8 -- -setcookie 'été'
want="[195,169,116,195,169]"; same "-setcookie été, C locale" "$tmp/sc" LC_ALL=C -- -setcookie 'été'
want="[102,105,108,101,99,111,111,107,105,101]"
same "two -setcookie flags: both ignored, the file's cookie" "$tmp/sc" -- -setcookie one -setcookie two
# control: the decoding matters (and a different cookie fails the ping)
ember_start "control" "$tmp/sc" LC_ALL=C -- -setcookie 'été'
erl_run "$tmp/sc" LC_ALL=C.UTF-8 -- -setcookie 'été'
ember_stop
grep -q "PING pang" "$olog" && note "ok: control: a cookie read differently does not connect" ||
    { bad "control: erl and ember connected with different cookies:"; cat "$olog"; }
# U+20AC: erl starts with it (and then fails every handshake: the digest's
# erlang:md5 is badarg); ember refuses it at once
ember_start "-setcookie €" "$tmp/sc" LC_ALL=C.UTF-8 -- -setcookie '€'
erl_run "$tmp/sc" LC_ALL=C.UTF-8 -- -setcookie '€'
if [ -z "$ep" ] && [ "$erc" = 2 ] && [ "$(grep -c '^=ember dist .*U+20AC' "$elog")" = 1 ] &&
    grep -qF "COOKIE [8364]" "$olog" && grep -q "PING pang" "$olog"; then
    note "ok: -setcookie €: erl takes it but cannot connect; ember refuses it: $(sed -n 's/^=ember dist [^=]*= //p' "$elog" | cut -c1-100)"
else
    bad "-setcookie €:"; cat "$elog" "$olog"; ember_stop
fi
long=$(head -c 256 /dev/zero | tr '\0' 'k')
erc_want=2; refuse "-setcookie of 256 characters" "$tmp/sc" "system_limit" "256 characters" -- -setcookie "$long"

if [ $fail = 0 ]; then note "all passed"; else note "FAILED"; fi
exit $fail
