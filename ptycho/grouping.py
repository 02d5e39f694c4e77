"""Grouping of scan positions into solution regions of ``C = gridsize**2`` patterns.

This module owns :func:`group_positions`, the only place where scan positions are combined into
groups (``specs/data_contracts.md`` DATA-008 and DATA-009). It is pure NumPy/SciPy and fully
vectorised: there is no Python loop over groups or positions, so 100,000 positions are grouped in
a fraction of a second.

Rules
-----
* ``C == 1``: every group is one position. ``n_groups=None`` (or ``>= M``) gives all positions
  in scan order; a smaller ``n_groups`` gives a seeded random subset without replacement, in the
  order drawn (not sorted), or the first ``n_groups`` positions with ``sequential=True``.
* ``C > 1``: a :class:`scipy.spatial.cKDTree` on ``(x, y)`` is queried once for all seed
  positions. Channel 0 of each group is the seed itself; channels ``1..C-1`` are ``C-1`` distinct
  positions drawn at random (seeded) among the seed's ``K`` nearest neighbours, ordered by their
  distance rank (closest first). Including the seed keeps groups compact; the original PtychoPINN
  excluded it.
* Oversampling (more groups than positions, ``C > 1``) must be requested with
  ``enable_oversampling=True``; groups are then drawn with random seeds and random neighbour
  choices from a pool of ``neighbor_pool_size`` (default ``K``) neighbours and de-duplicated by
  their member set.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from ptycho.array_types import Float64Array, FloatArray, IntArray

__all__ = ["SeedLike", "TooManyGroupsError", "group_positions", "too_many_groups"]

logger = logging.getLogger(__name__)

SeedLike = int | np.random.Generator | None

#: Maximum number of draw rounds in the oversampling branch before giving up.
_MAX_OVERSAMPLING_ROUNDS = 32


class TooManyGroupsError(ValueError):
    """More groups than positions for ``C > 1`` without oversampling (DATA-009).

    Attributes
    ----------
    requested, positions, gridsize : int
        The request, the number of scan positions and the group side.
    """

    def __init__(self, requested: int, positions: int, gridsize: int) -> None:
        super().__init__(
            f"{requested} groups requested from {positions} positions with gridsize {gridsize}; "
            "more groups than positions needs enable_oversampling=True (or request at most "
            f"{positions} groups)"
        )
        self.requested = requested
        self.positions = positions
        self.gridsize = gridsize


def too_many_groups(
    n_groups: int | None, positions: int, gridsize: int, enable_oversampling: bool = False
) -> bool:
    """True when ``n_groups`` is the request DATA-009 refuses (C > 1, more groups than
    positions, no oversampling); the CLIs check it first to name their own flags."""
    return (
        n_groups is not None
        and int(gridsize) > 1
        and not enable_oversampling
        and int(n_groups) > int(positions)
    )


def _as_rng(seed: SeedLike) -> np.random.Generator:
    """Return a Generator for ``seed`` (an int, a Generator, or None for fresh OS entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _validate_positions(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Float64Array, Float64Array]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(
            f"x and y must be 1-D arrays of scan positions, got shapes {x.shape} and {y.shape}; "
            "pass one x (column) and one y (row) value per position"
        )
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same length, got {x.size} x values and {y.size} y values"
        )
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise ValueError(
            f"scan positions contain {int(bad.sum())} NaN/Inf values (first at index "
            f"{int(np.flatnonzero(bad)[0])}); remove or fix those positions before grouping"
        )
    return x, y


def _choose_neighbours(neighbours: IntArray, n_choose: int, rng: np.random.Generator) -> IntArray:
    """Pick ``n_choose`` distinct columns of each row of ``neighbours`` at random.

    Parameters
    ----------
    neighbours : (S, K) int64
        Candidate indices per row, ordered by distance rank.
    n_choose : int
        Number of distinct candidates to keep per row (``<= K``).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    (S, n_choose) int64
        Chosen candidates per row, kept in distance-rank order.
    """
    if n_choose == 0:
        return np.empty((neighbours.shape[0], 0), dtype=np.int64)
    keys = rng.random(neighbours.shape)
    cols = np.sort(np.argsort(keys, axis=1)[:, :n_choose], axis=1)
    return np.take_along_axis(neighbours, cols, axis=1)


