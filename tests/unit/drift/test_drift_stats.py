"""pipelines.drift.stats against scipy and against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

from pipelines.drift.stats import (
    categorical_proportions,
    category_key,
    chi2_sf,
    chi_square,
    finite_values,
    kolmogorov_sf,
    ks_2samp,
    numeric_bin_proportions,
    psi,
    quantile_edges,
    regularized_gamma_q,
    smirnov_sf,
)

# ------------------------------------------------------------------------------------------- PSI


def test_psi_hand_computed() -> None:
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 ln 2 + 0.25 ln 1.5
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5), rel=1e-12)
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_psi_is_symmetric() -> None:
    a, b = [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]
    assert psi(a, b) == pytest.approx(psi(b, a), rel=1e-12)


def test_psi_empty_bin_is_floored_at_epsilon_and_renormalised() -> None:
    eps = 1e-4
    expected = np.array([0.5, 0.5, eps]) / (1 + eps)  # the empty baseline bin after smoothing
    actual = np.array([0.5, 0.4, 0.1])  # every share already >= eps: unchanged
    by_hand = float(np.sum((actual - expected) * np.log(actual / expected)))
    assert psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1], epsilon=eps) == pytest.approx(by_hand, rel=1e-12)
    assert math.isfinite(psi([1.0, 0.0], [0.0, 1.0]))


def test_psi_bins_empty_on_both_sides_contribute_nothing() -> None:
    assert psi([0.5, 0.5, 0.0], [0.25, 0.75, 0.0]) == pytest.approx(psi([0.5, 0.5], [0.25, 0.75]), rel=1e-3)


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        ([0.5, 0.5], [1.0], "bins"),
        ([0.5, 0.6], [0.5, 0.5], "sum to 1"),
        ([1.5, -0.5], [0.5, 0.5], "non-negative"),
        ([], [], "empty"),
        ([0.5, float("nan")], [0.5, 0.5], "finite"),
    ],
)
def test_psi_rejects_bad_input(expected: list[float], actual: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        psi(expected, actual)


# ---------------------------------------------------------------------------------------- binning


def test_bins_are_right_closed() -> None:
    proportions = numeric_bin_proportions([1, 2, 3, 4], [2, 3])
    assert proportions.tolist() == [0.5, 0.25, 0.25]  # (-inf, 2], (2, 3], (3, inf)


def test_quantile_edges_are_deciles_of_the_data() -> None:
    values = np.arange(1, 101, dtype=float)
    edges = quantile_edges(values, 10)
    assert edges.tolist() == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert numeric_bin_proportions(values, edges) == pytest.approx([0.1] * 10)


def test_constant_column_gives_a_single_edge_that_works() -> None:
    edges = quantile_edges([5.0] * 20, 10)
    assert edges.tolist() == [5.0]
    assert numeric_bin_proportions([5.0, 5.0], edges).tolist() == [1.0, 0.0]
    assert numeric_bin_proportions([6.0, 5.0], edges).tolist() == [0.5, 0.5]


def test_binning_rejects_unsorted_edges_and_nan() -> None:
    with pytest.raises(ValueError, match="increasing"):
        numeric_bin_proportions([1.0], [2.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        numeric_bin_proportions([1.0, float("nan")], [2.0])


def test_finite_values_drops_what_is_not_a_finite_number() -> None:
    values, dropped = finite_values([1, "2.5", None, "", "abc", float("nan"), float("inf"), True])
    assert values.tolist() == [1.0, 2.5, 1.0]  # JSON true is 1, as numpy would read it
    assert dropped == 5


def test_categorical_proportions_have_an_unseen_bucket() -> None:
    result = categorical_proportions(["L", "M", "X", "L", 1.0, "Y", "X"], ["L", "M", "1"])
    assert result.counts.tolist() == [2, 1, 1, 3]
    assert result.proportions == pytest.approx([2 / 7, 1 / 7, 1 / 7, 3 / 7])
    assert result.unseen.tolist() == ["X", "Y"]


def test_category_keys_compare_json_and_csv_spellings() -> None:
    assert category_key(1) == category_key(1.0) == category_key("1") == "1"
    assert category_key(None) is None and category_key(float("nan")) is None and category_key(" ") is None


# -------------------------------------------------------------------------------------------- KS

KS_SIZES = [(2000, 500), (2000, 200), (500, 2000), (37, 53), (100, 100), (2000, 10_000), (2000, 12_000)]


@pytest.mark.parametrize(("n1", "n2"), KS_SIZES)
def test_ks_statistic_is_exactly_scipys(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 * 7 + n2)
    for trial in range(40 if max(n1, n2) < 5000 else 10):  # scipy's exact path is slow
        a = rng.normal(size=n1)
        b = rng.normal(loc=rng.uniform(0, 0.5), scale=rng.uniform(0.8, 1.2), size=n2)
        if trial % 2:  # heavy ties, as in readings rounded to 0.1 K
            a, b = np.round(a, 1), np.round(b, 1)
        assert ks_2samp(a, b).statistic == float(sps.ks_2samp(a, b).statistic)


def test_ks_statistic_edge_values() -> None:
    assert ks_2samp([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == (0.0, 1.0)
    disjoint = ks_2samp(np.arange(50.0), np.arange(100.0, 150.0))
    assert disjoint.statistic == 1.0
    assert disjoint.pvalue == pytest.approx(
        sps.ks_2samp(np.arange(50.0), np.arange(100.0, 150.0), method="asymp").pvalue
    )


@pytest.mark.parametrize(("n1", "n2"), KS_SIZES)
def test_ks_pvalue_agrees_with_scipy_asymp(n1: int, n2: int) -> None:
    """Stated tolerance: relative 1e-6 in the tail (n > 140, n D^2 >= 2.2), absolute 0.01 (n >= 100)
    or 0.02 (n >= 20) elsewhere, n = round(n1 n2 / (n1 + n2))."""
    rng = np.random.default_rng(n1 + 3 * n2)
    n = round(n1 * n2 / (n1 + n2))
    tail_checked = 0
    for _ in range(60):
        a = rng.normal(size=n1)
        b = rng.normal(loc=rng.uniform(0, 0.6), size=n2)
        ours = ks_2samp(a, b)
        reference = sps.ks_2samp(a, b, method="asymp")
        assert ours.statistic == pytest.approx(float(reference.statistic), abs=1e-15)
        assert abs(ours.pvalue - reference.pvalue) <= (0.01 if n >= 100 else 0.02)
        if n > 140 and n * ours.statistic**2 >= 2.2 and reference.pvalue > 0:
            assert ours.pvalue == pytest.approx(reference.pvalue, rel=1e-6)
            tail_checked += 1
    assert n <= 140 or tail_checked > 10  # the tail comparison really ran


def test_kolmogorov_sf_matches_scipy_kstwo_over_a_grid() -> None:
    for n in (150, 400, 1667, 5000):
        for d in np.linspace(0.005, 0.5, 120):
            reference = sps.kstwo.sf(d, n)
            ours = kolmogorov_sf(float(d), n)
            assert abs(ours - reference) < 0.01
            if n * d * d >= 2.2 and reference > 1e-300:
                assert ours == pytest.approx(reference, rel=1e-9)


def test_smirnov_one_sided_matches_scipy() -> None:
    for n in (1, 5, 50, 400, 20_000):
        for d in np.linspace(0.001, 0.999, 150):
            reference = special.smirnov(n, d)
            if reference > 1e-250:
                assert smirnov_sf(n, float(d)) == pytest.approx(reference, rel=1e-9)


def test_ks_rejects_nan_and_empty_samples() -> None:
    with pytest.raises(ValueError, match="NaN"):
        ks_2samp([1.0, float("nan")], [1.0])
    with pytest.raises(ValueError, match="empty"):
        ks_2samp([], [1.0])


# ------------------------------------------------------------------------------------ chi-square


def test_chi_square_hand_computed() -> None:
    # expected [50, 50]: (20^2 + 20^2) / 50 = 16; with 1 dof, sf(x) = erfc(sqrt(x / 2))
    result = chi_square([30, 70], [0.5, 0.5])
    assert result.statistic == pytest.approx(16.0, rel=1e-12)
    assert result.dof == 1
    assert result.pvalue == pytest.approx(math.erfc(math.sqrt(8.0)), rel=1e-12)
    # expected [60, 30, 10]: 100/60 + 0 + 100/10; with 2 dof, sf(x) = exp(-x / 2)
    result = chi_square([50, 30, 20], [0.6, 0.3, 0.1])
    assert result.statistic == pytest.approx(100 / 60 + 10, rel=1e-12)
    assert result.pvalue == pytest.approx(math.exp(-(100 / 60 + 10) / 2), rel=1e-12)


def test_chi_square_agrees_with_scipy() -> None:
    rng = np.random.default_rng(11)
    for k in (2, 3, 5, 12):
        for _ in range(25):
            proportions = rng.dirichlet(np.full(k, 2.0))
            proportions /= proportions.sum()
            counts = rng.multinomial(rng.integers(50, 5000), rng.dirichlet(np.full(k, 2.0)))
            ours = chi_square(counts, proportions)
            reference = sps.chisquare(counts, f_exp=counts.sum() * proportions)
            assert ours.statistic == pytest.approx(reference.statistic, rel=1e-10)
            assert ours.pvalue == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)
            assert ours.dof == k - 1


def test_chi2_sf_and_incomplete_gamma_agree_with_scipy() -> None:
    for dof in (1, 2, 3, 7, 30, 101, 1000):
        for x in np.concatenate([np.linspace(0.01, 4 * dof + 60, 150), [1e-6, 2000.0]]):
            reference = sps.chi2.sf(x, dof)
            if reference > 1e-300:
                assert chi2_sf(float(x), dof) == pytest.approx(reference, rel=1e-10)
    for a in (0.5, 1.5, 12.5, 250.0):
        for x in (0.0, 0.3, a, a + 1.0, 3 * a + 10):
            assert regularized_gamma_q(a, x) == pytest.approx(special.gammaincc(a, x), rel=1e-11)


def test_chi_square_unseen_bucket_and_empty_buckets() -> None:
    # buckets empty on both sides are dropped: same as the two-bucket test, one degree of freedom
    assert chi_square([30, 70, 0], [0.5, 0.5, 0.0]) == pytest.approx(chi_square([30, 70], [0.5, 0.5]))
    # values in a bucket the baseline never saw: a large, finite statistic
    unseen = chi_square([95, 5], [1.0, 0.0])
    assert unseen.dof == 1 and math.isfinite(unseen.statistic) and unseen.pvalue < 1e-12
    # a single informative bucket leaves nothing to test
    assert chi_square([100, 0], [1.0, 0.0]) == (0.0, 1.0, 0)


def test_chi_square_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="all zero"):
        chi_square([0, 0], [0.5, 0.5])
    with pytest.raises(ValueError, match="buckets"):
        chi_square([1, 2, 3], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        chi_square([-1, 2], [0.5, 0.5])
