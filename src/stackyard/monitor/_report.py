"""The HTML report of a monitoring run: one self-contained file (inline CSS and SVG, no
script, no link to anything), so it opens offline and can be mailed or archived as is.
Violations come first, then drift distances next to their thresholds, then per feature the
baseline and current distributions side by side."""

from __future__ import annotations

import html
import time
from typing import Any

import numpy as np

from stackyard.monitor._violations import categorical_shares, sketch_items

_CSS = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f4f4f4}.bad{color:#b00020;font-weight:600}
.ok{color:#11772d;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
.feat{display:inline-block;margin:8px 16px 8px 0;vertical-align:top}
.key span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""
BASE, CUR = "#8da0cb", "#fc8d62"
_BINS = 20


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _n(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else _e(x)


def _bars(labels: list[str], base: list[float], cur: list[float], width: int = 320,
          height: int = 120) -> str:
    """Paired bars (baseline, current) as inline SVG; heights are shares of each side."""
    top = max([*base, *cur, 1e-12])
    slot = width / max(len(labels), 1)
    parts = [f'<svg width="{width}" height="{height + 14}" role="img">']
    for i, (label, b, c) in enumerate(zip(labels, base, cur, strict=True)):
        x = i * slot
        for j, (v, colour) in enumerate(((b, BASE), (c, CUR))):
            h = height * v / top
            parts.append(f'<rect x="{x + j * slot / 2:.1f}" y="{height - h:.1f}" '
                         f'width="{max(slot / 2 - 1, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                         f"<title>{_e(label)}: {'baseline' if j == 0 else 'current'} "
                         f"{100 * v:.2f}%</title></rect>")
    if labels:
        parts.append(f'<text x="0" y="{height + 12}" font-size="10">{_e(labels[0])}</text>')
        parts.append(f'<text x="{width}" y="{height + 12}" font-size="10" text-anchor="end">'
                     f"{_e(labels[-1])}</text>")
    return "".join(parts) + "</svg>"


def _gauge(distance: float, threshold: float, width: int = 160) -> str:
    """The drift distance as a bar on [0, 1] with the threshold marked."""
    colour = "#b00020" if distance > threshold else "#11772d"
    return (f'<svg width="{width}" height="12">'
            f'<rect width="{width}" height="12" fill="#eee"/>'
            f'<rect width="{width * min(distance, 1):.1f}" height="12" fill="{colour}"/>'
            f'<rect x="{width * min(threshold, 1):.1f}" width="2" height="12" fill="#000"/>'
            "</svg>")


def _histogram(base: dict[str, Any], cur: dict[str, Any]) -> str:
    a, b = sketch_items(base), sketch_items(cur)
    if a is None or b is None:
        return ""
    lo = min(a[0].min(), b[0].min())
    hi = max(a[0].max(), b[0].max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1, _BINS + 1)
    ha = np.histogram(a[0], edges, weights=a[1])[0] / a[1].sum()
    hb = np.histogram(b[0], edges, weights=b[1])[0] / b[1].sum()
    labels = [f"{edges[i]:.4g}" for i in range(_BINS)]
    labels[-1] = f"{edges[-1]:.4g}"
    return _bars(labels, ha.tolist(), hb.tolist())


def _categories(base: dict[str, Any], cur: dict[str, Any]) -> str:
    a, b = categorical_shares(base), categorical_shares(cur)
    keys = sorted(a.keys() | b.keys(), key=lambda k: -(a.get(k, 0) + b.get(k, 0)))[:12]
    return _bars(keys, [a.get(k, 0.0) for k in keys], [b.get(k, 0.0) for k in keys])


def data_quality(title: str, current: dict[str, Any], baseline: dict[str, Any] | None,
                 violations: list[dict[str, Any]], drift: list[dict[str, Any]]) -> str:
    """The report of a data-quality run (``baseline`` None: a baseline job's profile)."""
    out = [_head(title, current["dataset"]["item_count"], violations)]
    if drift:
        out.append("<h2>Drift</h2><table><tr><th>feature</th><th>kind</th>"
                   "<th class=num>distance</th><th class=num>allowance</th>"
                   "<th class=num>effective</th><th class=num>threshold</th><th></th></tr>")
        for d in sorted(drift, key=lambda d: -d["effective"]):
            cls = "bad" if d["drifted"] else "ok"
            out.append(f"<tr><td class={cls}>{_e(d['feature_name'])}</td><td>{_e(d['kind'])}"
                       f"</td><td class=num>{_n(d['distance'])}</td><td class=num>"
                       f"{_n(d['allowance'])}</td><td class=num>{_n(d['effective'])}</td>"
                       f"<td class=num>{_n(d['threshold'])}</td>"
                       f"<td>{_gauge(d['effective'], d['threshold'])}</td></tr>")
        out.append("</table>")
    out.append(f'<h2>Features</h2><div class=key>baseline<span style="background:{BASE}">'
               f'</span> current<span style="background:{CUR}"></span></div>')
    base = {f["name"]: f for f in (baseline or {}).get("features", [])}
    for f in current["features"]:
        b = base.get(f["name"], f)
        if "numerical_statistics" in f and "numerical_statistics" in b:
            s = f["numerical_statistics"]
            pic = _histogram(b["numerical_statistics"], s)
            facts = (f"mean {_n(s['mean'])}, std {_n(s['std_dev'])}, min {_n(s['min'])}, "
                     f"max {_n(s['max'])}")
        elif "string_statistics" in f and "string_statistics" in b:
            s = f["string_statistics"]
            pic = _categories(b["string_statistics"], s)
            facts = f"distinct ≈ {_n(s.get('distinct_count'))}"
        else:
            s = f.get("numerical_statistics") or f.get("string_statistics") or {}
            pic, facts = "", "type differs from the baseline"
        common = s.get("common", {})
        out.append(f"<div class=feat><b>{_e(f['name'])}</b> ({_e(f['inferred_type'])})<br>"
                   f"{common.get('num_present', 0)} present, {common.get('num_missing', 0)} "
                   f"missing; {facts}<br>{pic}</div>")
    return "".join(out) + "</body></html>"


def model_quality(title: str, n: int, values: dict[str, float],
                  constraints: dict[str, dict[str, Any]] | None,
                  violations: list[dict[str, Any]]) -> str:
    out = [_head(title, n, violations),
           "<h2>Metrics</h2><table><tr><th>metric</th><th class=num>value</th><th>check</th></tr>"]
    for name, v in values.items():
        c = (constraints or {}).get(name)
        check = f"{_e(c['comparison_operator'])} {_n(c['threshold'])}" if c else "-"
        bad = any(x.get("metric_name") == name for x in violations)
        out.append(f"<tr><td class={'bad' if bad else 'ok'}>{_e(name)}</td>"
                   f"<td class=num>{_n(v)}</td><td>{check}</td></tr>")
    return "".join(out) + "</table></body></html>"


def _head(title: str, rows: int, violations: list[dict[str, Any]]) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    out = [(f"<!doctype html><html><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"
            f"<p>{stamp} · {rows} rows · <span class={'bad' if violations else 'ok'}>"
            f"{len(violations)} violation(s)</span></p>")]
    if violations:
        out.append("<h2>Violations</h2><table><tr><th>feature / metric</th><th>check</th>"
                   "<th>description</th></tr>")
        for v in violations:
            out.append(f"<tr><td class=bad>{_e(v.get('feature_name') or v.get('metric_name'))}"
                       f"</td><td>{_e(v['constraint_check_type'])}</td>"
                       f"<td>{_e(v['description'])}</td></tr>")
        out.append("</table>")
    return "".join(out)
