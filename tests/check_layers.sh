#!/bin/sh
# make check-layers (run by make test): the includes keep the layers.
#
# Layers, lowest first: term < runtime < net < tools.  include/ holds the
# public headers (each belongs to a layer: PUBLIC_LAYERS below); examples/
# and bench/ are programs of a user of the installed library; tests/ may
# include the private headers of the modules they test.  Every #include of
# a file in term runtime net tools include examples bench tests is resolved
# as the Makefile's compiles resolve it (the including file's folder, then
# -Iinclude, and for tests -Iterm -Iruntime -Inet -Itests/support), and:
#  1. an include that goes up a layer (a file of term/ including anything
#     of runtime/, a public header of runtime including <ember/epmd.h>, ...)
#     fails; examples/ and bench/ may include only public headers;
#  2. an include of another folder's private header fails unless that
#     header is a declared seam for the including file (SEAMS below); a
#     seam nobody includes any more fails too, so that the list stays true;
#  3. an include that closes a cycle among files fails, with the cycle's
#     path: X.c and X.h of one folder are one node, and node A has an edge
#     to node B when a file of A includes a file of B.
#  4. a header that names a function defined only in a higher layer fails
#     (a runtime/ header declaring a function net/ defines: the include
#     rules cannot see that, since nobody includes upward to get it), and
#     so does a function a header declares that nothing defines.  Names are
#     em_ and em__ words followed by `(` outside comments; a definition is
#     a body in a .c or .S file, a static inline function, a function-like
#     macro or a function typedef in a header.  Function pointers in ops tables (runtime's
#     em__remote_ops) are fields, not names, and are not checked.
# One line per offence; exits 1 on any.  POSIX sh and awk only.
# CHECK_LAYERS_GRAPH=1 also prints the graph, one `A -> B` line per edge.
#
# CHECK_LAYERS_ALLOW_NET_CYCLE=1 reports a cycle whose nodes are all in
# net/ without failing.  make test set it until net/'s private headers were
# put in levels (issue 15: dist_hs.h says the order); it no longer does, so
# such a cycle fails like any other.
set -u
cd "$(dirname "$0")/.." || exit 2

# The declared seams: the only private headers one folder may include from
# another.  One line each: the header, then who may include it (a folder,
# ending in /, or a file), then `#` and why.
SEAMS='
term/term_seam.h  runtime/ net/       # what of term representation the layers above use
runtime/remote.h  net/                # the runtime side of remote operations, for the distribution
runtime/poke.h    net/                # the eventfd poke and drain, for the writers and the port mapper stop
net/epmd_srv.h    tools/ember-epmd.c  # the port mapper daemon, for its one program
term/etf_encode.h net/dist_out.c      # the encoder sink: frames encoded straight into the out-queue
'

# The layer each public header belongs to.  A header in include/ that is
# not here fails: a new public header needs its layer decided.
PUBLIC_LAYERS='
include/ember/common.h   term
include/ember/term.h     term
include/ember/etf.h      term
include/ember/runtime.h  runtime
include/ember/sup.h      runtime
include/ember/call.h     runtime
include/ember/server.h   runtime
include/ember/export.h   runtime
include/ember/epmd.h     net
include/ember/dist.h     net
include/ember/global.h   net
include/ember/pg.h       net
include/ember.h          net
'

files=$(find term runtime net tools include examples bench tests -type f \
    \( -name '*.c' -o -name '*.h' -o -name '*.S' \) 2>/dev/null | sort)

printf '%s\n' "$files" | awk -v seams="$SEAMS" -v publics="$PUBLIC_LAYERS" \
    -v allow_net_cycle="${CHECK_LAYERS_ALLOW_NET_CYCLE:-}" -v graph="${CHECK_LAYERS_GRAPH:-}" '
function fail(msg) { print "check-layers: FAIL: " msg; failed = 1 }

