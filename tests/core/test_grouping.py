"""Tests of ptycho.grouping.group_positions (specs/data_contracts.md DATA-008, DATA-009)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptycho.grouping import group_positions


def _grid(n_side: int, step: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:n_side, 0:n_side].astype(np.float64) * step
    return xx.ravel() + 40.0, yy.ravel() + 40.0


def _random_positions(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 200, m), rng.uniform(0, 200, m)


def _kth_neighbour_distance(x: np.ndarray, y: np.ndarray, seed: int, k: int) -> float:
    d = np.hypot(x - x[seed], y - y[seed])
    d[seed] = np.inf
    return float(np.sort(d)[k - 1])


# --- gridsize 1 ------------------------------------------------------------------------------


def test_gridsize1_without_n_groups_returns_every_position_in_scan_order() -> None:
    """DATA-008: C=1 and n_groups=None gives all positions, in order."""
    x, y = _random_positions(13, 0)
    groups = group_positions(x, y, 1)
    assert groups.dtype == np.int64
    np.testing.assert_array_equal(groups, np.arange(13)[:, None])


def test_gridsize1_more_groups_than_positions_uses_each_position_once() -> None:
    """DATA-009: C=1 cannot oversample; n_groups > M gives every position once."""
    x, y = _random_positions(7, 1)
    np.testing.assert_array_equal(group_positions(x, y, 1, n_groups=50), np.arange(7)[:, None])


def test_gridsize1_subset_is_seeded_distinct_and_kept_in_draw_order() -> None:
    """DATA-008: a smaller n_groups draws a seeded subset without replacement (draw order)."""
    x, y = _random_positions(100, 2)
    a = group_positions(x, y, 1, n_groups=20, seed=5)
    b = group_positions(x, y, 1, n_groups=20, seed=5)
    c = group_positions(x, y, 1, n_groups=20, seed=6)
    assert a.shape == (20, 1)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 20
    assert not np.array_equal(a, c)
    expected = np.random.default_rng(5).choice(100, size=20, replace=False)
    np.testing.assert_array_equal(a[:, 0], expected)


def test_gridsize1_sequential_takes_the_first_positions() -> None:
    """DATA-008: sequential sampling uses the first n_groups positions."""
    x, y = _random_positions(30, 3)
    np.testing.assert_array_equal(
        group_positions(x, y, 1, n_groups=4, sequential=True), np.arange(4)[:, None]
    )


# --- gridsize > 1 ----------------------------------------------------------------------------


def test_gridsize2_groups_start_with_their_seed_and_use_near_neighbours() -> None:
    """DATA-008: channel 0 is the seed; the others are among its K nearest neighbours."""
    x, y = _grid(6)
    groups = group_positions(x, y, 2, K=4, seed=0)
    assert groups.shape == (36, 4)
    np.testing.assert_array_equal(groups[:, 0], np.arange(36))
    for g in groups:
        assert len(set(g.tolist())) == 4
        kth = _kth_neighbour_distance(x, y, g[0], 4)
        assert np.all(np.hypot(x[g[1:]] - x[g[0]], y[g[1:]] - y[g[0]]) <= kth + 1e-9)


def test_neighbours_are_ordered_by_distance_rank() -> None:
    """DATA-008: channels 1..C-1 are kept in increasing distance from the seed."""
    x, y = _random_positions(60, 4)
    groups = group_positions(x, y, 2, K=8, seed=1)
    d = np.hypot(x[groups[:, 1:]] - x[groups[:, :1]], y[groups[:, 1:]] - y[groups[:, :1]])
    assert np.all(np.diff(d, axis=1) >= -1e-12)


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    gridsize=st.integers(1, 3),
    extra=st.integers(0, 30),
    k_extra=st.integers(0, 5),
    n_frac=st.one_of(st.none(), st.floats(0.01, 1.0)),
    seed=st.integers(0, 2**31 - 1),
    coarse=st.booleans(),
)
def test_property_groups_are_distinct_in_range_nearest_neighbours(
    gridsize: int, extra: int, k_extra: int, n_frac: float | None, seed: int, coarse: bool
) -> None:
    """DATA-008: every group has C distinct in-range members; for C>1 all are the seed or among
    its K nearest neighbours (ties allowed: coarse positions repeat), and seeded calls repeat."""
    c = gridsize * gridsize
    m = c + extra
    rng = np.random.default_rng(seed)
    if coarse:  # many duplicate and equidistant positions
        x = rng.integers(0, 4, m).astype(np.float64)
        y = rng.integers(0, 4, m).astype(np.float64)
    else:
        x, y = rng.uniform(0, 100, m), rng.uniform(0, 100, m)
    k = max(c - 1, 1) + k_extra
    n_groups = None if n_frac is None else max(1, int(n_frac * m))
    groups = group_positions(x, y, gridsize, n_groups=n_groups, K=k, seed=seed)
    assert groups.shape == (m if n_groups is None else n_groups, c)
    assert groups.dtype == np.int64
    assert groups.min() >= 0 and groups.max() < m
    for g in groups:
        assert len(set(g.tolist())) == c
    if c > 1:
        k_eff = min(k, m - 1)
        for g in groups:
            kth = _kth_neighbour_distance(x, y, g[0], k_eff)
            dist = np.hypot(x[g[1:]] - x[g[0]], y[g[1:]] - y[g[0]])
            assert np.all(dist <= kth + 1e-9)
    again = group_positions(x, y, gridsize, n_groups=n_groups, K=k, seed=seed)
    np.testing.assert_array_equal(groups, again)


@settings(max_examples=25, deadline=None, database=None)
@given(seed=st.integers(0, 2**31 - 2))
def test_property_different_seeds_give_different_groups(seed: int) -> None:
    """DATA-008: the neighbour choice depends on the seed."""
    x, y = _random_positions(200, 7)
    a = group_positions(x, y, 2, K=8, seed=seed)
    b = group_positions(x, y, 2, K=8, seed=seed + 1)
    assert not np.array_equal(a, b)


def test_generator_seed_is_accepted() -> None:
    """ARCH-011: a numpy Generator can be passed instead of an int seed."""
    x, y = _random_positions(40, 8)
    a = group_positions(x, y, 2, K=5, seed=np.random.default_rng(3))
    b = group_positions(x, y, 2, K=5, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_subset_of_seeds_for_gridsize2_is_seeded_and_distinct() -> None:
    """DATA-009: n_groups < M draws that many distinct seed positions."""
    x, y = _random_positions(50, 9)
    groups = group_positions(x, y, 2, n_groups=10, K=4, seed=2)
    assert groups.shape == (10, 4)
    assert len(np.unique(groups[:, 0])) == 10
    seq = group_positions(x, y, 2, n_groups=10, K=4, seed=2, sequential=True)
    np.testing.assert_array_equal(seq[:, 0], np.arange(10))


def test_k_larger_than_positions_is_capped() -> None:
    """DATA-008: K is capped at M-1."""
    x, y = _random_positions(5, 10)
    groups = group_positions(x, y, 2, K=50, seed=0)
    assert groups.shape == (5, 4)


def test_groups_of_100000_positions() -> None:
    """DATA-008: large scans are grouped (vectorised; timing lives in benchmarks/)."""
    x, y = _random_positions(100_000, 11)
    groups = group_positions(x, y, 2, K=4, seed=0)
    assert groups.shape == (100_000, 4)
    assert np.all(np.sort(groups, axis=1)[:, 1:] != np.sort(groups, axis=1)[:, :-1])


# --- oversampling ----------------------------------------------------------------------------


def test_oversampling_needs_the_flag() -> None:
    """DATA-009: more groups than positions for C>1 without the flag is a ValueError naming it."""
    x, y = _random_positions(20, 12)
    with pytest.raises(ValueError, match="enable_oversampling=True"):
        group_positions(x, y, 2, n_groups=21, K=6, seed=0)


def test_oversampling_gives_distinct_groups_of_near_neighbours() -> None:
    """DATA-009: oversampled groups are distinct sets drawn from the neighbour pool."""
    x, y = _random_positions(30, 13)
    groups = group_positions(
        x, y, 2, n_groups=150, K=4, seed=1, enable_oversampling=True, neighbor_pool_size=7
    )
    assert groups.shape == (150, 4)
    keys = {tuple(sorted(g.tolist())) for g in groups}
    assert len(keys) == 150
    for g in groups:
        assert len(set(g.tolist())) == 4
        kth = _kth_neighbour_distance(x, y, g[0], 7)
        assert np.all(np.hypot(x[g[1:]] - x[g[0]], y[g[1:]] - y[g[0]]) <= kth + 1e-9)
    again = group_positions(
        x, y, 2, n_groups=150, K=4, seed=1, enable_oversampling=True, neighbor_pool_size=7
    )
    np.testing.assert_array_equal(groups, again)
    # every position seeds at least one group
    assert set(groups[:, 0].tolist()) == set(range(30))


def test_oversampling_beyond_the_possible_combinations_is_an_error() -> None:
    """DATA-009: asking for more distinct groups than can exist is a clear ValueError."""
    x, y = _random_positions(6, 14)
    with pytest.raises(ValueError, match="neighbor_pool_size"):
        group_positions(x, y, 2, n_groups=10_000, K=3, seed=0, enable_oversampling=True)


def test_oversampling_pool_smaller_than_group_is_an_error() -> None:
    """DATA-009: neighbor_pool_size < C-1 cannot fill a group."""
    x, y = _random_positions(20, 15)
    with pytest.raises(ValueError, match="neighbor_pool_size >= 3"):
        group_positions(
            x, y, 2, n_groups=40, K=4, seed=0, enable_oversampling=True, neighbor_pool_size=2
        )


# --- bad input -------------------------------------------------------------------------------


def test_too_few_positions_for_the_gridsize() -> None:
    """DATA-006: fewer positions than C is a ValueError with both numbers."""
    x, y = _random_positions(3, 16)
    with pytest.raises(ValueError, match="need at least C=4 positions for gridsize 2, got 3"):
        group_positions(x, y, 2)


def test_k_smaller_than_group_is_an_error() -> None:
    """DATA-006: K < C-1 cannot fill a group."""
    x, y = _random_positions(30, 17)
    with pytest.raises(ValueError, match="set K >= 8"):
        group_positions(x, y, 3, K=5)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_positions_are_rejected(bad: float) -> None:
    """DATA-006: NaN/Inf positions are a ValueError naming the index."""
    x, y = _random_positions(10, 18)
    y[4] = bad
    with pytest.raises(ValueError, match="NaN/Inf values \\(first at index 4\\)"):
        group_positions(x, y, 1)


def test_mismatched_position_lengths_are_rejected() -> None:
    """DATA-006: x and y must have one value per position."""
    with pytest.raises(ValueError, match="same length, got 4 x values and 3 y values"):
        group_positions(np.zeros(4), np.zeros(3), 1)


@pytest.mark.parametrize("gridsize", [0, -1, 1.5])
def test_bad_gridsize_is_rejected(gridsize: float) -> None:
    """DATA-006: gridsize must be an integer >= 1."""
    x, y = _random_positions(10, 19)
    with pytest.raises(ValueError, match="gridsize must be an integer >= 1"):
        group_positions(x, y, gridsize)  # type: ignore[arg-type]


@pytest.mark.parametrize("n_groups", [0, -3])
def test_non_positive_n_groups_is_rejected(n_groups: int) -> None:
    """DATA-009: n_groups must be positive or None."""
    x, y = _random_positions(10, 20)
    with pytest.raises(ValueError, match="n_groups must be a positive integer or None"):
        group_positions(x, y, 1, n_groups=n_groups)


def test_empty_scan_is_rejected() -> None:
    """DATA-006: zero positions cannot be grouped."""
    with pytest.raises(ValueError, match="0 positions"):
        group_positions(np.zeros(0), np.zeros(0), 1)
