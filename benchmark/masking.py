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
from benchmark.evaluator import EVAL_SEED
from benchmark.results_store import ResultsStore, RunKey

PGD, PGD_EPS32, PGD_5X = "pgd", "pgd(eps=0.12549019607843137,n_images=1000)", "pgd(steps=100,n_images=1000)"
DIAGNOSTIC_THREATS = (PGD_EPS32, PGD_5X)  # run for the checks, not leaderboard columns


def _noise(p: float, n: int) -> float:
    return 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1))


def masking_checks(acc: dict[str, float], n: dict[str, int], correct: dict[str, np.ndarray] | None = None,
                   n_test: int | None = None, seed: int = 0) -> dict[str, bool]:
    """Check name → passed, for every check whose threats were evaluated.

    ``correct`` (PGD's per-image outcomes on all ``n_test`` images) lets threats run on a seeded subset
    (Square, PGD×5) be compared with PGD on the same images.
    """

    def pgd_on(threat: str) -> float:
        if correct and correct.get(PGD) is not None and n_test and len(correct[PGD]) == n_test:
            return float(correct[PGD][subset_indices(n_test, n[threat], seed).numpy()].mean())
        return acc[PGD]

    out: dict[str, bool] = {}
    if PGD in acc and "fgsm" in acc:
        out["PGD ≤ FGSM"] = acc[PGD] <= acc["fgsm"] + _noise(acc["fgsm"], n["fgsm"])
    if PGD_EPS32 in acc:
        out["PGD(ε=32/255) < 5%"] = acc[PGD_EPS32] < 0.05
    if PGD in acc and PGD_5X in acc:
        base = pgd_on(PGD_5X)
        out["PGD×5 steps ≤ PGD"] = acc[PGD_5X] <= base + _noise(base, n[PGD_5X])
    if PGD in acc and "square" in acc:
        out["Square ≥ PGD − 2 pts"] = acc["square"] >= pgd_on("square") - 0.02
    return out


def flag(checks: dict[str, bool]) -> str:
    """The leaderboard cell: ``–`` (not checked), ``ok``, or ``⚠`` with the failed checks."""
    if not checks:
        return "–"
    failed = [k for k, ok in checks.items() if not ok]
    return "⚠ " + "; ".join(failed) if failed else "ok"


def masking_flags(store: ResultsStore, runs, results) -> list[str]:
    """The gradient-masking flag of every run (``–`` where the full suite was not run)."""
    flags = []
    for r in runs.itertuples():
        rows = results[(results.defense == r.defense) & (results.arch == r.arch) & (results.budget == r.budget)
                       & (results.seed == r.seed)]
        acc = dict(zip(rows.threat, rows.accuracy, strict=True))
        n = dict(zip(rows.threat, rows.n, strict=True))
        key = RunKey(r.defense, r.arch, r.budget, int(r.seed))
        pgd = store.correct(key, PGD) if PGD in acc else None
        checks = masking_checks(acc, n, {PGD: pgd} if pgd is not None else None, n.get("clean"), EVAL_SEED)
        flags.append(flag(checks))
    return flags


def combine_flags(flags: list[str], seeds: list[int] | None = None) -> str:
    """One masking cell for several seeds: every failed check of any seed, else ``ok``, else ``–``; where only
    some seeds were checked (``seeds`` given, one per flag), the cell names them, e.g. ``ok (s0)``."""
    failed = sorted({c for f in flags if f.startswith("⚠") for c in f[2:].split("; ")})
    cell = "⚠ " + "; ".join(failed) if failed else ("ok" if "ok" in flags else "–")
    checked = [s for s, f in zip(seeds or [], flags, strict=False) if f != "–"]
    if cell != "–" and seeds is not None and len(checked) < len(flags):
        cell += f" ({', '.join(f's{s}' for s in sorted(checked))})"
    return cell


def entry_flags(store: ResultsStore) -> dict[tuple[str, str, str], str]:
    """The masking cell of every (defense, arch, budget) in ``store``, over its seeds."""
    from collections import defaultdict

    runs, results = store.runs(), store.results()
    by_entry: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
    if len(runs):
        for r, f in zip(runs.itertuples(), masking_flags(store, runs, results), strict=True):
            by_entry[(r.defense, r.arch, r.budget)].append((int(r.seed), f))
    return {k: combine_flags([f for _, f in v], [s for s, _ in v]) for k, v in by_entry.items()}
