"""Inline SVG drawings for the pages: a pipeline's DAG, a run's Gantt chart, line charts and
a parallel-coordinates plot.

Drawn in Python on the server, so a page needs no chart library and no network, and every
label goes through ``markupsafe.escape`` (a step named ``<script>`` is text in the SVG). The
shapes carry classes (``st-Succeeded``, ``edge-branch``) and the stylesheet colours them, so
dark mode and live status updates are a matter of CSS and a class change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

NODE_W, NODE_H, GAP_X, GAP_Y = 150, 34, 44, 16
PALETTE = ("#2f6fde", "#d9480f", "#2b8a3e", "#9c36b5", "#e8590c", "#0b7285", "#c2255c",
           "#5c940d", "#364fc7", "#862e9c")


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _svg(w: float, h: float, body: Iterable[str], label: str, cls: str) -> Markup:
    return Markup(f'<svg class="{cls}" viewBox="0 0 {_n(w)} {_n(h)}" width="{_n(w)}" '
                  f'role="img" aria-label="{escape(label)}" '
                  f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>')


# ---- DAG -----------------------------------------------------------------------------------
@dataclass
class Edge:
    src: str
    dst: str
    kind: str            # data | depends | branch | failure
    label: str = ""


@dataclass
class Graph:
    nodes: dict[str, str]                       # name -> step type
    edges: list[Edge] = field(default_factory=list)


def pipeline_graph(definition: dict[str, Any]) -> Graph:
    """Steps as nodes; edges from property references (data), ``DependsOn``, condition
    branches (labelled ``if true``/``else``) and ``on_failure`` handlers. Uses the engine's
    own compiler, so the picture is the DAG the engine runs."""
    from stackyard.engine import compile_definition

    pdef = compile_definition(definition)
    g = Graph({n: s.type for n, s in pdef.steps.items()})
    for name, s in pdef.steps.items():
        branches = dict(pdef.branch_of.get(name, []))
        declared = set(s.raw.get("DependsOn", []))
        for dep in sorted(s.deps):
            if dep in branches:
                g.edges.append(Edge(dep, name, "branch", "if true" if branches[dep] else "else"))
            else:
                g.edges.append(Edge(dep, name, "depends" if dep in declared else "data"))
        if s.on_failure:
            g.edges.append(Edge(name, s.on_failure, "failure", "on failure"))
    return g


def _layers(g: Graph) -> list[list[str]]:
    """Longest-path layering (each node one column right of its furthest parent), then one
    barycentre pass per column so children sit near their parents."""
    parents: dict[str, list[str]] = {n: [] for n in g.nodes}
    for e in g.edges:
        parents[e.dst].append(e.src)
    depth: dict[str, int] = {}
    for root in g.nodes:   # iterative: a 1,000-state chain is deeper than Python's stack
        if root in depth:
            continue
        stack, on_path, best = [(root, iter(parents[root]))], {root}, {root: -1}
        while stack:
            n, todo = stack[-1]
            for p in todo:
                if p in on_path:        # a loop back (a Choice, a retry): not a parent here
                    continue
                if p not in depth:
                    stack.append((p, iter(parents[p])))
                    on_path.add(p)
                    best[p] = -1
                    break
                best[n] = max(best[n], depth[p])
            else:
                stack.pop()
                on_path.discard(n)
                depth[n] = best[n] + 1
                if stack:
                    up = stack[-1][0]
                    best[up] = max(best[up], depth[n])
    cols: list[list[str]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for n in g.nodes:
        cols[depth[n]].append(n)
    pos: dict[str, float] = {}
    for col in cols:
        def centre(n: str) -> float:
            ps = [pos[p] for p in parents[n] if p in pos]
            return sum(ps) / len(ps) if ps else math.inf
        col.sort(key=lambda n: (centre(n), n))
        for i, n in enumerate(col):
            pos[n] = i
    return cols


def dag(g: Graph, status: dict[str, str] | None = None, link: str | None = None) -> Markup:
    """The graph left to right. ``status``: step -> status, shown as the node's class
    (``st-Executing``); ``link``: each node links to ``link + step name`` (an anchor)."""
    status = status or {}
    cols = _layers(g)
    tallest = max((len(c) for c in cols), default=1)
    h = tallest * (NODE_H + GAP_Y) + GAP_Y
    w = len(cols) * (NODE_W + GAP_X) - GAP_X + 24
    xy: dict[str, tuple[float, float]] = {}
    for i, col in enumerate(cols):
        top = (h - len(col) * (NODE_H + GAP_Y) + GAP_Y) / 2
        for j, n in enumerate(col):
            xy[n] = (12 + i * (NODE_W + GAP_X), top + j * (NODE_H + GAP_Y))
    body = ['<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" class="arrowhead"/>'
            '</marker></defs>']
    for e in g.edges:
        (x1, y1), (x2, y2) = xy[e.src], xy[e.dst]
        ax, ay = x1 + NODE_W, y1 + NODE_H / 2
        bx, by = x2, y2 + NODE_H / 2
        if bx <= ax:                     # a handler drawn in the same or an earlier column
            ax, ay, bx, by = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2
        mx = (ax + bx) / 2
        body.append(f'<path class="edge edge-{e.kind}" d="M{_n(ax)},{_n(ay)} C{_n(mx)},'
                    f'{_n(ay)} {_n(mx)},{_n(by)} {_n(bx)},{_n(by)}" marker-end="url(#arrow)">'
                    f'<title>{escape(e.src)} → {escape(e.dst)} ({e.kind})</title></path>')
        if e.label:   # near the arrow's end, where branches have already parted
            body.append(f'<text class="edge-label" x="{_n(bx - 6)}" y="{_n(by - 5)}" '
                        f'text-anchor="end">{escape(e.label)}</text>')
    for n, (x, y) in xy.items():
        st = status.get(n, "")
        node = (f'<g class="node st-{escape(st or "none")}" data-step="{escape(n)}">'
                f'<title>{escape(n)} ({escape(g.nodes[n])}){": " + escape(st) if st else ""}'
                f'</title><rect x="{_n(x)}" y="{_n(y)}" width="{NODE_W}" height="{NODE_H}" '
                f'rx="6"/><text x="{_n(x + 10)}" y="{_n(y + 15)}" class="node-name">'
                f'{escape(_short(n, 20))}</text><text x="{_n(x + 10)}" y="{_n(y + 28)}" '
                f'class="node-type">{escape(g.nodes[n])}<tspan class="node-status">'
                f'{" · " + escape(st) if st else ""}</tspan></text></g>')
        if link is not None:
            node = f'<a href="{escape(link)}{escape(n)}">{node}</a>'
        body.append(node)
    return _svg(w, h, body, f"pipeline graph of {len(g.nodes)} steps", "dag")


# ---- axes and charts -------------------------------------------------------------------------
def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.2g}"
    return f"{v:.4g}"


def _range(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def line_chart(series: dict[str, Sequence[tuple[float, float]]], *, title: str,
               xlabel: str = "", ylabel: str = "", style: dict[str, str] | None = None,
               hline: tuple[float, str] | None = None, w: int = 560, h: int = 240) -> Markup:
    """Series on shared axes, each points joined by a line (``style[name]``: ``"step"``, a
    step line such as best-so-far; ``"dots"``, points only); ``hline``: a dashed
    horizontal line with its label (a threshold). A legend above the plot names them."""
    style = style or {}
    rows = -(-len(series) // 4) if len(series) > 1 else 0
    left, right, top, bottom = 56, 12, 26 + 14 * rows, 34
    pts = [p for s in series.values() for p in s if math.isfinite(p[1])]
    xs = [p[0] for p in pts] or [0.0, 1.0]
    ys = [p[1] for p in pts] + ([hline[0]] if hline else [])
    x0, x1 = _range(xs)
    y0, y1 = _range(ys)

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (w - left - right)

    def sy(y: float) -> float:
        return h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom)

    body = [f'<text class="chart-title" x="{left}" y="14">{escape(title)}</text>',
            f'<line class="axis" x1="{left}" y1="{h - bottom}" x2="{w - right}" '
            f'y2="{h - bottom}"/><line class="axis" x1="{left}" y1="{top}" x2="{left}" '
            f'y2="{h - bottom}"/>']
    for t in _ticks(y0, y1):
        body.append(f'<line class="grid" x1="{left}" x2="{w - right}" y1="{_n(sy(t))}" '
                    f'y2="{_n(sy(t))}"/><text class="tick" x="{left - 4}" y="{_n(sy(t) + 4)}" '
                    f'text-anchor="end">{_fmt(t)}</text>')
    whole = all(float(x).is_integer() for x in xs)     # trial or check numbers
    for t in _ticks(x0, x1):
        if whole and not float(t).is_integer():
            continue
        body.append(f'<text class="tick" x="{_n(sx(t))}" y="{h - bottom + 14}" '
                    f'text-anchor="middle">{_fmt(t)}</text>')
    if xlabel:
        body.append(f'<text class="tick" x="{w - right}" y="{h - 4}" text-anchor="end">'
                    f'{escape(xlabel)}</text>')
    if ylabel:
        body.append(f'<text class="tick" x="4" y="{top - 8}">{escape(ylabel)}</text>')
    if hline:
        body.append(f'<line class="threshold" x1="{left}" x2="{w - right}" '
                    f'y1="{_n(sy(hline[0]))}" y2="{_n(sy(hline[0]))}"/><text class="tick" '
                    f'x="{w - right}" y="{_n(sy(hline[0]) - 4)}" text-anchor="end">'
                    f'{escape(hline[1])}</text>')
    for i, (name, s) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        good = [(x, y) for x, y in s if math.isfinite(y)]
        if not good:
            continue
        path, last = [], None
        for x, y in good:
            if style.get(name) == "step" and last is not None:
                path.append(f"{_n(sx(x))},{_n(sy(last))}")
            path.append(f"{_n(sx(x))},{_n(sy(y))}")
            last = y
        if style.get(name) != "dots":
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                        f'points="{" ".join(path)}"><title>{escape(name)}</title></polyline>')
        body.extend(f'<circle cx="{_n(sx(x))}" cy="{_n(sy(y))}" r="2.6" fill="{colour}">'
                    f'<title>{escape(name)}: {_fmt(y)} at {_fmt(x)}</title></circle>'
                    for x, y in good[:400])
        if len(series) > 1:
            lx = left + (i % 4) * 130
            ly = 34 + (i // 4) * 14
            body.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="3" fill="{colour}"/>'
                        f'<text class="legend" x="{lx + 14}" y="{ly - 4}">'
                        f'{escape(_short(name, 18))}</text>')
    return _svg(w, h, body, title, "chart")


def gantt(rows: Sequence[dict[str, Any]], t0: float, now: float, w: int = 760) -> Markup:
    """One row per step: a bar per attempt from its start to its end (or ``now`` while it
    runs), coloured by status; a cache hit is drawn as a thin hatched bar."""
    left, right, row_h, top = 170, 14, 20, 18
    t1 = max([now if a["end_time"] is None else a["end_time"] for r in rows
              for a in r["attempts"]] + [t0 + 1e-3])
    span = max(t1 - t0, 1e-3)
    h = top + row_h * max(len(rows), 1) + 8

    def sx(t: float) -> float:
        return left + (t - t0) / span * (w - left - right)

    body = []
    for t in _ticks(0, span, 6):
        body.append(f'<line class="grid" x1="{_n(sx(t0 + t))}" x2="{_n(sx(t0 + t))}" '
                    f'y1="{top - 4}" y2="{h - 6}"/><text class="tick" x="{_n(sx(t0 + t))}" '
                    f'y="{top - 6}" text-anchor="middle">{_fmt(t)}s</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h
        body.append(f'<text class="tick" x="{left - 6}" y="{y + 14}" text-anchor="end">'
                    f'{escape(_short(r["step"], 24))}</text>')
        for a in r["attempts"]:
            start = a["start_time"]
            end = now if a["end_time"] is None else a["end_time"]
            x = sx(start)
            bw = max(sx(end) - x, 2)
            cls = "cache" if r.get("cache_hit") else f"st-{escape(a['status'])}"
            body.append(f'<rect class="bar {cls}" x="{_n(x)}" y="{y + 3}" width="{_n(bw)}" '
                        f'height="{row_h - 6}" rx="2"><title>{escape(r["step"])} attempt '
                        f'{a["n"]}: {escape(a["status"])}, {end - start:.2f}s</title></rect>')
    return _svg(w, h, body, "timeline of the run's steps", "gantt")


def bars(rows: Sequence[tuple[str, float, float]], *, title: str, w: int = 560) -> Markup:
    """Horizontal bars (label, value, threshold): a value past its threshold is ``bad``."""
    left, right, row_h, top = 150, 60, 18, 22
    hi = max([v for _, v, t in rows] + [t for _, v, t in rows] + [1e-9])
    h = top + row_h * max(len(rows), 1) + 6

    def sx(v: float) -> float:
        return left + v / hi * (w - left - right)

    body = [f'<text class="chart-title" x="4" y="14">{escape(title)}</text>']
    for i, (label, v, t) in enumerate(rows):
        y = top + i * row_h
        body.append(f'<text class="tick" x="{left - 6}" y="{y + 12}" text-anchor="end">'
                    f'{escape(_short(label, 22))}</text><rect class="bar '
                    f'{"bad" if v > t else "ok"}" x="{left}" y="{y + 2}" '
                    f'width="{_n(max(sx(v) - left, 1))}" height="{row_h - 6}"><title>'
                    f'{escape(label)}: {_fmt(v)} (threshold {_fmt(t)})</title></rect>'
                    f'<line class="threshold" x1="{_n(sx(t))}" x2="{_n(sx(t))}" y1="{y}" '
                    f'y2="{y + row_h - 2}"/><text class="tick" x="{_n(sx(v) + 4)}" '
                    f'y="{y + 12}">{_fmt(v)}</text>')
    return _svg(w, h, body, title, "chart")


def parallel(trials: Sequence[dict[str, Any]], names: Sequence[str], objective: str,
             minimize: bool, w: int = 760, h: int = 280) -> Markup:
    """Parallel coordinates: one vertical axis per hyperparameter and one for the objective;
    each completed trial a line, the best one drawn last and thick. Categorical values are
    spread evenly along their axis."""
    axes = [*names, objective]
    done = [t for t in trials if t.get("objective") is not None]
    left, right, top, bottom = 40, 70, 26, 22
    gap = (w - left - right) / max(len(axes) - 1, 1)

    def values(a: str) -> list[Any]:
        return [t["objective"] if a == objective else t["hyperparameters"].get(a)
                for t in done]

    scale: dict[str, Any] = {}
    for a in axes:
        vs = values(a)
        nums = [float(v) for v in vs if _numeric(v)]
        if len(nums) == len(vs):
            scale[a] = ("num", *_range(nums))
        else:
            scale[a] = ("cat", sorted({str(v) for v in vs}))

    def y(a: str, v: Any) -> float:
        kind, *rest = scale[a]
        if kind == "num":
            lo, hi = rest
            frac = (float(v) - lo) / (hi - lo)
        else:
            cats = rest[0]
            frac = (cats.index(str(v)) + 0.5) / len(cats)
        return h - bottom - frac * (h - top - bottom)

    best = None
    if done:
        best = (min if minimize else max)(done, key=lambda t: t["objective"])
    body = []
    for i, a in enumerate(axes):
        x = left + i * gap
        body.append(f'<line class="axis" x1="{_n(x)}" x2="{_n(x)}" y1="{top}" '
                    f'y2="{h - bottom}"/><text class="tick" x="{_n(x)}" y="{top - 10}" '
                    f'text-anchor="middle">{escape(_short(a, 20))}</text>')
        kind, *rest = scale[a]
        if kind == "num":
            labels = [(rest[0], _fmt(rest[0])), (rest[1], _fmt(rest[1]))]
        else:
            labels = [(c, c) for c in rest[0]]
        for v, text in labels:
            body.append(f'<text class="tick" x="{_n(x + 4)}" y="{_n(y(a, v) + 4)}">'
                        f'{escape(_short(str(text), 12))}</text>')
    for t in sorted(done, key=lambda t: t is best):
        pts = " ".join(f"{_n(left + i * gap)},{_n(y(a, v))}"
                       for i, (a, v) in enumerate(zip(axes, [*(t["hyperparameters"].get(n)
                                                                for n in names),
                                                             t["objective"]], strict=True)))
        cls = "pc-best" if t is best else "pc-line"
        body.append(f'<polyline class="{cls}" fill="none" points="{pts}"><title>trial '
                    f'{t["number"]}: {escape(objective)} {_fmt(t["objective"])}</title>'
                    '</polyline>')
    return _svg(w, h, body, f"hyperparameters against {objective}", "chart parallel")


def _numeric(v: Any) -> bool:
    if isinstance(v, bool) or v is None:
        return False
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
