#!/bin/sh
# The public headers, as a program sees them (make check-headers, run by
# make test).  Arguments: the Makefile's PUBLIC_HEADERS (include/...).
#  1. include/ holds exactly the listed headers: make install installs the
#     list, so a header in include/ that is not listed would be left out of
#     the installed tree (and a listed one that is missing already stops
#     the build).
#  2. Each header compiles on its own, first and twice in a one-line
#     program, with only -Iinclude, C11, no _GNU_SOURCE and warnings as
#     errors (-Wall -Wextra -Wpedantic and the project's own), with gcc and
#     with clang (each when installed; at least one must be): a header that
#     needs another one included first, lacks its include guard or only
#     compiles as ember's own sources are compiled fails here.
#  3. Nothing in it names an internal em__/EM__ identifier: neither its
#     text (comments and macros included) nor what the preprocessor makes
#     of it (a macro expanding to one, a private header it pulls in).
#     EM_API expanding to an attribute is fine: it is not an em__ name.
# One line per offence; exits non-zero on any.
set -u
fail=0
bad() { echo "headers.sh: FAIL: $*"; fail=1; }
[ $# -gt 0 ] || { echo "usage: headers.sh include/ember.h include/ember/x.h ..."; exit 2; }
# internal_names: the em__/EM__ identifiers in stdin, once each, on one
# line (the first 8, and how many in all).
internal_names() {
    awk '{
        while (match($0, /(^|[^A-Za-z0-9_])(em|EM)__[A-Za-z0-9_]*/)) {
            s = substr($0, RSTART, RLENGTH)
            sub(/^[^A-Za-z0-9_]/, "", s)
            print s
            $0 = substr($0, RSTART + RLENGTH)
        }
    }' | sort -u | awk '{ if (NR <= 8) printf "%s ", $0 } END { if (NR > 8) printf "... (%d in all)", NR }'
}
tmp=$(mktemp -d /tmp/ember-headers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- 1. include/ is the list ----
for f in $(find include -type f | sort); do
    case " $* " in
        *" $f "*) ;;
        *) bad "$f is in include/ but not in the Makefile's PUBLIC_HEADERS (make install would leave it out)" ;;
    esac
done
for h in "$@"; do
    [ -f "$h" ] || bad "$h is listed in PUBLIC_HEADERS but missing"
done

# ---- 2. each compiles alone, with each compiler ----
FLAGS="-std=c11 -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes \
-Wmissing-prototypes -Wpointer-arith -Wvla -Wformat=2 -Iinclude"
compilers=""
for c in gcc clang; do
    if command -v "$c" >/dev/null 2>&1; then
        compilers="$compilers $c"
    else
        echo "headers.sh: $c not found: the headers are not compiled with it"
    fi
done
[ -n "$compilers" ] || bad "neither gcc nor clang found"

n=0
for h in "$@"; do
    [ -f "$h" ] || continue
    name=${h#include/}
    src=$tmp/h$n.c
    n=$((n + 1))
    printf '#include <%s>\n#include <%s>\n' "$name" "$name" >"$src"
    for c in $compilers; do
        # shellcheck disable=SC2086 # FLAGS is a list of words
        if ! $c $FLAGS -c "$src" -o "$tmp/h.o" >"$tmp/log" 2>&1; then
            bad "$h does not compile on its own with $c: $(sed -n '/error/{p;q;}' "$tmp/log")"
            continue
        fi
        # ---- 3. what the preprocessor makes of it ----
        # shellcheck disable=SC2086
        $c $FLAGS -E -P "$src" >"$tmp/pp" 2>/dev/null
        names=$(internal_names <"$tmp/pp")
        [ -z "$names" ] || bad "$h brings internal names into a program ($c -E): $names"
    done
    # ---- 3. its text ----
    grep -n -E '(^|[^A-Za-z0-9_])(em|EM)__' "$h" | while IFS= read -r line; do
        echo "headers.sh: FAIL: $h:${line%%:*}: names an internal em__/EM__ identifier: ${line#*:}"
    done | grep . && fail=1
done

[ $fail -eq 0 ] && echo "headers.sh: ok: $# public headers, each alone with$compilers, no em__ name"
exit $fail