def _neighbours_excluding_seed(
    tree: cKDTree, points: FloatArray, seeds: IntArray, k: int
) -> IntArray:
    """Return the ``k`` nearest neighbours of each seed, the seed itself excluded.

    Parameters
    ----------
    tree : cKDTree
        Tree built on ``points``.
    points : (M, 2) float64
        ``(x, y)`` positions.
    seeds : (S,) int64
        Indices of the seed positions.
    k : int
        Neighbours to return per seed (``<= M - 1``).

    Returns
    -------
    (S, k) int64
        Neighbour indices ordered by distance. When several positions coincide with the seed,
        the seed is still removed (or, if the tree did not list it, the farthest hit is dropped).
    """
    _, found = tree.query(points[seeds], k=k + 1)
    hits = np.asarray(found, dtype=np.int64).reshape(seeds.size, k + 1)
    drop = hits == seeds[:, None]
    # keep exactly one dropped column per row: the first occurrence of the seed, else the last
    first = np.argmax(drop, axis=1)
    has_seed = drop.any(axis=1)
    drop_col = np.where(has_seed, first, k)
    keep = np.ones_like(hits, dtype=bool)
    keep[np.arange(seeds.size), drop_col] = False
    neighbours: IntArray = hits[keep].reshape(seeds.size, k)
    return neighbours


def _oversample(
    tree: cKDTree,
    points: FloatArray,
    n_groups: int,
    n_choose: int,
    pool: int,
    rng: np.random.Generator,
) -> IntArray:
    """Draw ``n_groups`` distinct groups of ``1 + n_choose`` members (vectorised rounds)."""
    m = points.shape[0]
    max_distinct = m * math.comb(pool, n_choose)
    if n_groups > max_distinct:
        raise ValueError(
            f"cannot form {n_groups} distinct groups of {n_choose + 1} from {m} positions with a "
            f"neighbour pool of {pool} (at most {max_distinct}); increase neighbor_pool_size or "
            "request fewer groups"
        )
    groups = np.empty((0, n_choose + 1), dtype=np.int64)
    keys = np.empty((0, n_choose + 1), dtype=np.int64)
    for round_ in range(_MAX_OVERSAMPLING_ROUNDS):
        missing = n_groups - groups.shape[0]
        if missing <= 0:
            break
        if round_ == 0:
            seeds = rng.permutation(m)  # every position seeds at least one group first
            if seeds.size < 2 * n_groups:
                seeds = np.concatenate([seeds, rng.integers(0, m, size=2 * n_groups - m)])
        else:
            seeds = rng.integers(0, m, size=2 * missing)
        nbrs = _neighbours_excluding_seed(tree, points, seeds, pool)
        chosen = _choose_neighbours(nbrs, n_choose, rng)
        new = np.concatenate([seeds[:, None], chosen], axis=1)
        cand = np.concatenate([groups, new], axis=0)
        cand_keys = np.concatenate([keys, np.sort(new, axis=1)], axis=0)
        _, first = np.unique(cand_keys, axis=0, return_index=True)
        first = np.sort(first)  # keep draw order; earlier groups keep their place
        groups, keys = cand[first], cand_keys[first]
    if groups.shape[0] < n_groups:
        raise ValueError(
            f"could only form {groups.shape[0]} distinct groups of {n_choose + 1} from {m} "
            f"positions with a neighbour pool of {pool}, {n_groups} requested; increase "
            "neighbor_pool_size or request fewer groups"
        )
    return groups[:n_groups]


