"""The drift report as one self-contained HTML page: summary first, then per-feature
reference-vs-current histograms as inline SVG. No scripts, fonts or images are fetched."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:12px 0}th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}
.grid{display:flex;flex-wrap:wrap;gap:16px}.card{border:1px solid #ddd;padding:8px;border-radius:6px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""
REF, CUR = "#9e9e9e", "#1565c0"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:.{digits}f}"
    return escape(str(value))


def _bars(histogram: dict[str, Any]) -> str:
    reference, current = histogram.get("reference") or [], histogram.get("current") or []
    if not reference:
        return "<p>no histogram</p>"
    if "labels" in histogram:
        labels = [str(x) for x in histogram["labels"]]
        left, right = labels[0], labels[-1]
    else:
        edges = histogram.get("edges") or []
        bounds = ["-inf", *(f"{e:.3g}" for e in edges), "+inf"]
        labels = [f"{bounds[i]}..{bounds[i + 1]}" for i in range(len(reference))]
        left, right = f"≤ {bounds[1]}", f"> {bounds[-2]}"
    width, height, pad = 360, 130, 18
    top = max(max(reference), max(current), 1e-9)
    slot = (width - 2 * pad) / len(reference)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, (ref, cur) in enumerate(zip(reference, current, strict=False)):
        x = pad + i * slot
        for j, (share, colour) in enumerate(((ref, REF), (cur, CUR))):
            h = (height - 2 * pad) * share / top
            parts.append(f'<rect x="{x + j * slot / 2 + 1:.1f}" y="{height - pad - h:.1f}" width="{max(slot / 2 - 2, 1):.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])}: {"reference" if j == 0 else "current"} '
                         f"{share:.1%}</title></rect>")
    parts.append(f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#555"/>')
    parts.append(f'<text x="{pad}" y="{height - 4}" font-size="10" fill="#555">{escape(left)}</text>')
    parts.append(f'<text x="{width - pad}" y="{height - 4}" font-size="10" fill="#555" text-anchor="end">{escape(right)}</text></svg>')
    return "".join(parts)


def render(report: dict[str, Any], title: str) -> str:
    verdict = "retrain needed" if report["retrain_needed"] else report["outcome"]
    css = "bad" if report["retrain_needed"] else "ok"
    rows = []
    for f in sorted(report["features"], key=lambda f: (not f["drifted"], -f["psi"])):
        rows.append(
            f'<tr><td>{escape(f["name"])}</td><td>{f["kind"]}</td><td>{f["test"]}</td><td>{_fmt(f["statistic"])}</td>'
            f'<td>{_fmt(f["p_adjusted"])}</td><td>{_fmt(f["psi"])}</td><td>{_fmt(f.get("wasserstein"))}</td>'
            f'<td>{_fmt(f["missing_share"])}</td><td class="{"bad" if f["drifted"] else "ok"}">{"yes" if f["drifted"] else "no"}</td></tr>'
        )
    reasons = "".join(f"<li>{escape(r)}</li>" for r in report["reasons"]) or "<li>none</li>"
    quality = "".join(f"<li>{escape(q)}</li>" for q in report["quality"]) or "<li>none</li>"
    prediction = report.get("prediction")
    prediction_line = ""
    if prediction:
        prediction_line = (f"<p>Prediction scores: PSI {_fmt(prediction['psi'])}, KS {_fmt(prediction['statistic'])}, "
                           f"{'drifted' if prediction['drifted'] else 'stable'}.</p>")
    performance = ""
    if report.get("performance"):
        cells = "".join(f"<tr><td>{escape(k)}</td><td>{_fmt(v)}</td><td>{_fmt(report['baseline_performance'].get(k))}</td></tr>"
                        for k, v in sorted(report["performance"].items()))
        header = "<tr><th>metric</th><th>window</th><th>at training</th></tr>"
        performance = f"<h2>Performance on labelled rows</h2><table>{header}{cells}</table>"
    cards = "".join(
        f'<div class="card"><b>{escape(f["name"])}</b> PSI {_fmt(f["psi"], 3)}{" (drifted)" if f["drifted"] else ""}'
        f'<br>{_bars(f.get("histogram", {}))}</div>'
        for f in report["features"]
    )
    return (
        f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="{css}">Outcome: {escape(verdict)}. {report["rows"]} rows, drift share {report["drift_share"]:.0%}.</p>'
        f"<h2>Reasons</h2><ul>{reasons}</ul>{prediction_line}"
        f"<h2>Features</h2><table><tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th><th>p (BH)</th>"
        f"<th>PSI</th><th>Wasserstein</th><th>missing</th><th>drifted</th></tr>{''.join(rows)}</table>"
        f"<h2>Data quality</h2><ul>{quality}</ul>{performance}"
        f'<h2>Distributions</h2><p class="legend"><span style="background:{REF}"></span>reference (training)'
        f'<span style="background:{CUR}"></span>current window</p><div class="grid">{cards}</div>'
        "</body></html>"
    )
