"""The drift report as one self-contained HTML page: the verdict and the rule that produced it
first, then the per-feature table with the statistic behind each verdict, then charts as inline
SVG (prediction scores, then every feature). No scripts, fonts or images are fetched.

One number format throughout: three significant digits (`_num`), shares as percentages (`_pct`).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:12px 0}th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}
.neutral{color:#8a6d00;font-weight:600}.rule{background:#f5f5f5;padding:8px 12px;border-radius:6px}
.grid{display:flex;flex-wrap:wrap;gap:16px}.card{border:1px solid #ddd;padding:8px;border-radius:6px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""
REF, CUR = "#9e9e9e", "#1565c0"
_EFFECT = {"wasserstein": "Wasserstein (sd)", "jensen_shannon": "Jensen-Shannon"}


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return escape(str(value))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}".replace(".0%", "%")


def _bars(histogram: dict[str, Any], width: int = 380, height: int = 150) -> str:
    reference, current = histogram.get("reference") or [], histogram.get("current") or []
    if not reference:
        return "<p>no histogram</p>"
    categorical = "labels" in histogram
    if categorical:
        labels = [str(x) for x in histogram["labels"]]
    else:
        edges = histogram.get("edges") or []
        bounds = ["-inf", *(_num(e) for e in edges), "+inf"]
        labels = [f"{bounds[i]} .. {bounds[i + 1]}" for i in range(len(reference))]
    pad, bottom = 18, 44 if categorical else 22
    top = max(max(reference), max(current), 1e-9)
    slot = (width - 2 * pad) / len(reference)
    plot = height - bottom - 18  # room for the scale label above the tallest bar
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, (ref, cur) in enumerate(zip(reference, current, strict=False)):
        x = pad + i * slot
        for j, (share, colour) in enumerate(((ref, REF), (cur, CUR))):
            h = plot * share / top
            parts.append(f'<rect x="{x + j * slot / 2 + 1:.1f}" y="{height - bottom - h:.1f}" width="{max(slot / 2 - 2, 1):.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])}: {"reference" if j == 0 else "current"} '
                         f"{_pct(share)}</title></rect>")
        if categorical:  # every category is labelled under its pair of bars
            text = escape(labels[i] if len(labels[i]) <= 12 else labels[i][:11] + "…")
            cx, cy = x + slot / 2, height - bottom + 10
            parts.append(f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="9" fill="#555" text-anchor="end" '
                         f'transform="rotate(-40 {cx:.1f} {cy:.1f})">{text}</text>')
    parts.append(f'<line x1="{pad}" y1="{height - bottom}" x2="{width - pad}" y2="{height - bottom}" stroke="#555"/>')
    parts.append(f'<text x="{pad}" y="12" font-size="9" fill="#555">max {_pct(top)}</text>')
    if not categorical:
        edges = histogram.get("edges") or []
        if edges:
            left, right = f"≤ {_num(edges[0])}", f"> {_num(edges[-1])}"
            parts.append(f'<text x="{pad}" y="{height - 6}" font-size="10" fill="#555">{escape(left)}</text>')
            parts.append(f'<text x="{width - pad}" y="{height - 6}" font-size="10" fill="#555" text-anchor="end">{escape(right)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _sparkline(points: list[dict[str, Any]], floor: float | None, width: int = 120, height: int = 28) -> str:
    """A feature's effect over the last checks, the floor as a dashed line; drifted points red,
    today's blue. Inline SVG, nothing fetched."""
    values = [float(p["effect"]) for p in points if isinstance(p.get("effect"), int | float) and math.isfinite(p["effect"])]
    if len(values) < 2:
        return "-"
    top = max(*values, floor or 0.0) * 1.15 or 1.0
    pad = 3

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + i * (width - 2 * pad) / (len(values) - 1)
        return x, height - pad - (height - 2 * pad) * v / top

    spots = [xy(i, v) for i, v in enumerate(values)]
    title = ", ".join(f"{p['as_of']}: {_num(p['effect'])}" for p in points)
    parts = [f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
             f"<title>{escape(title)}</title>"]
    if floor is not None:
        y = xy(0, floor)[1]
        parts.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{width - pad}" y2="{y:.1f}" stroke="#b00020" '
                     'stroke-dasharray="3,2" stroke-width="1"/>')
    parts.append('<polyline fill="none" stroke="#555" stroke-width="1.2" points="'
                 + " ".join(f"{x:.1f},{y:.1f}" for x, y in spots) + '"/>')
    for (x, y), p in zip(spots, points, strict=False):
        colour = CUR if p.get("current") else "#b00020" if p.get("drifted") else "#555"
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{2.5 if p.get("current") else 1.8}" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _verdict(f: dict[str, Any], p_value: float) -> str:
    """Why the feature did or did not drift, in the rule's own terms."""
    significant = f["p_adjusted"] < p_value
    large = f["effect"] >= f.get("effect_floor", 0.0)
    if f["drifted"]:
        return "drifted"
    if significant and not large:
        return "no (effect &lt; floor)"
    if large and not significant:
        return "no (not significant)"
    return "no"


