# bench/svg.awk: draws build/bench/results.tsv as an SVG bar chart (bench/
# run.sh runs it: awk -F'\t' -f bench/svg.awk -v machine=TEXT results.tsv).
#
# One group per workload, three bars: ember, BEAM and the limit, each as
# "times BEAM" on a log scale, so that BEAM is always 1 and every bar reads
# the same way whatever the unit: higher is better (for a time or a size,
# BEAM's figure over the other's).  A workload without a limit has two
# bars.  dist_stream_64k_tcp's second figure is raw TCP, not BEAM (bench/
# run.sh), and its label says so.  Plain SVG 1.1, no script, no external
# font: any browser shows it.

# x_beam: value v (ember or limit) of row as times BEAM, in the direction
# the ratio column uses (rate: v/beam; a time or size: beam/v).
function x_beam(v, e, b, r) {
    if (v <= 0 || b <= 0 || e <= 0) return 0
    # A rate has ratio = e/b, a time or size ratio = b/e; whichever is closer.
    if (abs(e / b - r) <= abs(b / e - r)) return v / b
    return b / v
}
function abs(x) { return x < 0 ? -x : x }
function log10(x) { return log(x) / log(10) }
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
# y: pixel row of times-BEAM value v.
function y(v) { return TOP + PLOT_H * (hi - log10(v)) / (hi - lo) }

FNR == 1 && $1 == "workload" { next }
NF >= 5 && $3 > 0 && $4 > 0 {
    n++
    name[n] = $1
    ex[n] = $5 + 0
    lx[n] = (NF >= 6 && $6 > 0) ? x_beam($6 + 0, $3 + 0, $4 + 0, $5 + 0) : 0
}
END {
    if (n == 0) { print "svg.awk: no rows" > "/dev/stderr"; exit 1 }
    # The scale: whole decades around every bar and 1.
    mn = 1; mx = 1
    for (i = 1; i <= n; i++) {
        if (ex[i] > 0 && ex[i] < mn) mn = ex[i]
        if (ex[i] > mx) mx = ex[i]
        if (lx[i] > 0 && lx[i] < mn) mn = lx[i]
        if (lx[i] > mx) mx = lx[i]
    }
    lo = int(log10(mn)); if (10 ^ lo > mn) lo--
    if (lo > -1) lo = -1
    hi = int(log10(mx)); if (10 ^ hi < mx) hi++
    if (hi < 1) hi = 1

    BAR = 10; GAP = 14; LEFT = 70; TOP = 60; PLOT_H = 360; LABEL_H = 170
    GROUP = 3 * BAR + GAP
    W = LEFT + n * GROUP + 20
    H = TOP + PLOT_H + LABEL_H
    bottom = y(10 ^ lo)
    printf "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n", W, H, W, H
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
    printf "<text x=\"%d\" y=\"20\" font-size=\"15\" font-weight=\"bold\">ember vs BEAM, and the limit: times BEAM (log scale, higher is better)</text>\n", LEFT
    printf "<text x=\"%d\" y=\"38\" fill=\"#555\">%s</text>\n", LEFT, esc(machine)
    # legend
    lgx = W - 260
    printf "<rect x=\"%d\" y=\"28\" width=\"10\" height=\"10\" fill=\"#d9480f\"/><text x=\"%d\" y=\"37\">ember</text>\n", lgx, lgx + 14
    printf "<rect x=\"%d\" y=\"28\" width=\"10\" height=\"10\" fill=\"#5c7cfa\"/><text x=\"%d\" y=\"37\">BEAM</text>\n", lgx + 70, lgx + 84
    printf "<rect x=\"%d\" y=\"28\" width=\"10\" height=\"10\" fill=\"#adb5bd\"/><text x=\"%d\" y=\"37\">limit</text>\n", lgx + 140, lgx + 154
    # decades
    for (d = lo; d <= hi; d++) {
        yy = y(10 ^ d)
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n", LEFT, yy, W - 10, yy, d == 0 ? "#333" : "#ddd"
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%sx</text>\n", LEFT - 6, yy + 4, (d < 0 ? sprintf("%." (-d) "f", 10 ^ d) : sprintf("%d", 10 ^ d))
    }
    for (i = 1; i <= n; i++) {
        x0 = LEFT + (i - 1) * GROUP + GAP / 2
        split(ex[i] " 1 " lx[i], v, " ")
        split("#d9480f #5c7cfa #adb5bd", col, " ")
        split("ember BEAM limit", who, " ")
        for (k = 1; k <= 3; k++) {
            if (v[k] <= 0) continue
            yt = y(v[k])
            printf "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>%s %s: %.3gx BEAM</title></rect>\n", x0 + (k - 1) * BAR, yt, BAR - 1, bottom - yt, col[k], esc(name[i]), who[k], v[k]
        }
        lab = name[i] (name[i] == "dist_stream_64k_tcp" ? " (vs raw TCP)" : "")
        lx0 = x0 + 1.5 * BAR
        printf "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" transform=\"rotate(-60 %.1f %.1f)\">%s</text>\n", lx0, bottom + 12, lx0, bottom + 12, esc(lab)
    }
    printf "</svg>\n"
}
