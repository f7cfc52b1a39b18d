"""pipelines.drift.report: a self-contained, escaped HTML page with the verdict first."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest

from pipelines.drift.baseline import build_baseline
from pipelines.drift.report import render_html
from pipelines.drift.verdict import assess_drift
from pipelines.schema import parse_schema

HOSTILE = '<script>alert("x")</script>'


class _Collector(HTMLParser):
    """Records start tags (in order), the text of <h1>, and whether every element was closed."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "line", "rect"})

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.open: list[str] = []
        self.h1 = ""
        self._in_h1 = False
        self.mismatched: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.open.append(tag)
        self._in_h1 = self._in_h1 or tag == "h1"

    def handle_startendtag(self, tag: str, attrs) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.open or self.open.pop() != tag:
            self.mismatched.append(tag)
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1 += data


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    assert not collector.mismatched and not collector.open, (collector.mismatched, collector.open)
    return collector


@pytest.fixture(scope="module")
def hostile_baseline() -> dict:
    schema = parse_schema(
        {
            "name": "hostile & co",
            "problemType": "binary_classification",
            "target": "y",
            "positiveLabel": 1,
            "columns": [
                {"name": HOSTILE, "type": "float"},
                {"name": "kind", "type": "categorical", "categories": ["a", "<b>"]},
                {"name": "y", "type": "integer", "role": "target", "categories": [0, 1]},
            ],
        }
    )
    rng = np.random.default_rng(0)
    columns = {HOSTILE: rng.normal(size=3000), "kind": rng.choice(np.array(["a", "<b>"], dtype=object), 3000)}
    return build_baseline(schema, columns, predictions=rng.uniform(size=3000))


def test_drift_page_has_the_verdict_first_and_one_chart_per_feature(ai4i, thresholds) -> None:
    baseline = build_baseline(ai4i.schema, ai4i.columns, predictions=np.random.default_rng(1).uniform(size=ai4i.rows))
    window = ai4i.take(np.arange(5000, 5600))  # file order: the temperatures really drift here
    report = assess_drift(
        baseline, window, predictions=np.random.default_rng(2).uniform(size=600), config=thresholds
    ).to_dict()
    page = render_html({**report, "endpoint": "ai4i-failure"}, baseline)
    parsed = _parse(page)
    # the temperatures drift, the (stand-in) predictions do not: drift the model absorbs, no alarm
    assert parsed.h1 == "Drift the model absorbs"
    assert parsed.tags.index("h1") < parsed.tags.index("svg")
    assert parsed.tags.count("svg") == len(report["features"]) + 1  # + the prediction chart
    assert parsed.tags.count("figure") == len(report["features"]) + 1
    for name in ("Air temperature [K]", "Process temperature [K]", "ai4i-failure"):
        assert name in page
    # the summary reads report.json's camelCase keys: no value of it is left blank
    assert f"min PSI {thresholds.min_psi:.3g}, min KS {thresholds.min_ks:.3g}" in page
    assert f"min records {thresholds.min_records}" in page
    assert f"{report['predictionPsi']:.3g}" in page and f"{100 * report['driftShare']:.1f} %" in page
    # self-contained: nothing to fetch, nothing to run
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert "nan" not in page.lower().replace("nanometre", "")


def test_categorical_chart_has_one_bar_pair_per_category_plus_unseen(ai4i, thresholds) -> None:
    baseline = build_baseline(ai4i.schema, ai4i.columns)
    window = ai4i.take(np.arange(0, 400))
    window["Type"] = np.where(np.arange(400) < 40, "Z", window["Type"]).astype(object)
    report = assess_drift(baseline, window, config=thresholds).to_dict()
    page = render_html(report, baseline)
    figure = page[page.index("<b>Type</b>") :]
    figure = figure[: figure.index("</figure>")]
    assert figure.count("<rect") == 2 * 4  # L, M, H, (unseen): baseline and window bars
    assert "(unseen)" in figure and "drifted" in figure


def test_everything_from_data_is_escaped(hostile_baseline, thresholds) -> None:
    rng = np.random.default_rng(3)
    window = {HOSTILE: rng.normal(size=300), "kind": ["<i>new</i>"] * 300}
    page = render_html(assess_drift(hostile_baseline, window, config=thresholds).to_dict(), hostile_baseline)
    parsed = _parse(page)
    assert "script" not in parsed.tags and "i" not in parsed.tags
    assert parsed.tags.count("b") == parsed.tags.count("figcaption")  # only the page's own <b> captions
    assert "&lt;b&gt;" in page and "&lt;i&gt;new&lt;/i&gt;" in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "hostile &amp; co" in page


def test_insufficient_data_and_absent_features_render(hostile_baseline, thresholds) -> None:
    report = assess_drift(hostile_baseline, {"kind": ["a"] * 10}, config=thresholds).to_dict()
    page = render_html(report, hostile_baseline)
    parsed = _parse(page)
    assert parsed.h1 == "Insufficient data: no verdict"
    assert "a verdict needs at least 200" in page
    assert "No window distribution" in page  # the absent numeric feature: baseline bars only
    assert parsed.tags.count("svg") == 2  # no prediction chart without window predictions


def test_report_round_trips_through_json(hostile_baseline, thresholds) -> None:
    rng = np.random.default_rng(4)
    report = assess_drift(
        hostile_baseline, {HOSTILE: rng.normal(1.0, size=300), "kind": ["a"] * 300}, config=thresholds
    ).to_dict()
    baseline = json.loads(json.dumps(hostile_baseline))
    assert render_html(json.loads(json.dumps(report)), baseline) == render_html(report, hostile_baseline)
