"""The statistics of the analyses, as pure functions of counts (no database), so that they are tested by hand and
on thousands of simulated cities in a second.

- `gi_star`: the Getis-Ord Gi* z-score of every cell (Getis and Ord 1992, Ord and Getis 1995), binary weights over
  each cell's neighbourhood including the cell itself, the same statistic as PySAL's `esda.G_Local(star=True)` and
  ArcGIS's Hot Spot Analysis:

      z_i = (Σ_j w_ij x_j − x̄ Σ_j w_ij) / (s √((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)))

  with x̄ the mean and s the standard deviation (divided by n) of all n cells' counts.
- `neighbourhood_p`: the significance of a cell's neighbourhood count under complete spatial randomness (every case
  of the period fell on any cell of the area with a chance proportional to its area, independently): the count of
  N cases in a neighbourhood holding the share a of the area is Binomial(N, a). Exact, where the normal
  approximation of the z-score overstates significance on the sparse counts of small cells (a neighbourhood of nine
  cells with two or three cases is "significant" by z on a quiet day).
- `excess_p`: today's count against its own baseline, the exact conditional test of two Poisson rates
  (Przyborowski and Wilenski 1940): given the x cases in the period and the b cases in the `weeks` baseline windows
  of the same length, under an unchanged rate x is Binomial(x + b, 1 / (weeks + 1)). A place with no baseline at
  all is not flagged for one case.
- `benjamini_hochberg`: the false discovery rate correction over the places tested (scipy's
  `false_discovery_control`), so that flagging among thousands of cells does not flag by chance: when nothing is
  going on anywhere, the chance of any flag at all is at most `alpha`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

FloatArray = NDArray[np.float64]


def neighbourhood_sums(values: ArrayLike, neighbours: list[list[int]]) -> FloatArray:
    """Σ of `values` over each cell's neighbourhood (`neighbours[i]`: the indexes of cell i's, itself included)."""
    x = np.asarray(values, dtype=np.float64)
    rows = np.repeat(np.arange(len(neighbours)), [len(ns) for ns in neighbours])
    cols = np.fromiter((j for ns in neighbours for j in ns), dtype=np.int64, count=len(rows))
    return np.asarray(np.bincount(rows, weights=x[cols], minlength=len(neighbours)), dtype=np.float64)


def gi_star(values: ArrayLike, neighbours: list[list[int]]) -> FloatArray:
    """The Gi* z-score of each cell: `values` the cells' counts, `neighbours[i]` the indexes of cell i's neighbours,
    itself included. Zero where every cell has the same count (no variation: nothing is hot or cold)."""
    x = np.asarray(values, dtype=np.float64)
    local = neighbourhood_sums(x, neighbours)  # Σ_j w_ij x_j
    k = neighbourhood_sums(np.ones(len(x)), neighbours)  # Σ_j w_ij = Σ_j w_ij² (binary weights)
    return gi_star_of_sums(x, local, k)


def gi_star_of_sums(values: ArrayLike, local: ArrayLike, sizes: ArrayLike) -> FloatArray:
    """The same z-scores from each cell's neighbourhood sum (`local`) and size (`sizes`, itself included), where
    those are kept rather than the neighbourhoods (the analyses' roll-up of the grid)."""
    x = np.asarray(values, dtype=np.float64)
    local = np.asarray(local, dtype=np.float64)
    k = np.asarray(sizes, dtype=np.float64)
    n = len(x)
    if n < 2:
        return np.zeros(n)
    mean = x.mean()
    s = np.sqrt((x * x).mean() - mean * mean)
    if s == 0:
        return np.zeros(n)
    denominator = s * np.sqrt(np.maximum(n * k - k * k, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (local - mean * k) / denominator
    return np.where(denominator > 0, z, 0.0)


def neighbourhood_p(counts: ArrayLike, shares: ArrayLike, total: int) -> tuple[FloatArray, FloatArray]:
    """The upper (hot) and lower (cold) tail p-values of each neighbourhood's count of the `total` cases, its share
    of the area being `shares`: P(X ≥ count) and P(X ≤ count) for X ~ Binomial(total, share)."""
    c = np.asarray(counts, dtype=np.float64)
    a = np.clip(np.asarray(shares, dtype=np.float64), 0.0, 1.0)
    upper = stats.binom.sf(c - 1, total, a)
    lower = stats.binom.cdf(c, total, a)
    return np.asarray(upper, dtype=np.float64), np.asarray(lower, dtype=np.float64)


def excess_p(counts: ArrayLike, baselines: ArrayLike, weeks: int) -> FloatArray:
    """P(X ≥ count) for X ~ Binomial(count + baseline, 1 / (weeks + 1)): how surprising the period's count is next
    to the `weeks` windows before it, were the rate unchanged. 1 where there is nothing (no case at all)."""
    x = np.asarray(counts, dtype=np.float64)
    b = np.asarray(baselines, dtype=np.float64)
    return np.asarray(stats.binom.sf(x - 1, x + b, 1.0 / (weeks + 1)), dtype=np.float64)


def benjamini_hochberg(p_values: ArrayLike) -> FloatArray:
    """Benjamini–Hochberg adjusted p-values (q): a place is flagged at false discovery rate alpha when q ≤ alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    if len(p) == 0:
        return p
    return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=np.float64)