def group_positions(
    x: FloatArray,
    y: FloatArray,
    gridsize: int,
    n_groups: int | None = None,
    K: int = 4,
    seed: SeedLike = None,
    sequential: bool = False,
    enable_oversampling: bool = False,
    neighbor_pool_size: int | None = None,
) -> IntArray:
    """Group scan positions into solution regions of ``C = gridsize**2`` members.

    Parameters
    ----------
    x, y : (M,) float64
        Scan positions in object pixels (x = column, y = row); must be finite.
    gridsize : int
        Group side; ``C = gridsize**2`` members per group (``>= 1``).
    n_groups : int or None
        Number of groups. ``None`` means one group per scan position (all positions).
    K : int
        Number of nearest neighbours (seed excluded) the ``C - 1`` other members are drawn from;
        needs ``K >= C - 1``. Capped at ``M - 1``. Ignored when ``C == 1``.
    seed : int, numpy.random.Generator or None
        Seed of every random choice (seed positions, neighbour choices). ``None`` draws fresh OS
        entropy (not reproducible).
    sequential : bool
        Use the first ``n_groups`` positions as seeds instead of a random subset.
    enable_oversampling : bool
        Allow more groups than positions when ``C > 1``.
    neighbor_pool_size : int or None
        Neighbour pool for oversampling (default ``K``); needs ``>= C - 1``.

    Returns
    -------
    (n_groups, C) int64
        Indices into ``x``/``y``; all members of a group are distinct. For ``C > 1`` column 0 is
        the seed and columns ``1..C-1`` are among its ``K`` nearest neighbours.

    Raises
    ------
    ValueError
        Bad positions, ``gridsize < 1``, ``n_groups < 1``, fewer positions than ``C``,
        ``K < C - 1``, or more groups than positions for ``C > 1`` without
        ``enable_oversampling``.
    """
    x, y = _validate_positions(x, y)
    m = x.size
    if isinstance(gridsize, bool) or int(gridsize) != gridsize or gridsize < 1:
        raise ValueError(f"gridsize must be an integer >= 1, got {gridsize!r}")
    gridsize = int(gridsize)
    c = gridsize * gridsize
    if n_groups is not None and (int(n_groups) != n_groups or n_groups < 1):
        raise ValueError(
            f"n_groups must be a positive integer or None (one group per position), "
            f"got {n_groups!r}"
        )
    if m == 0:
        raise ValueError("no scan positions to group; the dataset holds 0 positions")
    if m < c:
        raise ValueError(
            f"need at least C={c} positions for gridsize {gridsize}, got {m}; use a smaller "
            "gridsize or a dataset with more scan positions"
        )
    rng = _as_rng(seed)
    wanted = m if n_groups is None else int(n_groups)

    if c == 1:
        if wanted >= m:
            if wanted > m:
                logger.info(
                    "n_groups=%d exceeds the %d positions; using every position once (gridsize 1 "
                    "groups cannot be oversampled)",
                    wanted,
                    m,
                )
            return np.arange(m, dtype=np.int64)[:, None]
        if sequential:
            return np.arange(wanted, dtype=np.int64)[:, None]
        return rng.choice(m, size=wanted, replace=False).astype(np.int64)[:, None]

    if int(K) != K or K < c - 1:
        raise ValueError(
            f"K={K} nearest neighbours cannot fill groups of C={c} (gridsize {gridsize}): each "
            f"group takes the seed plus C-1={c - 1} neighbours; set K >= {c - 1}"
        )
    k_eff = min(int(K), m - 1)
    points = np.column_stack([x, y])
    tree = cKDTree(points)

    if wanted > m:
        if not enable_oversampling:
            raise TooManyGroupsError(wanted, m, gridsize)
        pool = int(neighbor_pool_size) if neighbor_pool_size is not None else int(K)
        if pool < c - 1:
            raise ValueError(
                f"neighbor_pool_size={pool} cannot fill groups of C={c}: set "
                f"neighbor_pool_size >= {c - 1}"
            )
        pool = min(pool, m - 1)
        return _oversample(tree, points, wanted, c - 1, pool, rng)

    if wanted == m:
        seeds = np.arange(m, dtype=np.int64)
    elif sequential:
        seeds = np.arange(wanted, dtype=np.int64)
    else:
        seeds = rng.choice(m, size=wanted, replace=False).astype(np.int64)
    nbrs = _neighbours_excluding_seed(tree, points, seeds, k_eff)
    chosen = _choose_neighbours(nbrs, c - 1, rng)
    return np.concatenate([seeds[:, None], chosen], axis=1)