# norm: a path with its "." and "x/.." steps removed.
function norm(p,    n, i, parts, out, k, j, r) {
    n = split(p, parts, "/")
    k = 0
    for (i = 1; i <= n; i++) {
        if (parts[i] == "" || parts[i] == ".") continue
        if (parts[i] == ".." && k > 0 && out[k] != "..") { k--; continue }
        out[++k] = parts[i]
    }
    r = ""
    for (j = 1; j <= k; j++) r = r (j > 1 ? "/" : "") out[j]
    return r
}
function dirof(p) { return (p ~ /\//) ? substr(p, 1, match(p, /\/[^\/]*$/) - 1) : "." }
function top(p) { return (p ~ /\//) ? substr(p, 1, index(p, "/") - 1) : p }
# node: X.c, X.h and X.S of one folder are one node.
function node(p) { sub(/\.[chS]$/, "", p); return p }

# ipath: the -I folders a file of top folder t is compiled with, in the
# Makefile order.
function ipath(t) {
    if (t == "tests") return "include term runtime net tests/support"
    return "include"
}
# The layer number of a file of the library or tools (-1: none).
function layer(p,    t) {
    t = top(p)
    if (t == "include") return (p in publayer) ? lnum[publayer[p]] : -1
    return (t in lnum) ? lnum[t] : -1
}
# resolve: the tree file an include names, or "" (a system header).
function resolve(from, name, quoted,    cands, n, i, dirs) {
    n = 0
    if (quoted) cands[++n] = norm(dirof(from) "/" name)
    split(ipath(top(from)), dirs, " ")
    for (i = 1; i in dirs; i++) cands[++n] = norm(dirs[i] "/" name)
    for (i = 1; i <= n; i++) if (cands[i] in isfile) return cands[i]
    return ""
}
# seam_ok: whether header h is a declared seam for file f.
function seam_ok(h, f,    n, i, w) {
    if (!(h in seamwho)) return 0
    n = split(seamwho[h], w, " ")
    for (i = 1; i <= n; i++)
        if (w[i] == f || (w[i] ~ /\/$/ && index(f, w[i]) == 1)) { seamused[h] = 1; return 1 }
    return 0
}

# dfs: colour 1 on the stack, 2 done; a grey successor closes a cycle.
function dfs(u,    i, v, j, k, key, by, best, m, mnext, nn, allnet, msg) {
    colour[u] = 1
    stack[++sp] = u
    for (i = 1; i <= nsucc[u]; i++) {
        v = succ[u, i]
        if (colour[v] == 1) {
            # the cycle: v ... u v, written from its smallest node so each
            # cycle is reported once whichever node the search entered by.
            for (j = sp; stack[j] != v; j--) ;
            nn = 0
            for (k = j; k <= sp; k++) cyc[++nn] = stack[k]
            best = 1
            for (k = 2; k <= nn; k++) if (cyc[k] < cyc[best]) best = k
            key = ""
            by = ""
            allnet = 1
            for (k = 0; k < nn; k++) {
                m = cyc[(best + k - 1) % nn + 1]
                mnext = cyc[(best + k) % nn + 1]
                key = key m " -> "
                by = by (k ? "; " : "") where[m, mnext]
                if (m !~ /^net\//) allnet = 0
            }
            key = key cyc[best]
            if (!(key in seencycle)) {
                seencycle[key] = 1
                msg = "cycle " key ": " by
                if (allnet && allow_net_cycle == "1")
                    print "check-layers: allowed until the seam branch lands (CHECK_LAYERS_ALLOW_NET_CYCLE=1): " msg
                else
                    fail(msg)
            }
        } else if (colour[v] == 0) {
            dfs(v)
        }
    }
    sp--
    colour[u] = 2
}

BEGIN {
    lnum["term"] = 0; lnum["runtime"] = 1; lnum["net"] = 2; lnum["tools"] = 3
    lname[0] = "term"; lname[1] = "runtime"; lname[2] = "net"; lname[3] = "tools"
    n = split(seams, sl, "\n")
    for (i = 1; i <= n; i++) {
        line = sl[i]
        sub(/#.*/, "", line)
        m = split(line, w, " ")
        if (m == 0) continue
        if (m < 2) { fail("seam list: \"" sl[i] "\" names no includer"); continue }
        seamwho[w[1]] = ""
        for (j = 2; j <= m; j++) seamwho[w[1]] = seamwho[w[1]] " " w[j]
    }
    n = split(publics, pl, "\n")
    for (i = 1; i <= n; i++) {
        if (split(pl[i], w, " ") < 2) continue
        if (!(w[2] in lnum)) { fail("PUBLIC_LAYERS: " w[1] ": no layer " w[2]); continue }
        publayer[w[1]] = w[2]
    }
}
{ isfile[$0] = 1; order[++nfiles] = $0 }
END {
    for (h in seamwho) if (!(h in isfile)) fail("seam list: " h " is not a file of the tree")
    for (h in publayer) if (!(h in isfile)) fail("PUBLIC_LAYERS: " h " is not a file of the tree")
    for (fi = 1; fi <= nfiles; fi++) {
        f = order[fi]
        g = top(f)
        if (top(f) == "include" && !(f in publayer))
            fail(f ": a public header with no layer (add it to PUBLIC_LAYERS in tests/check_layers.sh)")
        ln = 0
        while ((getline line < f) > 0) {
            ln++
            if (line !~ /^[ \t]*#[ \t]*include[ \t]*[<"]/) continue
            quoted = (line ~ /^[ \t]*#[ \t]*include[ \t]*"/)
            name = line
            sub(/^[ \t]*#[ \t]*include[ \t]*[<"]/, "", name)
            sub(/[>"].*$/, "", name)
            inc = f ":" ln ": #include " (quoted ? "\"" name "\"" : "<" name ">")
            r = resolve(f, name, quoted)
            if (r == "") {
                if (quoted) fail(inc ": names no file of the tree")
                continue
            }
            # the graph
            a = node(f); b = node(r)
            if (a != b && !((a, b) in where)) {
                where[a, b] = inc
                if (graph == "1") print a " -> " b
                succ[a, ++nsucc[a]] = b
                if (!(a in known)) { known[a] = 1; nodes[++nnodes] = a }
                if (!(b in known)) { known[b] = 1; nodes[++nnodes] = b }
            }
            if (g == "tests") continue
            rt = top(r)
            if (g == "examples" || g == "bench") {
                if (rt != "include")
                    fail(inc ": " g "/ may include only public headers (<ember.h>, <ember/...>), not " r)
                continue
            }
            lf = layer(f); lr = layer(r)
            if (rt == "tests" || rt == "examples" || rt == "bench") {
                fail(inc ": the library and tools include nothing of " rt "/ (" r ")")
                continue
            }
            if (lf >= 0 && lr >= 0 && lr > lf) {
                fail(inc ": goes up a layer (" lname[lf] " includes " r ", of " lname[lr] ")")
                continue
            }
            if (rt != "include" && rt != top(f) && !seam_ok(r, f))
                fail(inc ": crosses into a private header of " rt "/, " r \
                     " (not a declared seam for " f ": SEAMS in tests/check_layers.sh)")
        }
        close(f)
    }
    for (h in seamwho)
        if ((h in isfile) && !(h in seamused))
            fail("seam list: " h " is declared for" seamwho[h] ", which no longer include it: drop the line")
    sp = 0
    for (i = 1; i <= nnodes; i++) if (colour[nodes[i]] == 0) dfs(nodes[i])
    if (!failed) print "check-layers: ok: " nfiles " files, no include up a layer, across folders outside the declared seams, or closing a cycle"
    exit failed
}' || st=1

# Rule 4: where each function a header names is defined.
printf '%s\n' "$files" | awk -v publics="$PUBLIC_LAYERS" '
function fail(msg) { print "check-layers: FAIL: " msg; failed = 1 }
function top(p) { return (p ~ /\//) ? substr(p, 1, index(p, "/") - 1) : p }
function layer(p,    t) {
    t = top(p)
    if (t == "include") return (p in publayer) ? lnum[publayer[p]] : -1
    return (t in lnum) ? lnum[t] : -1
}
# strip: line without comments (state in incomment) and string literals.
function strip(line,    out, i) {
    out = ""
    while (line != "") {
        if (incomment) {
            i = index(line, "*/")
            if (i == 0) return out
            line = substr(line, i + 2); incomment = 0; continue
        }
        i = index(line, "/*")
        if (i == 0) { out = out line; break }
        out = out substr(line, 1, i - 1) " "
        line = substr(line, i + 2); incomment = 1
    }
    sub(/\/\/.*/, "", out)
    gsub(/"([^"\\]|\\.)*"/, "\"\"", out)
    return out
}
function define(name, f) { if (!(name in deflayer) || layer(f) < deflayer[name]) { deflayer[name] = layer(f); defwhere[name] = f } }
BEGIN {
    lnum["term"] = 0; lnum["runtime"] = 1; lnum["net"] = 2; lnum["tools"] = 3
    lname[0] = "term"; lname[1] = "runtime"; lname[2] = "net"; lname[3] = "tools"
    n = split(publics, pl, "\n")
    for (i = 1; i <= n; i++) if (split(pl[i], w, " ") >= 2) publayer[w[1]] = w[2]
}
{
    f = $0
    if (layer(f) < 0) next
    ln = 0; incomment = 0; pending = ""; ish = (f ~ /\.h$/); isS = (f ~ /\.S$/)
    while ((getline raw < f) > 0) {
        ln++
        if (isS) {
            # an assembler label em_x: or em__x: defines it
            if (match(raw, /^[ \t]*em_[A-Za-z0-9_]*:/)) { nm = substr(raw, RSTART, RLENGTH - 1); gsub(/[ \t]/, "", nm); define(nm, f) }
            continue
        }
        line = strip(raw)
        if (line ~ /^[ \t]*#[ \t]*define[ \t]+em_[A-Za-z0-9_]*\(/) {
            nm = line; sub(/^[ \t]*#[ \t]*define[ \t]+/, "", nm); sub(/\(.*/, "", nm)
            define(nm, f)
            continue
        }
        if (line ~ /^[ \t]*#/) continue
        # a definition: a line at column 0 naming em_x( that opens a body
        # before any `;` ends it as a declaration
        if (pending != "") {
            if (line ~ /;[ \t]*$/) pending = ""
            else if (line ~ /^\{/ || line ~ /\)[ \t]*\{[ \t]*$/) { define(pending, f); pending = "" }
        }
        if (line ~ /^[A-Za-z_]/ && match(line, /em_[A-Za-z0-9_]*[ \t]*\(/)) {
            nm = substr(line, RSTART, RLENGTH); sub(/[ \t]*\($/, "", nm)
            if (line ~ /^typedef/ || line ~ /\)[^;]*\{/) define(nm, f)
            else if (line !~ /;[ \t]*$/) pending = nm
        }
        if (!ish) continue
        # every em_x( a header names, declared or called
        rest = line
        while (match(rest, /(^|[^A-Za-z0-9_])em_[A-Za-z0-9_]*[ \t]*\(/)) {
            nm = substr(rest, RSTART, RLENGTH); sub(/^[^e]*/, "", nm); sub(/[ \t]*\($/, "", nm)
            rest = substr(rest, RSTART + RLENGTH)
            if (!((f, nm) in named)) { named[f, nm] = ln; hnames[++nh] = f SUBSEP nm }
        }
    }
    close(f)
}
END {
    for (i = 1; i <= nh; i++) {
        split(hnames[i], w, SUBSEP); h = w[1]; nm = w[2]
        where = h ":" named[h, nm] ": " nm
        if (!(nm in deflayer)) { fail(where ": declared, defined nowhere (a stale declaration?)"); continue }
        if (deflayer[nm] > layer(h))
            fail(where ": defined in " defwhere[nm] " (" lname[deflayer[nm]] "), above this header (" lname[layer(h)] ")")
    }
    if (!failed) print "check-layers: ok: every function a header names is defined at its layer or below"
    exit failed
}' || st=1
exit ${st:-0}
