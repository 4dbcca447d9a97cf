#!/bin/sh
# The layer check fails when it should (make check-layers runs this after
# tests/check_layers.sh).  Each case copies the tree's sources to a scratch
# folder, makes one offence of one of check_layers.sh's rules, and expects
# the check to exit 1 with a line naming that offence; the untouched copy
# must pass.
set -u
cd "$(dirname "$0")/.." || exit 2
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0

fresh() {
    rm -rf "$tmp/t"
    mkdir -p "$tmp/t"
    for d in term runtime net tools include examples bench tests; do
        [ -d "$d" ] && cp -R "$d" "$tmp/t/"
    done
}

# expect NAME PATTERN: the check fails and prints a FAIL line matching PATTERN.
expect() {
    out=$(sh "$tmp/t/tests/check_layers.sh" 2>&1)
    st=$?
    if [ $st -ne 1 ] || ! printf '%s\n' "$out" | grep -q "FAIL: .*$2"; then
        echo "check_layers_test: FAIL: $1: exit $st, no FAIL line matching '$2':"
        printf '%s\n' "$out" | sed 's/^/  | /'
        failed=1
    else
        echo "check_layers_test: ok: $1"
    fi
}

fresh
if sh "$tmp/t/tests/check_layers.sh" >/dev/null 2>&1; then
    echo "check_layers_test: ok: the untouched tree passes"
else
    echo "check_layers_test: FAIL: the untouched tree fails"; failed=1
fi

fresh
printf '#include "../runtime/rt.h"\n' >> "$tmp/t/term/atom.c"
expect "term/ including runtime/ (rule 1)" "goes up a layer"

fresh
printf '#include "../term/term_int.h"\n' >> "$tmp/t/net/dist_tab.c"
expect "a private header of another folder (rule 2)" "crosses into a private header of term/, term/term_int.h"

fresh
printf '#include "dist_int.h"\n' >> "$tmp/t/net/dist_hs.h"
expect "a cycle among net/ files (rule 3)" "cycle"

fresh
printf 'int em__check_layers_up(void);\n' >> "$tmp/t/runtime/rt.h"
printf 'int em__check_layers_up(void) { return 0; }\n' >> "$tmp/t/net/dist_tab.c"
expect "a runtime header declaring a net function (rule 4)" "em__check_layers_up: defined in net/dist_tab.c (net), above this header (runtime)"

fresh
printf 'int em__check_layers_gone(int x,\n    int y);\n' >> "$tmp/t/term/term_int.h"
expect "a declaration nothing defines (rule 4)" "em__check_layers_gone: declared, defined nowhere"

exit $failed
