"""The analyses' statistics against hand computations, and on simulated cities without any pattern: seeded, many
runs in one test, the share of runs with any flag at all no more than the stated error rate (alpha = 0.05)."""

from __future__ import annotations

import math

import numpy as np

from dispatch.analysis.stats import benjamini_hochberg, excess_p, gi_star, neighbourhood_p, neighbourhood_sums

ALPHA = 0.05


def lattice(side: int) -> list[list[int]]:
    """Queen neighbourhoods (itself included) of a side × side lattice, row by row."""
    out = []
    for r in range(side):
        for c in range(side):
            out.append(
                [
                    rr * side + cc
                    for rr in range(max(0, r - 1), min(side, r + 2))
                    for cc in range(max(0, c - 1), min(side, c + 2))
                ]
            )
    return out


def test_gi_star_against_a_hand_computation() -> None:
    # Nine cells, 9 cases in the centre: n = 9, mean 1, s = √(81/9 − 1) = √8.
    # A corner's neighbourhood (4 cells): (9 − 1·4) / (√8 · √((9·4 − 16)/8)) = 5 / (√8 · √2.5) = 1.118034
    # an edge's (6 cells): (9 − 6) / (√8 · √((9·6 − 36)/8)) = 3 / (√8 · 1.5) = 0.707107; the centre's (all 9): 0.
    z = gi_star([0, 0, 0, 0, 9, 0, 0, 0, 0], lattice(3))
    assert np.allclose(z, [1.118034, 0.707107, 1.118034, 0.707107, 0, 0.707107, 1.118034, 0.707107, 1.118034])
    # Another by hand: counts 1..9, the corner 0 with neighbours 0, 1, 3, 4 (counts 1, 2, 4, 5: 12).
    x = np.arange(1, 10, dtype=float)
    mean, s = 5.0, math.sqrt(sum(v * v for v in range(1, 10)) / 9 - 25)
    assert math.isclose(gi_star(x, lattice(3))[0], (12 - mean * 4) / (s * math.sqrt((9 * 4 - 16) / 8)))
    assert np.all(gi_star([3, 3, 3, 3], lattice(2)) == 0)  # no variation: nothing hot or cold


def test_exact_tests_against_hand_computations() -> None:
    # 3 cases today, none in 8 weeks: P(X ≥ 3), X ~ Bin(3, 1/9) = (1/9)³.
    assert math.isclose(excess_p([3], [0], 8)[0], (1 / 9) ** 3)
    assert math.isclose(excess_p([1], [0], 8)[0], 1 / 9)  # one case where there were none: not surprising
    assert excess_p([0], [5], 8)[0] == 1.0
    # 2 of 10 cases in a neighbourhood holding a tenth of the area: P(X ≥ 2) = 1 − 0.9¹⁰ − 10·0.1·0.9⁹.
    upper, lower = neighbourhood_p([2], [0.1], 10)
    assert math.isclose(upper[0], 1 - 0.9**10 - 10 * 0.1 * 0.9**9)
    assert math.isclose(lower[0], 0.9**10 + 10 * 0.1 * 0.9**9 + 45 * 0.01 * 0.9**8)
    # Benjamini–Hochberg: p sorted (0.01, 0.02, 0.03, 0.5) × m/rank = (0.04, 0.04, 0.04, 0.5).
    assert np.allclose(benjamini_hochberg([0.5, 0.01, 0.03, 0.02]), [0.5, 0.04, 0.04, 0.04])


def _runs_with_a_flag(flags: list[bool]) -> float:
    share = sum(flags) / len(flags)
    print(f"runs with a false flag: {share:.3f}")
    return share


# With 400 runs the share of a true 5 % has a standard error of 1.1 %: 0.075 is more than two of them above.
LIMIT = ALPHA + 0.025


def test_random_days_yield_no_more_false_anomalies_than_alpha() -> None:
    """1,000 places a run, each with its own steady rate (many tiny, some large), 8 baseline weeks and the day."""
    rng = np.random.default_rng(20261206)
    flags = []
    for _ in range(400):
        rates = rng.gamma(0.5, 2.0, size=1000)
        baseline = rng.poisson(rates * 8)
        today = rng.poisson(rates)
        tested = (baseline + today) > 0
        q = benjamini_hochberg(excess_p(today[tested], baseline[tested], 8))
        flags.append(bool((q <= ALPHA).any()))
    assert _runs_with_a_flag(flags) <= LIMIT


def test_the_anomaly_test_finds_a_planted_excess() -> None:
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(100):
        rates = rng.gamma(0.5, 2.0, size=1000)
        baseline, today = rng.poisson(rates * 8), rng.poisson(rates)
        baseline[0], today[0] = 8, 9  # one a day, then nine
        q = benjamini_hochberg(excess_p(today, baseline, 8))
        found += q[0] <= ALPHA
    assert found >= 95


def _hot_or_cold(counts: np.ndarray, neighbours: list[list[int]]) -> np.ndarray:
    local = neighbourhood_sums(counts, neighbours)
    shares = neighbourhood_sums(np.ones(len(counts)), neighbours) / len(counts)
    upper, lower = neighbourhood_p(local, shares, int(counts.sum()))
    return benjamini_hochberg(np.minimum(1.0, 2 * np.minimum(upper, lower))) <= ALPHA


def test_random_cities_yield_no_more_false_hot_or_cold_cells_than_alpha() -> None:
    """A 20 × 20 grid, cases scattered at random over it: sparse (60 cases) and dense (4,000)."""
    rng = np.random.default_rng(24)
    neighbours = lattice(20)
    for total in (60, 4000):
        flags = [bool(_hot_or_cold(rng.multinomial(total, [1 / 400] * 400), neighbours).any()) for _ in range(400)]
        assert _runs_with_a_flag(flags) <= LIMIT, total


def test_a_planted_hot_cell_is_found_and_its_z_is_high() -> None:
    rng = np.random.default_rng(5)
    neighbours = lattice(30)
    counts = rng.multinomial(300, [1 / 900] * 900)
    for i in neighbours[15 * 30 + 15]:  # ten more cases in each cell around the centre
        counts[i] += 10
    flagged = _hot_or_cold(counts, neighbours)
    assert flagged[15 * 30 + 15]
    assert gi_star(counts, neighbours)[15 * 30 + 15] > 10
