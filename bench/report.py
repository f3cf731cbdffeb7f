#!/usr/bin/python3
"""Draws build/bench/summary.json as a picture: where shmrt stands against its peers.

Reads the summary that bench/run.py writes (a list of cases, each with shmrt's median,
its peers' medians, the ratios "shmrt better by" and the targets asked of the case) and
writes, next to it:

  report.svg   one row per (case, peer): a bar from 1x to the ratio on a log axis
               (right of 1x: shmrt better; left: the peer better), the ratio printed
               at its end, each target marked by a black bar across its row; green
               when the target is met, red when missed, blue where no target is set;
               cases grouped by module (the first part of their name), the rows of
               one case on one shaded band
  report.png   the same picture, for viewers that show no SVG
  report.html  the SVG inline, the count of targets met, and the figures as a table

A row whose ratio cannot be computed (shmrt or the peer not measured: a filtered
first run, a peer not built) is kept and says so, as is a target whose peer is absent.
Peers named shmrt_* are shmrt's own figures from another case of the same run (the
scaling references of bench/run.py).

Needs matplotlib (Debian: python3-matplotlib, which tools/install-deps.sh bench
installs); it draws with the Agg backend, no display. Without matplotlib it says so
and exits with status 1.

Usage: report.py [SUMMARY] [--out-dir DIR]   (defaults: build/bench/summary.json, its folder)
"""
import argparse
import html
import json
import math
import os
import re
import sys

GREEN, RED, BLUE, GREY = "#2e8b57", "#c0392b", "#4a78b5", "#888888"
TARGET = {"marker": "|", "markersize": 15, "markeredgewidth": 3, "color": "black", "zorder": 4}


def fmt(v):
    if v is None:
        return "-"
    for lim, div, suf in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(v) >= lim:
            return f"{v / div:.2f}{suf}"
    return f"{v:.3g}"


def fmt_ratio(r):
    return f"{r:.2f}x" if r < 10 else f"{r:.3g}x" if r < 1000 else f"{r:.0f}x"


def ratio(c, peer):
    """shmrt better by: bench/run.py's figure, or the same rule for an older summary."""
    if "ratios" in c:
        return c["ratios"].get(peer)
    s, p = c.get("shmrt"), c.get("peers", {}).get(peer)
    if not s or not p:
        return None
    return p / s if c.get("better", "lower") == "lower" else s / p


def rows_of(cases):
    """[(module, [(case, [row, ...]), ...]), ...] with row = dict(peer, value, ratio,
    target, verdict); modules and cases in name order."""
    modules = {}
    for c in sorted(cases, key=lambda c: c["case"]):
        peers = c.get("peers", {})
        targets = c.get("targets", {})
        rows = []
        for peer in sorted(set(peers) | set(targets)):
            r, t = ratio(c, peer), targets.get(peer)
            verdict = None if t is None or r is None else ("met" if r >= t else "missed")
            rows.append({"peer": peer, "value": peers.get(peer), "ratio": r,
                         "target": t, "verdict": verdict})
        if not rows:
            rows.append({"peer": "(no peer)", "value": None, "ratio": None,
                         "target": None, "verdict": None})
        modules.setdefault(c["case"].split("/")[0], []).append((c, rows))
    return sorted(modules.items())


