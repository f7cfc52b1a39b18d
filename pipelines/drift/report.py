"""A drift report people can read: one self-contained HTML page per window (``report.html``).

No scripts, no external styles or fonts, no images to fetch: the page is opened straight from S3 or
an e-mail attachment, so everything (CSS and one SVG bar chart per feature) is inline, and every
value that came from data -- feature names, category labels -- is HTML-escaped. The verdict comes
first, because that is what a reader opens the page for; the per-feature table and charts explain it.

Input is the JSON form of the verdict (``DriftReport.to_dict()``, plus any scalar context the caller
added, such as the endpoint or the window's bounds) and the baseline it was computed against.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_html"]

_KNOWN_KEYS = frozenset(
    {
        "verdict",
        "driftDetected",
        "driftShare",
        "records",
        "impact",
        "predictionPsi",
        "featureAlpha",
        "driftedFeatures",
        "features",
        "predictionProportions",
        "config",
    }
)
_HEADLINES = {
    "drift": "Drift detected",
    "absorbed": "Drift the model absorbs",
    "no_drift": "No drift",
    "insufficient_data": "Insufficient data: no verdict",
}
_CHART_WIDTH = 640
_CHART_HEIGHT = 240
_MARGIN = {"top": 16, "right": 12, "bottom": 64, "left": 44}
_BASELINE_COLOUR = "#9aa5b1"
_WINDOW_COLOUR = "#1f6feb"
_DRIFT_COLOUR = "#c62828"
_UNSEEN_LABEL = "(unseen)"
_DASH = "\u2014"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:960px;padding:0 16px 48px;
color:#1f2328}
header{padding:20px 24px;border-radius:8px;margin:16px 0;color:#fff}
header h1{margin:0 0 6px;font-size:1.6rem}header p{margin:0}
.drift{background:#c62828}.absorbed{background:#ef6c00}.no_drift{background:#2e7d32}.insufficient_data{background:#8d6e00}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:12px 0}
th,td{border-bottom:1px solid #d0d7de;padding:5px 8px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.drifted td{background:#fdecea}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;margin:12px 0}dt{font-weight:600}dd{margin:0}
figure{margin:24px 0;border:1px solid #d0d7de;border-radius:8px;padding:12px}
figcaption{font-size:.9rem;margin-bottom:8px}figcaption b{font-size:1rem}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.note{color:#57606a;font-size:.85rem}
"""