def _rule(report: dict[str, Any]) -> str:
    t = report.get("thresholds") or {}
    if not t:
        return ""
    missing = (f"a feature's missing share rises by ≥ {_pct(t['max_missing_increase'])} (significantly), "
               if t.get("max_missing_increase") is not None else "")
    return (
        '<div class="rule"><b>Rule.</b> A feature drifts when its Benjamini-Hochberg-adjusted p-value is below '
        f"{_num(t['p_value'])} <b>and</b> its effect size reaches the floor: normalised Wasserstein ≥ "
        f"{_num(t['numeric_effect'])} reference standard deviations for numeric features (KS test), Jensen-Shannon "
        f"distance ≥ {_num(t['categorical_effect'])} for categorical ones (chi-square, rare categories pooled). "
        f"Retraining is needed when ≥ {_pct(t['max_drift_share'])} of the features drift, the prediction scores drift "
        f"(same rule), {missing}or, with ≥ {t['min_labelled_rows']} labelled rows, a metric's {_pct(t['confidence'])} "
        f"bound is worse than at training by more than {_num(t['max_metric_drop'])}. Fewer than {t['min_rows']} rows: "
        "insufficient data.</div>"
    )


def _performance(report: dict[str, Any]) -> str:
    performance = report.get("performance")
    if not performance:
        return ""
    baseline = report.get("baseline_performance") or {}
    cells = "".join(
        f"<tr><td>{escape(k)}</td><td>{_num(v)}</td><td>{_num(performance['lower'].get(k))} .. "
        f"{_num(performance['upper'].get(k))}</td><td>{_num(baseline.get(k))}</td></tr>"
        for k, v in sorted(performance["values"].items()))
    header = (f"<tr><th>metric</th><th>window</th><th>{_pct(performance['confidence'])} bounds</th>"
              "<th>at training</th></tr>")
    return (f"<h2>Performance on labelled rows</h2><p>{performance['rows']} labelled rows.</p>"
            f"<table>{header}{cells}</table>")


def render(report: dict[str, Any], title: str) -> str:
    if report["retrain_needed"]:
        verdict, css = "retrain needed", "bad"
    elif report["outcome"] == "insufficient data":
        verdict, css = "insufficient data (not judged)", "neutral"
    else:
        verdict, css = report["outcome"], "ok"
    p_value = float((report.get("thresholds") or {}).get("p_value", 0.05))
    trends: dict[str, list[dict[str, Any]]] = {k: v for k, v in (report.get("trends") or {}).items() if len(v) > 1}
    rows = []
    for f in sorted(report["features"], key=lambda f: (not f["drifted"], -f["effect"])):
        rows.append(
            f'<tr><td>{escape(f["name"])}</td><td>{f["kind"]}</td><td>{f["test"]} {_num(f["statistic"])}</td>'
            f'<td>{_num(f["p_adjusted"])}</td><td>{_EFFECT.get(f["effect_name"], f["effect_name"])}</td><td>{_num(f["effect"])}</td>'
            f'<td>{_num(f.get("effect_floor"))}</td><td>{_num(f["psi"])}</td><td>{_pct(f["missing_share"])}</td>'
            f'<td class="{"bad" if f["drifted"] else "ok"}">{_verdict(f, p_value)}</td>'
            + (f'<td>{_sparkline(trends.get(f["name"], []), f.get("effect_floor"))}</td>' if trends else "") + "</tr>"
        )
    table = (f"<table><tr><th>feature</th><th>kind</th><th>test statistic</th><th>p (BH)</th><th>effect size</th>"
             f"<th>effect</th><th>floor</th><th>PSI</th><th>missing</th><th>verdict</th>"
             f"{f'<th>effect over the last {max(map(len, trends.values()))} checks</th>' if trends else ''}</tr>{''.join(rows)}</table>"
             if rows else "<p>Not judged: too few rows in the window.</p>")
    reasons = "".join(f"<li>{escape(r)}</li>" for r in report["reasons"]) or "<li>none</li>"
    arrival = (report.get("freshness") or {}).get("findings") or []  # stale data, volume: findings, not reasons
    quality = "".join(f"<li>{escape(q)}</li>" for q in [*arrival, *report["quality"]]) or "<li>none</li>"
    prediction = report.get("prediction")
    prediction_block = ""
    if prediction:
        state = "drifted" if prediction["drifted"] else "stable"
        prediction_block = (
            f'<h2>Prediction scores</h2><div class="card">KS {_num(prediction["statistic"])}, p {_num(prediction["p_value"])}, '
            f'Wasserstein {_num(prediction["effect"])} sd, PSI {_num(prediction["psi"])}: '
            f'<span class="{"bad" if prediction["drifted"] else "ok"}">{state}</span><br>'
            f'{_bars(prediction.get("histogram", {}), width=560)}</div>'
        )
    cards = "".join(
        f'<div class="card"><b>{escape(f["name"])}</b> {_EFFECT.get(f["effect_name"], f["effect_name"])} {_num(f["effect"])}'
        f'{" (drifted)" if f["drifted"] else ""}<br>{_bars(f.get("histogram", {}))}</div>'
        for f in report["features"]
    )
    return (
        f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="{css}">Outcome: {escape(verdict)}. {report["rows"]} rows, drift share {_pct(report["drift_share"])}.</p>'
        f"{_rule(report)}<h2>Reasons</h2><ul>{reasons}</ul>"
        f"<h2>Features</h2>{table}"
        f"<h2>Data quality</h2><ul>{quality}</ul>{_performance(report)}"
        f'<p class="legend"><span style="background:{REF}"></span>reference (training)'
        f'<span style="background:{CUR}"></span>current window</p>{prediction_block}'
        f'<h2>Distributions</h2><div class="grid">{cards}</div>'
        "</body></html>"
    )
