"""The statistics the fairness tests judge an admission order by.

Ranks are averaged over ties: buyers admitted in one step of the admitter
share a moment, and only that moment is seen over the wire. Under a uniform
shuffle the admission ranks are a random permutation of fixed values, and
the Pearson correlation of fixed values with a random permutation of others
has mean 0 and variance exactly 1/(n - 1), ties or not; so the bounds below
hold with ties too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from seatserver.loadgen.queueing import ranks
from seatserver.loadgen.queueing import spearman as rank_correlation

__all__ = ["chi_square", "chi_square_tail", "decile_table", "ranks", "spearman"]


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rho (the load generator's, whose audit judges the same
    thing): the Pearson correlation of the tie-averaged ranks."""
    rho = rank_correlation(xs, ys)
    assert rho is not None, "too few values, or all equal"
    return rho


def decile_table(arrival: Sequence[float], admission: Sequence[float]) -> list[list[int]]:
    """How many of each tenth of the arrivals fall in each tenth of the
    admissions (by tie-averaged rank: a step's buyers stay together)."""
    n = len(arrival)
    table = [[0] * 10 for _ in range(10)]
    for came, went in zip(ranks(arrival), ranks(admission), strict=True):
        table[min(9, int((came - 1) * 10 // n))][min(9, int((went - 1) * 10 // n))] += 1
    return table


def chi_square(table: list[list[int]]) -> tuple[float, int]:
    """Pearson's chi-square of independence and its degrees of freedom, the
    expected counts from the margins: a step's buyers share one tenth, so
    tenths of the admissions are uneven and some empty (and then count for
    no degree of freedom)."""
    rows = [sum(r) for r in table]
    cols = [sum(c) for c in zip(*table, strict=True)]
    total = sum(rows)
    chi2 = sum((cell - rows[i] * cols[j] / total) ** 2 / (rows[i] * cols[j] / total)
               for i, row in enumerate(table) for j, cell in enumerate(row)
               if rows[i] and cols[j])
    return chi2, (sum(1 for r in rows if r) - 1) * (sum(1 for c in cols if c) - 1)


def chi_square_tail(chi2: float, df: int) -> float:
    """P(X >= chi2) for X chi-square with ``df`` degrees of freedom, by
    Wilson and Hilferty's cube root (a normal variable). Checked against
    scipy for 9 to 81 degrees of freedom at 1e-6 to 1e-8: a little above
    the exact tail (by 8 to 60 %), so a bound on it errs on the safe side."""
    if df <= 0:
        return 1.0
    spread = 2 / (9 * df)
    z = ((chi2 / df) ** (1 / 3) - (1 - spread)) / math.sqrt(spread)
    return 0.5 * math.erfc(z / math.sqrt(2))