def draw(groups, title, subtitle):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, NullLocator

    # Layout, top to bottom: per module a header line, then one line per row.
    lines = []          # (kind, payload): "module" -> name, "row" -> (case, row, first, band)
    band = 0
    for module, cases in groups:
        lines.append(("module", module))
        for c, rows in cases:
            for i, row in enumerate(rows):
                lines.append(("row", (c, row, i == 0, band)))
            band += 1
    n = len(lines)

    values = [1.0]
    for kind, p in lines:
        if kind == "row":
            values += [v for v in (p[1]["ratio"], p[1]["target"]) if v]
    # Room on the right of the largest figure for the text printed after it.
    lo = 10 ** math.floor(math.log10(min(values) / 1.5))
    hi = max(values) * 10

    fig_h = 1.8 + 0.23 * n
    fig, ax = plt.subplots(figsize=(10.5, fig_h))
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(n - 0.5, -0.5)

    # Monospace labels of one width: the case names line up on the left, the peers
    # on the right against the axis, the module names on the left above their cases.
    labels, styles = [], []
    name_w = max(len(p[0]["case"]) for k, p in lines if k == "row")
    peer_w = max(len(p[1]["peer"]) for k, p in lines if k == "row")
    for y, (kind, p) in enumerate(lines):
        if kind == "module":
            labels.append(f"{p:<{name_w + 2 + peer_w}}")
            styles.append("module")
            ax.axhline(y + 0.5, color="#bbbbbb", lw=0.6)
            continue
        c, row, first, b = p
        labels.append(f"{c['case'] if first else '':<{name_w}}  {row['peer']:>{peer_w}}")
        styles.append("row")
        if b % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="#f2f2f2", zorder=0, lw=0)
        r, t = row["ratio"], row["target"]
        if r is None:
            why = ("no peer" if row["peer"] == "(no peer)" else
                   "shmrt not measured" if not c.get("shmrt") else "peer not measured")
            ax.text(max(1, t or 1) * 1.08, y, why + (f"  (target ≥ {t:.3g}x)" if t else ""),
                    va="center", fontsize=8.5, color=GREY, style="italic")
            if t:
                ax.plot([t], [y], **TARGET)
            continue
        color = {"met": GREEN, "missed": RED}.get(row["verdict"], BLUE)
        ax.barh(y, r - 1 if r >= 1 else 1 - r, left=min(r, 1), height=0.56,
                color=color, alpha=0.85, zorder=2)
        if t:
            ax.plot([t], [y], **TARGET)
        # The text always right of the bar, the target and the 1x line: nothing to
        # collide with there, and the labels on the left stay clear.
        text = fmt_ratio(r)
        if t:
            text += f"  (target ≥ {t:.3g}x{', missed' if row['verdict'] == 'missed' else ''})"
        ax.text(max(r, t or r, 1) * 1.08, y, text, va="center", ha="left", fontsize=8.5,
                color=RED if row["verdict"] == "missed" else "#222222", zorder=5)

    ax.yaxis.set_major_locator(FixedLocator(range(n)))
    ax.set_yticklabels(labels)
    ax.yaxis.set_minor_locator(NullLocator())
    for lab, st in zip(ax.get_yticklabels(), styles):
        lab.set_family("monospace")
        lab.set_fontsize(8.5)
        if st == "module":
            lab.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)

    ax.axvline(1, color="#555555", lw=1.4, zorder=3)
    decades = [10.0 ** k for k in range(round(math.log10(lo)), math.floor(math.log10(hi)) + 1)]
    ax.xaxis.set_major_locator(FixedLocator(decades))
    ax.set_xticklabels([f"{d:g}x" for d in decades])
    ax.grid(axis="x", which="major", color="#cccccc", lw=0.6, zorder=1)
    ax.grid(axis="x", which="minor", color="#eeeeee", lw=0.4, zorder=1)
    ax.tick_params(axis="x", which="both", top=True, labeltop=True)
    ax.set_xlabel("shmrt better by (log scale): right of 1x shmrt is better, left of it the peer\n"
                  "peers named shmrt_*: shmrt's own figure in another case of the run "
                  "(scaling references)", fontsize=9.5)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)

    legend = [Patch(color=GREEN, label="target met"), Patch(color=RED, label="target missed"),
              Patch(color=BLUE, label="no target for this peer"),
              Line2D([], [], ls="none", label="target: shmrt better by at least", **TARGET),
              Line2D([], [], color="#555555", lw=1.4, label="1x: on par with the peer")]
    fig.legend(handles=legend, loc="upper center", ncol=5, fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.72 / fig_h))
    fig.suptitle(title, fontsize=14, fontweight="bold", y=1 - 0.12 / fig_h, va="top")
    fig.text(0.5, 1 - 0.45 / fig_h, subtitle, ha="center", va="top", fontsize=9.5, color="#444444")
    fig.subplots_adjust(top=1 - 1.35 / fig_h, bottom=0.75 / fig_h)
    return fig


