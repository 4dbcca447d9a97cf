#!/bin/sh
# The installed tree, used as the README's "Using the library" says:
#  1. `make install PREFIX=<tmp>/a`: tests/interop/install_app.c (spawn a
#     process, send it a message, receive the reply, print it) builds with
#     `pkg-config --cflags --libs ember` and runs against libember.so
#     (found through an rpath taken from pkg-config's libdir); it builds
#     with `-static` and `pkg-config --static` into a program that needs no
#     libember.so, and with libember.a named directly; all three print the
#     reply.
#  2. A staged install (DESTDIR=<tmp>/stage PREFIX=/opt/...), as a package
#     build does: ember.pc names the PREFIX, not DESTDIR; with
#     PKG_CONFIG_SYSROOT_DIR the program builds against the staged tree and
#     runs with LD_LIBRARY_PATH (shared) and statically.
#  3. A second install into the same DESTDIR with another PREFIX, and one
#     with LIBDIR/INCLUDEDIR of their own, write an ember.pc with the new
#     values (ember.pc is written by each install, from its settings).
#  4. `make uninstall` with the same settings leaves no file behind.
#  5. A public header missing from the tree stops the build with an error
#     naming it (a copy of the sources with include/ember/dist.h removed).
# Installs the plain build of $B's build root (build/ for build/asan and
# build/tsan): the installed library is the non-sanitized one.  Touches
# nothing outside its temporary folder.  Exits non-zero on any failure.
set -u
B=${B:-build}
case "$B" in
    */asan | */tsan) ROOT=${B%/*} ;;
    *) ROOT=$B ;;
esac
CC=${CC:-cc}
fail=0
tmp=$(mktemp -d /tmp/ember-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

note() { echo "install.sh: $*"; }
bad() { echo "install.sh: FAIL: $*"; fail=1; }

for t in pkg-config readelf timeout "$CC"; do
    command -v "$t" >/dev/null 2>&1 || { echo "install.sh: $t not found"; exit 1; }
done

# make as a user runs it: not the settings of the `make test` that runs us
# (its SANITIZE, its jobserver).
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory BUILD="$ROOT" SANITIZE= "$@" \
        >"$tmp/make.log" 2>&1
}

APP=tests/interop/install_app.c
# run NAME PROGRAM...: runs it (bounded), checks the line it prints.
run() {
    name=$1
    shift
    out=$(timeout 20 "$@" 2>&1)
    rc=$?
    case "$out" in
        "install_app: got hello back from <"*">")
            [ $rc -eq 0 ] && note "ok: $name: $out" || bad "$name: exit $rc: $out" ;;
        *) bad "$name: exit $rc: $out" ;;
    esac
}
# needs_libember PROGRAM: whether its dynamic section names libember.so.0.
needs_libember() { readelf -d "$1" 2>/dev/null | grep -q 'NEEDED.*libember'; }
# pc_field FILE KEY: the value of `KEY=` in an ember.pc.
pc_field() { sed -n "s/^$2=//p" "$1"; }
# leftovers DIR: the files and links left under DIR.
leftovers() { find "$1" ! -type d 2>/dev/null; }

# ---- 1. a prefix of one's own ----
A=$tmp/a
if ! mk install PREFIX="$A"; then
    bad "make install PREFIX=$A"
    tail -20 "$tmp/make.log"
    exit 1
fi
export PKG_CONFIG_PATH="$A/lib/pkgconfig"
v=$(pkg-config --modversion ember 2>&1)
[ -n "$v" ] && pkg-config --exists ember && note "ok: pkg-config finds ember $v" ||
    bad "pkg-config --modversion ember: $v"
libdir=$(pkg-config --variable=libdir ember)
[ "$libdir" = "$A/lib" ] || bad "libdir is '$libdir', not $A/lib"
# shellcheck disable=SC2046 # word splitting of pkg-config's output is wanted
if $CC -o "$tmp/app_shared" $APP $(pkg-config --cflags --libs ember) -Wl,-rpath,"$libdir"; then
    needs_libember "$tmp/app_shared" || bad "shared build does not use libember.so"
    run "shared, rpath" "$tmp/app_shared"
else
    bad "cc \$(pkg-config --cflags --libs ember) failed"
fi
# shellcheck disable=SC2046
if $CC -static -o "$tmp/app_static" $APP $(pkg-config --static --cflags --libs ember); then
    needs_libember "$tmp/app_static" && bad "the -static program needs libember.so"
    run "static (-static, pkg-config --static)" "$tmp/app_static"
else
    bad "cc -static \$(pkg-config --static --cflags --libs ember) failed"
fi
# shellcheck disable=SC2046
if $CC -o "$tmp/app_archive" $APP $(pkg-config --cflags ember) "$libdir/libember.a" -lpthread -lm; then
    needs_libember "$tmp/app_archive" && bad "the program linked with libember.a needs libember.so"
    run "libember.a, libc shared" "$tmp/app_archive"
else
    bad "cc ... \$libdir/libember.a failed"
fi
unset PKG_CONFIG_PATH
mk uninstall PREFIX="$A" || bad "make uninstall PREFIX=$A"
left=$(leftovers "$A")
[ -z "$left" ] && note "ok: uninstall left no file in $A" || bad "uninstall left: $left"
[ -d "$A/include/ember" ] && bad "uninstall left $A/include/ember"

# ---- 2. a staged install (DESTDIR) ----
S=$tmp/stage
P1=/opt/ember-install-test-$$
if mk install DESTDIR="$S" PREFIX="$P1"; then
    pc=$S$P1/lib/pkgconfig/ember.pc
    [ "$(pc_field "$pc" prefix)" = "$P1" ] && [ "$(pc_field "$pc" libdir)" = "$P1/lib" ] &&
        [ "$(pc_field "$pc" includedir)" = "$P1/include" ] &&
        note "ok: staged ember.pc names $P1" || bad "staged ember.pc: $(cat "$pc" 2>&1)"
    grep -q "$S" "$pc" && bad "ember.pc names DESTDIR"
    # shellcheck disable=SC2046
    if $CC -o "$tmp/app_staged" $APP $(PKG_CONFIG_SYSROOT_DIR="$S" PKG_CONFIG_PATH="$S$P1/lib/pkgconfig" \
            pkg-config --cflags --libs ember); then
        run "staged, shared, LD_LIBRARY_PATH" env LD_LIBRARY_PATH="$S$P1/lib" "$tmp/app_staged"
    else
        bad "build against the staged tree (PKG_CONFIG_SYSROOT_DIR) failed"
    fi
    # shellcheck disable=SC2046
    if $CC -static -o "$tmp/app_staged_static" $APP $(PKG_CONFIG_SYSROOT_DIR="$S" \
            PKG_CONFIG_PATH="$S$P1/lib/pkgconfig" pkg-config --static --cflags --libs ember); then
        run "staged, static" "$tmp/app_staged_static"
    else
        bad "static build against the staged tree failed"
    fi
else
    bad "make install DESTDIR=$S PREFIX=$P1"
    tail -20 "$tmp/make.log"
fi

# ---- 3. another PREFIX, then LIBDIR/INCLUDEDIR of their own ----
P2=/usr/ember-other-$$
if mk install DESTDIR="$S" PREFIX="$P2"; then
    pc=$S$P2/lib/pkgconfig/ember.pc
    [ "$(pc_field "$pc" prefix)" = "$P2" ] && [ "$(pc_field "$pc" libdir)" = "$P2/lib" ] &&
        [ "$(pc_field "$pc" includedir)" = "$P2/include" ] &&
        note "ok: reinstall with PREFIX=$P2 wrote an ember.pc naming it" ||
        bad "ember.pc after reinstall with PREFIX=$P2: $(cat "$pc" 2>&1)"
else
    bad "make install DESTDIR=$S PREFIX=$P2"
fi
if mk install DESTDIR="$S" PREFIX="$P2" LIBDIR="$P2/lib64" INCLUDEDIR="$P2/inc"; then
    pc=$S$P2/lib64/pkgconfig/ember.pc
    [ "$(pc_field "$pc" libdir)" = "$P2/lib64" ] && [ "$(pc_field "$pc" includedir)" = "$P2/inc" ] &&
        [ -f "$S$P2/inc/ember.h" ] && [ -f "$S$P2/lib64/libember.a" ] &&
        note "ok: LIBDIR and INCLUDEDIR are honoured, in ember.pc too" ||
        bad "ember.pc with LIBDIR/INCLUDEDIR: $(cat "$pc" 2>&1)"
else
    bad "make install with LIBDIR and INCLUDEDIR"
fi

# ---- 4. uninstall, each with the settings of its install ----
mk uninstall DESTDIR="$S" PREFIX="$P1" || bad "make uninstall PREFIX=$P1"
mk uninstall DESTDIR="$S" PREFIX="$P2" || bad "make uninstall PREFIX=$P2"
mk uninstall DESTDIR="$S" PREFIX="$P2" LIBDIR="$P2/lib64" INCLUDEDIR="$P2/inc" ||
    bad "make uninstall with LIBDIR and INCLUDEDIR"
left=$(leftovers "$S")
[ -z "$left" ] && note "ok: uninstall left no file in the staged trees" || bad "uninstall left: $left"

# ---- 5. a public header missing from the tree ----
T=$tmp/tree
mkdir -p "$T"
cp -R Makefile include term runtime net tools examples .ci "$T/"
rm "$T/include/ember/dist.h"
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$T" --no-print-directory SANITIZE= lib >"$tmp/missing.log" 2>&1; then
    bad "the build succeeded without include/ember/dist.h"
elif grep -q "No rule to make target 'include/ember/dist.h'" "$tmp/missing.log"; then
    note "ok: a missing public header stops the build: $(grep -m1 "include/ember/dist.h" "$tmp/missing.log")"
else
    bad "the build failed, but not naming include/ember/dist.h: $(tail -3 "$tmp/missing.log")"
fi

# The installs built the library for their PREFIX (a node looks for
# ember-epmd in the installed bin/): build it back for the default one.
mk all || bad "rebuilding $ROOT for the default PREFIX"
strings "$ROOT/lib/libember.a" | grep -q "^$tmp" &&
    bad "$ROOT/lib/libember.a still names a temporary PREFIX"

[ $fail -eq 0 ] && note "all passed"
exit $fail