def render_html(report: Mapping[str, Any], baseline: Mapping[str, Any]) -> str:
    """Render ``report`` (``DriftReport.to_dict()``) against ``baseline`` as one HTML document."""
    verdict = str(report.get("verdict", "insufficient_data"))
    dataset = str(baseline.get("dataset", "dataset"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Drift report: {_e(dataset)} ({_e(_HEADLINES.get(verdict, verdict))})</title>",
        f"<style>{_STYLE}</style></head><body>",
        _headline(report, verdict),
        _summary(report, baseline),
        _feature_table(report.get("features") or []),
        '<h2>Distributions: baseline vs window</h2><p class="legend">'
        f'<span style="background:{_BASELINE_COLOUR}"></span>baseline (training)'
        f'<span style="background:{_WINDOW_COLOUR}"></span>window'
        f'<span style="background:{_DRIFT_COLOUR}"></span>window, feature drifted</p>',
    ]
    parts.extend(_feature_figure(feature, baseline) for feature in report.get("features") or [])
    parts.append(_prediction_figure(report, baseline))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------- sections


def _headline(report: Mapping[str, Any], verdict: str) -> str:
    features = report.get("features") or []
    drifted = [f.get("name", "?") for f in features if f.get("drifted")]
    records = report.get("records", 0)
    if verdict == "drift":
        detail = f"{len(drifted)} of {len(features)} features drifted: {', '.join(map(str, drifted))}."
    elif verdict == "absorbed":
        psi = report.get("predictionPsi")
        detail = (
            f"{len(drifted)} of {len(features)} features drifted ({', '.join(map(str, drifted))}), but the "
            f"model's predictions did not move (prediction PSI {psi:.3g}): no alarm."
        )
    elif verdict == "no_drift":
        detail = f"None of {len(features)} features drifted in {records} records."
    else:
        minimum = (report.get("config") or {}).get("minRecords", "?")
        detail = f"The window holds {records} records; a verdict needs at least {minimum}."
    css = verdict if verdict in _HEADLINES else "insufficient_data"
    return f'<header class="{css}"><h1>{_e(_HEADLINES.get(verdict, verdict))}</h1><p>{_e(detail)}</p></header>'


def _summary(report: Mapping[str, Any], baseline: Mapping[str, Any]) -> str:
    config = report.get("config") or {}
    rows = [
        ("Records in window", _int(report.get("records"))),
        ("Drift share", _pct(report.get("driftShare"))),
        ("Impact (importance-weighted share)", _pct(report.get("impact"))),
        ("Prediction PSI", _num(report.get("predictionPsi"))),
        ("Per-feature significance level", f"{_num(report.get('featureAlpha'))} (Bonferroni)"),
        (
            "Thresholds",
            f"alpha {_num(config.get('alpha'))}, min PSI {_num(config.get('minPsi'))}, "
            f"min KS {_num(config.get('minKs'))}, min records {_int(config.get('minRecords'))}",
        ),
        ("Baseline", f"{baseline.get('dataset', '?')}, {_int(baseline.get('rows'))} training rows"),
    ]
    rows += [
        (str(key), str(value))
        for key, value in report.items()
        if key not in _KNOWN_KEYS and isinstance(value, str | int | float) and not isinstance(value, bool)
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    reading = (
        '<p class="note">A feature drifts only when its test is significant after the Bonferroni '
        "correction <em>and</em> the change is large (PSI or KS statistic at or above its minimum). "
        "Impact and prediction PSI say whether the change reaches the model: a small prediction PSI "
        "(below 0.1) with a low impact is drift the model does not feel.</p>"
    )
    return f"<h2>Summary</h2><dl>{items}</dl>{reading}"


def _feature_table(features: Sequence[Mapping[str, Any]]) -> str:
    head = (
        "<tr><th>Feature</th><th>Kind</th><th>PSI</th><th>KS</th><th>Chi-square</th><th>p-value</th>"
        "<th>Missing</th><th>Drifted</th><th>Reason</th></tr>"
    )
    body = []
    for f in features:
        chi2 = f.get("chi2Statistic")
        body.append(
            f'<tr class="{"drifted" if f.get("drifted") else ""}">'
            f"<td>{_e(f.get('name', '?'))}</td><td>{_e(f.get('kind', '?'))}</td>"
            f'<td class="n">{_e(_num(f.get("psi")))}</td><td class="n">{_e(_num(f.get("ksStatistic")))}</td>'
            f'<td class="n">{_e(_num(chi2))}</td><td class="n">{_e(_num(f.get("pvalue")))}</td>'
            f'<td class="n">{_e(_pct(f.get("missingFraction")))}</td>'
            f"<td>{'yes' if f.get('drifted') else 'no'}</td><td>{_e(f.get('reason', ''))}</td></tr>"
        )
    return f"<h2>Features</h2><table>{head}{''.join(body)}</table>"


def _feature_figure(feature: Mapping[str, Any], baseline: Mapping[str, Any]) -> str:
    name = str(feature.get("name", "?"))
    kind = feature.get("kind")
    if kind == "numeric" and name in (baseline.get("numeric") or {}):
        spec = baseline["numeric"][name]
        labels = _bin_labels(spec.get("edges") or [])
        expected = list(spec.get("proportions") or [])
    elif kind == "categorical" and name in (baseline.get("categorical") or {}):
        shares = baseline["categorical"][name].get("proportions") or {}
        labels = [str(k) for k in shares] + [_UNSEEN_LABEL]
        expected = [*shares.values(), 0.0]
    else:
        return f'<figure><figcaption><b>{_e(name)}</b></figcaption><p class="note">Not in the baseline.</p></figure>'
    observed = feature.get("windowProportions")
    note = ""
    if observed is None or len(observed) != len(expected):
        note = f'<p class="note">No window distribution: {_e(feature.get("reason", ""))}</p>'
        observed = None
    colour = _DRIFT_COLOUR if feature.get("drifted") else _WINDOW_COLOUR
    stats = f"PSI {_num(feature.get('psi'))}"
    if kind == "numeric":
        stats += f", KS {_num(feature.get('ksStatistic'))}"
    stats += f", p {_num(feature.get('pvalue'))}: {'drifted' if feature.get('drifted') else 'not drifted'}"
    caption = f"<b>{_e(name)}</b> ({_e(kind)}) &mdash; {_e(stats)}"
    chart = _bar_chart(name, labels, expected, observed, colour)
    return f"<figure><figcaption>{caption}</figcaption>{chart}{note}</figure>"


def _prediction_figure(report: Mapping[str, Any], baseline: Mapping[str, Any]) -> str:
    spec = baseline.get("prediction")
    observed = report.get("predictionProportions")
    if not spec or observed is None or len(observed) != len(spec.get("proportions") or []):
        return ""
    chart = _bar_chart(
        "model predictions", _bin_labels(spec["edges"]), list(spec["proportions"]), observed, _WINDOW_COLOUR
    )
    caption = f"<b>Model predictions</b> &mdash; PSI {_e(_num(report.get('predictionPsi')))}"
    return f"<figure><figcaption>{caption}</figcaption>{chart}</figure>"


# ------------------------------------------------------------------------------------------- chart


def _bar_chart(
    title: str,
    labels: Sequence[str],
    expected: Sequence[float],
    observed: Sequence[float] | None,
    colour: str,
) -> str:
    """Grouped bars (baseline, window) per bin; each bar carries its exact value as a tooltip."""
    left, top = _MARGIN["left"], _MARGIN["top"]
    plot_w = _CHART_WIDTH - left - _MARGIN["right"]
    plot_h = _CHART_HEIGHT - top - _MARGIN["bottom"]
    values = [*expected, *(observed or [])]
    peak = max([_finite(v) for v in values] + [1e-12])
    slot = plot_w / max(len(labels), 1)
    bar = slot * 0.38
    elements = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#57606a"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="10">{_e(_pct(peak))}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for i, label in enumerate(labels):
        x = left + i * slot + slot * 0.12
        series = [(expected[i], _BASELINE_COLOUR, "baseline")]
        if observed is not None:
            series.append((observed[i], colour, "window"))
        for j, (value, fill, who) in enumerate(series):
            height = plot_h * _finite(value) / peak
            elements.append(
                f'<rect x="{x + j * bar:.1f}" y="{top + plot_h - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{fill}"><title>{_e(f"{label}: {who} {_pct(value)}")}</title></rect>'
            )
        cx = left + (i + 0.5) * slot
        elements.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 12}" font-size="10" text-anchor="end" '
            f'transform="rotate(-35 {cx:.1f} {top + plot_h + 12})">{_e(label)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{_CHART_WIDTH}" height="{_CHART_HEIGHT}" '
        f'viewBox="0 0 {_CHART_WIDTH} {_CHART_HEIGHT}"><title>{_e(title)}: baseline vs window</title>'
        f"{''.join(elements)}</svg>"
    )


def _bin_labels(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["all values"]
    labels = [f"\u2264 {edges[0]:.4g}"]
    labels += [f"{lo:.4g} \u2013 {hi:.4g}" for lo, hi in itertools.pairwise(edges)]
    labels.append(f"> {edges[-1]:.4g}")
    return labels


# ------------------------------------------------------------------------------------------ format


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _finite(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


# These return plain text; everything is escaped once, where it is written into the page.
def _num(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return _DASH
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return str(value)


def _pct(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return _DASH
    try:
        return f"{100 * float(value):.1f} %"
    except (TypeError, ValueError):
        return str(value)


def _int(value: Any) -> str:
    return _DASH if value is None else str(value)
