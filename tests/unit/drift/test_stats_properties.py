"""Property-based tests of the drift statistics (pipelines/drift/stats.py).

What the verdict relies on, for any input: identical samples show no drift, every statistic is
symmetric where its definition is, bounded where it must be, and monotone where it should be.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipelines.drift.stats import (
    chi2_sf,
    chi_square,
    kolmogorov_sf,
    ks_2samp,
    numeric_bin_proportions,
    psi,
    quantile_edges,
    regularized_gamma_q,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=1, max_size=200)
# Readings as real data has them: many ties (rounded values), a handful of distinct ones.
rounded = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=200)


@st.composite
def proportion_pairs(draw):
    bins = draw(st.integers(2, 12))
    weights = st.lists(st.floats(0, 100, allow_nan=False), min_size=bins, max_size=bins)
    a, b = np.array(draw(weights)), np.array(draw(weights))
    assume(a.sum() > 0 and b.sum() > 0)
    return a / a.sum(), b / b.sum()


@settings(max_examples=300, deadline=None)
@given(proportion_pairs())
def test_psi_is_symmetric_non_negative_finite_and_zero_on_itself(pair):
    expected, actual = pair
    forward, backward = psi(expected, actual), psi(actual, expected)
    assert math.isfinite(forward) and forward >= 0
    assert math.isclose(forward, backward, rel_tol=1e-9, abs_tol=1e-12)
    assert psi(expected, expected) == 0.0


@settings(max_examples=300, deadline=None)
@given(st.one_of(samples, rounded), st.one_of(samples, rounded))
def test_ks_is_symmetric_and_bounded(a, b):
    forward, backward = ks_2samp(a, b), ks_2samp(b, a)
    assert 0.0 <= forward.statistic <= 1.0 and 0.0 <= forward.pvalue <= 1.0
    assert forward.statistic == backward.statistic
    assert forward.pvalue == backward.pvalue


@settings(max_examples=200, deadline=None)
@given(st.one_of(samples, rounded), st.randoms(use_true_random=False))
def test_identical_samples_show_no_drift(sample, random):
    shuffled = list(sample)
    random.shuffle(shuffled)  # the same values in another order are the same distribution
    result = ks_2samp(sample, shuffled)
    assert result.statistic == 0.0 and result.pvalue == 1.0
    edges = quantile_edges(sample, 10) if len(set(sample)) > 1 else np.array([sample[0]])
    proportions = numeric_bin_proportions(sample, edges)
    assert psi(proportions, numeric_bin_proportions(shuffled, edges)) == 0.0
    counts = np.round(proportions * len(sample))
    assert chi_square(counts, proportions).pvalue > 0.99


@settings(max_examples=300, deadline=None)
@given(samples, st.lists(finite, min_size=1, max_size=10, unique=True))
def test_bin_proportions_sum_to_one_over_k_plus_one_bins(values, edges):
    edges = sorted(edges)
    proportions = numeric_bin_proportions(values, edges)
    assert proportions.shape == (len(edges) + 1,)
    assert np.all(proportions >= 0) and math.isclose(float(proportions.sum()), 1.0)


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.integers(1, 5000))
def test_the_kolmogorov_survival_function_is_a_decreasing_probability(d1, d2, n):
    low, high = sorted((d1, d2))
    p_low, p_high = kolmogorov_sf(low, n), kolmogorov_sf(high, n)
    assert 0.0 <= p_high <= 1.0 and 0.0 <= p_low <= 1.0
    assert p_high <= p_low + 1e-9


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 1e4, allow_nan=False), st.floats(0, 1e4, allow_nan=False), st.integers(1, 200))
def test_the_chi_square_survival_function_is_a_decreasing_probability(x1, x2, dof):
    low, high = sorted((x1, x2))
    p_low, p_high = chi2_sf(low, dof), chi2_sf(high, dof)
    assert 0.0 <= p_high <= p_low + 1e-12 <= 1.0 + 1e-12
    assert 0.0 <= regularized_gamma_q(dof / 2.0, high / 2.0) <= 1.0