def write_html(path, svg, groups, title, subtitle):
    svg = svg[svg.index("<svg"):]
    # Its natural size, smaller on a narrow window (the viewBox keeps the proportions).
    svg = re.sub(r'(<svg[^>]*?)\s+width="([^"]*)"\s+height="[^"]*"',
                 r'\1 style="width: \2; max-width: 100%; height: auto"', svg, count=1)
    body = []
    for module, cases in groups:
        for c, rows in cases:
            for i, row in enumerate(rows):
                r, t, v = row["ratio"], row["target"], row["verdict"]
                body.append(
                    f'<tr class="{v or ""}"><td>{html.escape(c["case"]) if i == 0 else ""}</td>'
                    f'<td>{html.escape(c.get("unit", "")) if i == 0 else ""}</td>'
                    f'<td class="n">{fmt(c.get("shmrt")) if i == 0 else ""}</td>'
                    f'<td>{html.escape(row["peer"])}</td><td class="n">{fmt(row["value"])}</td>'
                    f'<td class="n">{fmt_ratio(r) if r is not None else "-"}</td>'
                    f'<td class="n">{f"≥ {t:.3g}x" if t else ""}</td><td>{v or ""}</td></tr>')
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
svg text {{ white-space: pre; }}
table {{ border-collapse: collapse; font-size: 0.9em; margin-top: 1.5em; }}
td, th {{ padding: 0.15em 0.8em; text-align: left; border-bottom: 1px solid #eee; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.met td:last-child {{ color: {GREEN}; }} tr.missed td {{ color: {RED}; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(subtitle)}</p>
{svg}
<table><tr><th>case</th><th>unit</th><th>shmrt</th><th>peer</th><th>peer's figure</th>
<th>shmrt better by</th><th>target</th><th></th></tr>
{chr(10).join(body)}
</table></body></html>
"""
    with open(path, "w") as f:
        f.write(page)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("summary", nargs="?", default="build/bench/summary.json")
    ap.add_argument("--out-dir", help="where to write report.{html,svg,png} "
                    "(default: the folder of SUMMARY)")
    args = ap.parse_args()
    out_dir = args.out_dir or os.path.dirname(args.summary) or "."

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit(f"bench/report.py: no matplotlib for {sys.executable}, so no report drawn.\n"
                 "Install Debian's python3-matplotlib (as root: tools/install-deps.sh bench) "
                 "and run the report with /usr/bin/python3.")

    with open(args.summary) as f:
        cases = json.load(f)
    if not cases:
        sys.exit(f"bench/report.py: {args.summary} holds no case")
    groups = rows_of(cases)
    verdicts = [row["verdict"] for _, cs in groups for _, rows in cs for row in rows]
    met, missed = verdicts.count("met"), verdicts.count("missed")
    unknown = sum(1 for _, cs in groups for _, rows in cs for row in rows
                  if row["target"] and row["verdict"] is None)
    title = "shmrt against its peers"
    subtitle = (f"{len(cases)} cases from {os.path.basename(args.summary)} (medians; a filtered "
                f"run keeps the figures of earlier runs) — targets: {met} met, {missed} missed"
                + (f", {unknown} not measured" if unknown else ""))

    fig = draw(groups, title, subtitle)
    os.makedirs(out_dir, exist_ok=True)
    svg_path = os.path.join(out_dir, "report.svg")
    import matplotlib.pyplot as plt
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(svg_path, metadata={"Date": None}, bbox_inches="tight")
    fig.savefig(os.path.join(out_dir, "report.png"), dpi=110, bbox_inches="tight")
    # The labels are padded monospace text: an SVG viewer collapses runs of spaces
    # unless told to keep them.
    with open(svg_path) as f:
        svg = f.read().replace("<svg ", '<svg xml:space="preserve" ', 1)
    with open(svg_path, "w") as f:
        f.write(svg)
    html_path = os.path.join(out_dir, "report.html")
    write_html(html_path, svg, groups, title, subtitle)
    print(f"wrote {html_path} (picture: report.svg, report.png)")


if __name__ == "__main__":
    main()
