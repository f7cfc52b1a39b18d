"""The drift verdict: does a window of serving data differ from the training baseline, and does it matter?

How a feature is judged
    Numeric features: PSI on the baseline's quantile bins and the two-sample KS test against the
    baseline sample. Categorical features: PSI on the category frequencies and Pearson's chi-square
    test; values the baseline never saw get their own bucket, which counts as drift evidence in both.
    A feature **drifts** only when the change is both

    * significant -- the test's p-value is below ``alpha / m`` (Bonferroni over the ``m`` monitored
      features, so a baseline with many features does not raise many false alarms; the family-wise
      false-alarm rate stays at most ``alpha`` per window), and
    * large -- ``PSI >= min_psi`` or (numeric) ``KS statistic >= min_ks``.

    The thresholds (:class:`VerdictThresholds`) have no defaults here: they come from ``cdk.json``
    ``mlops.drift`` (as ``DRIFT_*`` environment variables in the Lambda), the only place they are set.

    A p-value alone is not enough: with enough rows every harmless wobble is significant (on AI4I the
    temperatures in file order give KS p-values below 1e-17 while the model's accuracy is unchanged).

The verdict: drift that matters
    ``drift``
        At least one feature drifted **and** the drift reaches the model: the window's predictions
        moved (``prediction_psi >= min_prediction_psi``), or no predictions were captured to tell
        (then feature drift alone decides). ``drift_detected`` is true exactly for this verdict, and
        it is the alarm signal (``DriftDetected`` metric) that starts a retraining.
    ``absorbed``
        Features drifted but the model's output distribution did not move: drift the model absorbs
        (on AI4I, the real temperature drift in file order). Reported, charted, not alarmed.
        ``min_prediction_psi = 0`` turns this gate off.

How the report is meant to be read (``report.json`` keys are camelCase, ``DriftReport.to_dict()``;
the attributes below are their snake_case Python names)
    ``drifted_features``
        The inputs that moved by a material amount; it says *the world changed*, not *the model got
        worse*.
    ``drift_share``
        Drifting features / monitored features: how broad the change is.
    ``impact``
        The same share weighted by the model's feature importances (from the baseline; uniform when it
        has none): ``sum(importance of drifting features) / sum(all importances)``. Near 0 the model
        barely uses what moved; near 1 it leans on it. High impact makes a retraining worth its cost.
    ``prediction_psi``
        PSI of the window's predictions on the baseline's prediction bins (``None`` without
        predictions or a prediction baseline): the direct evidence of whether the drift reaches the
        model's output. Below 0.1 the model's output distribution is unchanged -- input drift with a
        small prediction PSI is drift the model absorbs; 0.1-0.25 is a moderate shift worth a look;
        above 0.25 the model is scoring a different population.

    Measured on AI4I in file order (model fitted on a random 4,000 of the first 5,000 rows, baseline
    predictions from the other 1,000): every later 500-row window is ``drift`` on both temperatures
    with an impact of about 0.3, yet its prediction PSI stays at 0.03-0.13 and its ROC-AUC at
    0.90-0.99 -- the real but harmless drift of data/README.md. That is why the verdict is
    ``absorbed``, not ``drift``, when the predictions hold still.

Defined behaviour on awkward windows (never a crash, never NaN)
    Fewer than ``min_records`` rows: verdict ``insufficient_data``, ``drift_detected`` false, feature
    statistics still computed where there are values, for the record. Missing values (``None``, empty
    text, NaN, non-numbers in a numeric feature) are dropped and reported as ``missing_fraction``; a
    feature with fewer than ``min_records`` usable values, or absent from the window altogether, is
    reported with its reason and is not judged. Empty bins and unseen categories are handled by the
    epsilon smoothing documented in :mod:`pipelines.drift.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pipelines.drift.baseline import BASELINE_VERSION
from pipelines.drift.stats import (
    category_counts,
    category_proportions_of_counts,
    chi_square,
    finite_values,
    ks_2samp,
    numeric_bin_proportions,
    psi,
)

__all__ = ["DriftReport", "FeatureDrift", "VerdictThresholds", "assess_drift"]

Verdict = Literal["drift", "absorbed", "no_drift", "insufficient_data"]
Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class VerdictThresholds:
    """Thresholds of the verdict: ``cdk.json`` ``mlops.drift`` (``alpha``, ``minPsi``, ``minKs``,
    ``minRecords``, ``minPredictionPsi``), which reach the Lambda as ``DRIFT_*``. No defaults: a
    caller passes every value, so the deployed configuration is the only source of them.

    ``alpha`` is the family-wise significance level per window; ``min_psi`` and ``min_ks`` are the
    smallest changes worth an alarm; ``min_records`` the smallest window worth a verdict;
    ``min_prediction_psi`` the smallest move of the model's predictions that makes feature drift
    alarm-worthy (0 alarms on feature drift alone).
    """

    alpha: float
    min_psi: float
    min_ks: float
    min_records: int
    min_prediction_psi: float

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if not (math.isfinite(self.min_psi) and self.min_psi >= 0.0):
            raise ValueError(f"min_psi must be a non-negative number, got {self.min_psi!r}")
        if not 0.0 <= self.min_ks <= 1.0:
            raise ValueError(f"min_ks must be in [0, 1], got {self.min_ks!r}")
        if not (math.isfinite(self.min_prediction_psi) and self.min_prediction_psi >= 0.0):
            raise ValueError(f"min_prediction_psi must be a non-negative number, got {self.min_prediction_psi!r}")
        if isinstance(self.min_records, bool) or not isinstance(self.min_records, int) or self.min_records < 1:
            raise ValueError(f"min_records must be a positive integer, got {self.min_records!r}")

    @classmethod
    def from_context(cls, drift: Mapping[str, Any]) -> VerdictThresholds:
        """The thresholds of ``cdk.json``'s ``mlops.drift`` block (its camelCase keys; others are ignored).

        For callers outside the Lambda (tests, benchmarks), so they judge with the deployed values.
        """
        missing = [key for key in _CONTEXT_KEYS.values() if key not in drift]
        if missing:
            raise ValueError(f"mlops.drift lacks {missing!r}")
        values = {name: drift[key] for name, key in _CONTEXT_KEYS.items()}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The ``config`` block of ``report.json`` (camelCase, the keys of ``cdk.json``)."""
        return {key: getattr(self, name) for name, key in _CONTEXT_KEYS.items()}


