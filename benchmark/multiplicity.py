"""How many intervals a board shows and what a multiplicity correction changes: p-values recovered from
each delta's stated interval, Holm's step-down procedure (Holm 1979, *A Simple Sequentially Rejective
Multiple Test Procedure*, Scand. J. Statist. 6:65–70), and the note printed under Table 4."""

from __future__ import annotations

import re

import numpy as np

MARK = "✱"  # the 95% interval of a delta excludes zero
TABLE4_SUMMARY = ("robustness", "generalization", "average")


def _distribution(method: str):
    """The reference distribution of an interval's method: t with k − 1 degrees of freedom for the seed-based
    methods ("… over k seeds"), the standard normal otherwise."""
    from scipy import stats

    m = re.search(r"over (\d+) seeds", method)
    return stats.t(int(m.group(1)) - 1) if m and int(m.group(1)) > 1 else stats.norm()


def _p_value(d: dict) -> tuple[float, float] | None:
    """(two-sided p-value, standard error) of a delta from its stated interval: t with k − 1 degrees of
    freedom for the seed-based methods ("… over k seeds"), the normal quantile otherwise; None without one."""
    if d.get("ci95") is None:
        return None
    dist = _distribution(d["method"])
    se = d["ci95"] / dist.ppf(0.975)
    if se == 0:
        return (0.0 if d["mean"] else 1.0), 0.0
    return float(2 * dist.sf(abs(d["mean"]) / se)), float(se)


def holm(pvalues: dict[str, float], alpha: float = 0.05) -> set[str]:
    """The hypotheses Holm's step-down procedure rejects at family-wise level ``alpha`` (Holm 1979)."""
    rejected = set()
    for i, (name, p) in enumerate(sorted(pvalues.items(), key=lambda kv: kv[1])):
        if p > alpha / (len(pvalues) - i):
            break
        rejected.add(name)
    return rejected


def multiplicity_note(group: list[dict]) -> str:
    """How many intervals the table shows, which ✱ of its summary deltas survive a Holm adjustment, and the
    smallest Robustness effect its seeds could detect."""
    shown = sum(len(e["deltas"] or {}) for e in group)
    family = {f"{e['name']} {k}": pv[0] for e in group for k in TABLE4_SUMMARY
              if (d := (e["deltas"] or {}).get(k)) and (pv := _p_value(d)) is not None}
    if not family:
        return f"_Multiplicity: {shown} delta intervals, none with a p-value to adjust._"
    marked = {f"{e['name']} {k}" for e in group for k in TABLE4_SUMMARY
              if (e["deltas"] or {}).get(k, {}).get("excludes_zero")}
    kept = holm(family)
    lost = sorted(marked - kept)
    mde = []
    for e in group:
        d = (e["deltas"] or {}).get("robustness")
        if d and (pv := _p_value(d)) is not None:
            dist = _distribution(d["method"])
            mde.append((dist.ppf(0.975) + dist.ppf(0.80)) * pv[1])
    mde_text = (f" With these seeds, a Robustness effect of about {100 * float(np.median(mde)):.2f} points (median "
                "over the rows) is the smallest detectable with 80% power at the 5% level; smaller true effects "
                "are not excluded by a non-significant row." if mde else "")
    return (f"_Multiplicity: the board shows {shown} delta intervals, each at 95% on its own. Holm-adjusted over the "
            f"{len(family)} Robustness / Generalization / Average deltas of this table (family-wise 5%), "
            + (f"these ✱ do not hold: {', '.join(lost)}." if lost else "every ✱ holds.") + mde_text + "_")
