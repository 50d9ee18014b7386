"""Automatic gradient-masking checks for entries evaluated with the ``full`` suite.

A defense that only hides gradients looks robust to gradient attacks and is not (Athalye et al. 2018,
arXiv:1802.00420; Carlini et al. 2019, *On Evaluating Adversarial Robustness*, arXiv:1902.06705). Each
check compares two numbers the full suite already measured; "noise" is the 95% binomial half-width
1.96·√(p(1−p)/n) of the accuracy being compared. A flagged entry is marked in the leaderboard, never hidden.
"""

from __future__ import annotations

import math

import numpy as np

from attacks.base import subset_indices

PGD, PGD_EPS32, PGD_5X = "pgd", "pgd(eps=0.12549019607843137)", "pgd(steps=100)"
DIAGNOSTIC_THREATS = (PGD_EPS32, PGD_5X)  # run for the checks, not leaderboard columns


def _noise(p: float, n: int) -> float:
    return 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1))


def masking_checks(acc: dict[str, float], n: dict[str, int], correct: dict[str, np.ndarray] | None = None,
                   n_test: int | None = None, seed: int = 0) -> dict[str, bool]:
    """Check name → passed, for every check whose threats were evaluated.

    ``correct`` (per-image outcomes) lets Square, run on a seeded subset, be compared with PGD on the
    same images.
    """
    out: dict[str, bool] = {}
    if PGD in acc and "fgsm" in acc:
        out["PGD ≤ FGSM"] = acc[PGD] <= acc["fgsm"] + _noise(acc["fgsm"], n["fgsm"])
    if PGD_EPS32 in acc:
        out["PGD(ε=32/255) < 5%"] = acc[PGD_EPS32] < 0.05
    if PGD in acc and PGD_5X in acc:
        out["PGD×5 steps ≤ PGD"] = acc[PGD_5X] <= acc[PGD] + _noise(acc[PGD], n[PGD])
    if PGD in acc and "square" in acc:
        pgd = acc[PGD]
        if correct and PGD in correct and n_test is not None and len(correct[PGD]) == n_test:
            pgd = float(correct[PGD][subset_indices(n_test, n["square"], seed).numpy()].mean())
        out["Square ≥ PGD − 2 pts"] = acc["square"] >= pgd - 0.02
    return out


def flag(checks: dict[str, bool]) -> str:
    """The leaderboard cell: ``–`` (not checked), ``ok``, or ``⚠`` with the failed checks."""
    if not checks:
        return "–"
    failed = [k for k, ok in checks.items() if not ok]
    return "⚠ " + "; ".join(failed) if failed else "ok"