# VerdictThresholds field -> its key in cdk.json mlops.drift and in report.json's config block.
_CONTEXT_KEYS = {
    "alpha": "alpha",
    "min_psi": "minPsi",
    "min_ks": "minKs",
    "min_records": "minRecords",
    "min_prediction_psi": "minPredictionPsi",
}


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's statistics and judgement. ``pvalue`` is the test the verdict used (KS or chi-square).

    ``window_proportions`` are the window's shares in the baseline's bins (numeric) or categories
    followed by the unseen bucket (categorical); ``unseen_categories`` lists the values the baseline
    did not know; ``values`` counts the usable (non-missing) values.
    """

    name: str
    kind: Kind
    psi: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    chi2_statistic: float | None
    chi2_pvalue: float | None
    pvalue: float | None
    drifted: bool
    reason: str
    missing_fraction: float
    values: int = 0
    window_proportions: tuple[float, ...] | None = None
    unseen_categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """One entry of ``report.json`` ``features`` (camelCase keys, docs/ARCHITECTURE.md)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "psi": self.psi,
            "ksStatistic": self.ks_statistic,
            "ksPvalue": self.ks_pvalue,
            "chi2Statistic": self.chi2_statistic,
            "chi2Pvalue": self.chi2_pvalue,
            "pvalue": self.pvalue,
            "drifted": self.drifted,
            "reason": self.reason,
            "missingFraction": self.missing_fraction,
            "values": self.values,
            "windowProportions": None if self.window_proportions is None else list(self.window_proportions),
            "unseenCategories": list(self.unseen_categories),
        }


@dataclass(frozen=True)
class DriftReport:
    """The verdict on one window; ``to_dict()`` is the verdict part of ``report.json`` (camelCase keys)."""

    verdict: Verdict
    drift_detected: bool
    drift_share: float
    records: int
    features: tuple[FeatureDrift, ...]
    prediction_psi: float | None
    impact: float
    feature_alpha: float
    prediction_proportions: tuple[float, ...] | None
    config: VerdictThresholds

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drifted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "driftDetected": self.drift_detected,
            "driftShare": self.drift_share,
            "records": self.records,
            "impact": self.impact,
            "predictionPsi": self.prediction_psi,
            "featureAlpha": self.feature_alpha,
            "driftedFeatures": list(self.drifted_features),
            "features": [f.to_dict() for f in self.features],
            "predictionProportions": (
                None if self.prediction_proportions is None else list(self.prediction_proportions)
            ),
            "config": self.config.to_dict(),
        }


def assess_drift(
    baseline: Mapping[str, Any],
    window: Mapping[str, Sequence[Any]],
    predictions: Sequence[float] | None = None,
    *,
    config: VerdictThresholds,
) -> DriftReport:
    """Compare a window (columns by feature name, equal lengths) with a baseline from ``build_baseline``.

    ``config`` is required: the thresholds are ``cdk.json``'s (``mlops.drift``), never this module's.
    """
    numeric, categorical = _monitored(baseline)
    monitored = len(numeric) + len(categorical)
    records = _window_length(window, [*numeric, *categorical])
    enough = records >= config.min_records
    feature_alpha = config.alpha / monitored
    judge = _Judge(config, feature_alpha, enough, records)

    features = tuple(
        [judge.numeric(name, spec, window.get(name)) for name, spec in numeric.items()]
        + [judge.categorical(name, spec, window.get(name)) for name, spec in categorical.items()]
    )
    drifted = [f.name for f in features if f.drifted]
    prediction_psi, prediction_proportions = _prediction_psi(baseline.get("prediction"), predictions)
    verdict = _verdict(enough, drifted, prediction_psi, config)
    return DriftReport(
        verdict=verdict,
        drift_detected=verdict == "drift",
        drift_share=len(drifted) / monitored,
        records=records,
        features=features,
        prediction_psi=prediction_psi,
        impact=_impact(baseline.get("importance"), [f.name for f in features], drifted),
        feature_alpha=feature_alpha,
        prediction_proportions=prediction_proportions,
        config=config,
    )


def _verdict(enough: bool, drifted: list[str], prediction_psi: float | None, config: VerdictThresholds) -> Verdict:
    if not enough:
        return "insufficient_data"
    if not drifted:
        return "no_drift"
    if prediction_psi is not None and prediction_psi < config.min_prediction_psi:
        return "absorbed"
    return "drift"


def _monitored(baseline: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The baseline's numeric and categorical entries, checked so a bad file fails with a clear message."""
    version = baseline.get("version", BASELINE_VERSION)
    if version != BASELINE_VERSION:
        raise ValueError(f"baseline version {version!r} is not supported (expected {BASELINE_VERSION})")
    numeric: Mapping[str, Any] = baseline.get("numeric") or {}
    categorical: Mapping[str, Any] = baseline.get("categorical") or {}
    if not numeric and not categorical:
        raise ValueError("the baseline monitors no feature (no 'numeric' or 'categorical' entries)")
    for kind, entries, keys in (
        ("numeric", numeric, ("edges", "proportions", "sample")),
        ("categorical", categorical, ("proportions",)),
    ):
        for name, spec in entries.items():
            lacking = [k for k in keys if not isinstance(spec, Mapping) or k not in spec]
            if lacking:
                raise ValueError(f"baseline entry for {kind} feature {name!r} lacks {lacking!r}")
    return numeric, categorical


def _window_length(window: Mapping[str, Sequence[Any]], monitored: list[str]) -> int:
    """Rows in the window: the common length of its monitored columns (other columns are not read)."""
    lengths = {name: len(window[name]) for name in monitored if name in window}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"window columns differ in length: {lengths!r}")
    if lengths:
        return next(iter(lengths.values()))
    return max((len(column) for column in window.values()), default=0)


class _Judge:
    """Applies one window's thresholds to each feature (keeps the per-feature functions small)."""

    def __init__(self, config: VerdictThresholds, feature_alpha: float, enough: bool, records: int) -> None:
        self.config = config
        self.feature_alpha = feature_alpha
        self.enough = enough
        self.records = records

    def numeric(self, name: str, spec: Mapping[str, Any], column: Sequence[Any] | None) -> FeatureDrift:
        if column is None:
            return _absent(name, "numeric")
        values, missing = finite_values(column)
        missing_fraction = _fraction(missing, self.records)
        if values.size == 0:
            return _empty(name, "numeric", missing_fraction)
        proportions = numeric_bin_proportions(values, spec["edges"])
        feature_psi = psi(spec["proportions"], proportions)
        ks = ks_2samp(spec["sample"], values)
        cfg = self.config
        large = feature_psi >= cfg.min_psi or ks.statistic >= cfg.min_ks
        effect = (
            f"PSI {feature_psi:.3g}, KS {ks.statistic:.3g} "
            f"({'reaches min PSI' if large else 'below min PSI'} {cfg.min_psi:g} or min KS {cfg.min_ks:g})"
        )
        drifted, reason = self._decide(values.size, "KS", ks.pvalue, large, effect)
        return FeatureDrift(
            name=name,
            kind="numeric",
            psi=feature_psi,
            ks_statistic=ks.statistic,
            ks_pvalue=ks.pvalue,
            chi2_statistic=None,
            chi2_pvalue=None,
            pvalue=ks.pvalue,
            drifted=drifted,
            reason=reason,
            missing_fraction=missing_fraction,
            values=int(values.size),
            window_proportions=tuple(float(p) for p in proportions),
        )

    def categorical(self, name: str, spec: Mapping[str, Any], column: Sequence[Any] | None) -> FeatureDrift:
        if column is None:
            return _absent(name, "categorical")
        counts, _missing = category_counts(column)  # each distinct value keyed once
        usable = sum(counts.values())
        missing_fraction = _fraction(self.records - usable, self.records)
        if not usable:
            return _empty(name, "categorical", missing_fraction)
        baseline_shares: Mapping[str, float] = spec["proportions"]
        window = category_proportions_of_counts(counts, list(baseline_shares))
        expected = np.append(np.asarray(list(baseline_shares.values()), dtype=np.float64), 0.0)
        feature_psi = psi(expected, window.proportions)
        test = chi_square(window.counts, expected)
        unseen = tuple(str(u) for u in window.unseen)
        large = feature_psi >= self.config.min_psi
        effect = f"PSI {feature_psi:.3g} ({'reaches' if large else 'below'} min PSI {self.config.min_psi:g})"
        if unseen:
            effect += f"; {int(window.counts[-1])} value(s) of unseen categories {list(unseen)[:5]!r}"
        drifted, reason = self._decide(usable, "chi-square", test.pvalue, large, effect)
        return FeatureDrift(
            name=name,
            kind="categorical",
            psi=feature_psi,
            ks_statistic=None,
            ks_pvalue=None,
            chi2_statistic=test.statistic,
            chi2_pvalue=test.pvalue,
            pvalue=test.pvalue,
            drifted=drifted,
            reason=reason,
            missing_fraction=missing_fraction,
            values=usable,
            window_proportions=tuple(float(p) for p in window.proportions),
            unseen_categories=unseen,
        )

    def _decide(self, values: int, test: str, pvalue: float, large: bool, effect: str) -> tuple[bool, str]:
        cfg = self.config
        significant = pvalue < self.feature_alpha
        test_text = f"{test} p={pvalue:.3g} {'<' if significant else '>='} {self.feature_alpha:.3g}"
        evidence = f"{test_text}; {effect}"
        if not self.enough:
            return False, f"insufficient data: {self.records} records < {cfg.min_records}; {evidence}"
        if values < cfg.min_records:
            return False, f"not judged: {values} usable values < {cfg.min_records}; {evidence}"
        if significant and large:
            return True, f"drift: {evidence}"
        if significant:
            return False, f"significant but small: {evidence}"
        return False, f"not significant: {evidence}"


def _unjudged(name: str, kind: Kind, reason: str, missing_fraction: float) -> FeatureDrift:
    """A feature the window cannot judge: reported with its reason, never drifted."""
    return FeatureDrift(
        name=name,
        kind=kind,
        psi=None,
        ks_statistic=None,
        ks_pvalue=None,
        chi2_statistic=None,
        chi2_pvalue=None,
        pvalue=None,
        drifted=False,
        reason=reason,
        missing_fraction=missing_fraction,
    )


def _absent(name: str, kind: Kind) -> FeatureDrift:
    return _unjudged(name, kind, "absent from the window: no column with this name", 1.0)


def _empty(name: str, kind: Kind, missing_fraction: float) -> FeatureDrift:
    return _unjudged(name, kind, "no usable values in the window", missing_fraction)


def _fraction(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _prediction_psi(
    spec: Mapping[str, Any] | None, predictions: Sequence[float] | None
) -> tuple[float | None, tuple[float, ...] | None]:
    if spec is None or predictions is None:
        return None, None
    values, _missing = finite_values(predictions)
    if values.size == 0:
        return None, None
    proportions = numeric_bin_proportions(values, spec["edges"])
    return psi(spec["proportions"], proportions), tuple(float(p) for p in proportions)


def _impact(importance: Mapping[str, float] | None, names: list[str], drifted: list[str]) -> float:
    weights = {n: max(float((importance or {}).get(n, 0.0)), 0.0) for n in names}
    total = sum(weights.values())
    if total <= 0.0:  # no importances recorded: every feature weighs the same
        return len(drifted) / len(names)
    return sum(weights[n] for n in drifted) / total
