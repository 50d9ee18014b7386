"""Leaderboard tables rendered from stored results (pandas + tabulate), in the paper's signed format.

Table 4 of Jordao & Pedrini (ICCV-W 2021): one row per defense; accuracy per threat; Robustness = mean
accuracy delta vs the baseline over the non-clean threats; Generalization = clean-accuracy delta;
Average = mean of the two. Deltas are percentage points, signed as the paper: "(+) 1.58", "(-) 0.60".
"""

from __future__ import annotations

import math

import pandas as pd

from benchmark.budgets import BUDGETS

THREAT_TITLES = {"clean": "Clean", "fgsm": "FGSM", "pgd": "PGD", "autoattack": "AutoAttack", "semantic-hsv": "HSV",
                 "occlusion-worst": "Occlusion (worst)", "corruptions": "CIFAR-10-C"}


def signed(delta: float) -> str:
    """A percentage-point delta in the paper's format: ``(+) 1.58``, ``(-) 0.60``; NaN → ``–``."""
    if delta is None or (isinstance(delta, float) and math.isnan(delta)):
        return "–"
    shown = round(delta, 2) + 0.0  # + 0.0 turns -0.0 into 0.0: a delta that rounds to zero is "(+) 0.00"
    return f"({'-' if shown < 0 else '+'}) {abs(shown):.2f}"


def percent(acc: float) -> str:
    return "–" if acc is None or math.isnan(acc) else f"{100 * acc:.2f}"


def millions(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x / 1e6:.{digits}f} M"


def threat_title(name: str) -> str:
    return THREAT_TITLES.get(name, name.replace("-", " ").title())


def defense_deltas(results: pd.DataFrame, baseline: str = "baseline") -> pd.DataFrame:
    """Mean accuracy per (defense, threat) over seeds and the delta vs the baseline, paired by seed.

    ``results`` has columns defense, seed, threat, accuracy (one architecture and budget). Returns
    columns defense, threat, accuracy, delta (percentage points; NaN without a baseline on that seed).
    """
    acc = results.pivot_table(index=["defense", "seed"], columns="threat", values="accuracy")
    out = []
    base = acc.xs(baseline, level="defense") if baseline in acc.index.get_level_values("defense") else None
    for defense, frame in acc.groupby(level="defense", sort=False):
        frame = frame.droplevel("defense")
        for threat in frame.columns:
            a = frame[threat].dropna()
            d = math.nan
            if base is not None and threat in base.columns:
                paired = (a - base[threat]).dropna()
                d = 100 * paired.mean() if len(paired) else math.nan
            out.append({"defense": defense, "threat": threat, "accuracy": a.mean(), "delta": d})
    return pd.DataFrame(out)


def table4(results: pd.DataFrame, threats: list[str], info: dict[str, dict] | None = None,
           baseline: str = "baseline") -> str:
    """Markdown Table 4 for one architecture and budget.

    Args:
        results: rows of defense, seed, threat, accuracy.
        threats: column order; ``clean`` is the generalisation column, the others are robustness.
        info: per defense, optional ``params``, ``flops`` and ``latency_ms`` (numbers) shown as columns.
    """
    info = info or {}
    d = defense_deltas(results, baseline)
    acc = d.pivot(index="defense", columns="threat", values="accuracy")
    delta = d.pivot(index="defense", columns="threat", values="delta")
    threats = [t for t in threats if t in acc.columns]
    attacks = [t for t in threats if t != "clean"]
    rows = []
    for defense in acc.index:
        # NaN (shown "–") unless the entry was scored on every threat of the table: no partial means
        rob = delta.loc[defense, attacks].mean(skipna=False) if attacks else math.nan
        gen = delta.loc[defense, "clean"] if "clean" in delta.columns else math.nan
        is_base = defense == baseline
        row = {"Defense": defense}
        row.update({threat_title(t): percent(acc.loc[defense, t]) for t in threats})
        row["Robustness"] = "–" if is_base else signed(rob)
        row["Generalization"] = "–" if is_base else signed(gen)
        row["Average"] = "–" if is_base else signed((rob + gen) / 2)
        row["Params"] = millions(info.get(defense, {}).get("params"), 3)
        row["FLOPs"] = millions(info.get(defense, {}).get("flops"))
        if any("latency_ms" in v for v in info.values()):
            ms = info.get(defense, {}).get("latency_ms")
            row["CPU ms/img"] = "–" if ms is None else f"{ms:.2f}"
        if any(v.get("masking", "–") != "–" for v in info.values()):
            row["Masking"] = info.get(defense, {}).get("masking", "–")
        row["_sort"] = (0 if is_base else 1, -((rob + gen) / 2) if not math.isnan(rob + gen) else math.inf, defense)
        rows.append(row)
    rows.sort(key=lambda r: r.pop("_sort"))
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def cost_table(results: pd.DataFrame, threats: list[str]) -> str:
    """Seconds and images per threat, mean over the entries of one table."""
    g = results.groupby("threat").agg(seconds=("seconds", "mean"), n=("n", "max"))
    rows = [{"Threat": t, "Images": int(g.loc[t, "n"]), "Seconds": f"{g.loc[t, 'seconds']:.1f}"}
            for t in threats if t in g.index]
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def header(arch: str, budget: str, seeds: list[int]) -> str:
    b = BUDGETS.get(budget)
    plural = "s" if len(seeds) != 1 else ""
    line = f"Architecture **{arch}**, budget **{budget}**, seed{plural} {', '.join(map(str, sorted(seeds)))}."
    return line + (f"\n\n{b.describe()}." if b else "")


def combine_flags(flags: list[str]) -> str:
    """One masking cell for several seeds: every failed check of any seed, else ``ok``, else ``–``."""
    failed = sorted({c for f in flags if f.startswith("⚠") for c in f[2:].split("; ")})
    return "⚠ " + "; ".join(failed) if failed else ("ok" if "ok" in flags else "–")


def render_leaderboard(results: pd.DataFrame, runs: pd.DataFrame, threats: list[str] | None = None,
                       failed: pd.DataFrame | None = None, unavailable: pd.DataFrame | None = None) -> str:
    """The whole LEADERBOARD.md: one Table 4 per (architecture, budget), then failed runs if any."""
    parts = ["# defense-bench leaderboard", "",
             "Accuracies in %, mean over seeds. Deltas are percentage points vs the baseline trained under the "
             "same budget, paired by seed: Robustness = mean delta over the non-clean threats, Generalization = "
             "clean delta, Average = their mean (Jordao & Pedrini, ICCV-W 2021, Table 4).", ""]
    if results.empty:
        parts.append("_No finished runs yet._")
    for (arch, budget), frame in results.groupby(["arch", "budget"], sort=True):
        order = threats or list(dict.fromkeys(["clean", *sorted(frame["threat"].unique())]))
        info = {}
        sel = runs[(runs["arch"] == arch) & (runs["budget"] == budget)] if len(runs) else runs
        for defense, rf in sel.groupby("defense") if len(sel) else []:
            info[defense] = {k: rf[k].mean() for k in ("params", "flops", "latency_ms")
                             if k in rf and rf[k].notna().any()}
            if "masking" in rf:
                info[defense]["masking"] = combine_flags(list(rf["masking"]))
        parts += [f"## Table 4 — {arch}, {budget}", "", header(arch, budget, sorted(frame["seed"].unique())), "",
                  table4(frame, order, info), ""]
        parts += pruning_tables(frame, order)
        if "seconds" in frame:
            parts += ["**Evaluation cost** (seconds per model on this run's hardware, mean over entries)", "",
                      cost_table(frame, order), ""]
    if unavailable is not None and len(unavailable):
        parts += ["## Threats not evaluated", ""]
        parts += sorted({f"- `{r.threat}`: {r.unavailable}" for r in unavailable.itertuples()})
        parts.append("")
    if failed is not None and len(failed):
        parts += ["## Failed runs", ""]
        parts += [f"- `{r.key}`: {r.error}" for r in failed.itertuples()]
        parts.append("")
    return "\n".join(parts)


def delta_table(results: pd.DataFrame, rows: list[tuple[str, str]], threats: list[str],
                first_column: str, baseline: str = "baseline") -> str | None:
    """Markdown table of accuracy deltas vs the baseline per threat and their average over all threats.

    ``rows`` pairs a row title with the defense label whose results it shows; rows without results are
    left out, and None is returned when no row has results (the table is then omitted).
    """
    d = defense_deltas(results, baseline)
    delta = d.pivot(index="defense", columns="threat", values="delta") if len(d) else pd.DataFrame()
    threats = [t for t in threats if t in delta.columns]
    out = []
    for title, label in rows:
        if label not in delta.index or label == baseline:
            continue
        vals = [delta.loc[label, t] for t in threats]
        row = {first_column: title, **{threat_title(t): signed(v) for t, v in zip(threats, vals, strict=True)}}
        row["Average"] = signed(sum(vals) / len(vals)) if vals else "–"
        out.append(row)
    return pd.DataFrame(out).to_markdown(index=False, disable_numparse=True) if out else None


STRUCTURES = (("Filters", "prune-filters"), ("Layers", "prune-layers"), ("Filters+Layers", "prune-both"))
ADJUSTMENT_ROWS = (("Fine-tuning", "fine-tune"), ("Scratch-E", "scratch-e"), ("Scratch-B", "scratch-b"),
                   ("Winning ticket", "w-ticket"))
CRITERION_ROWS = (("ℓ1-norm", "l1"), ("Expected ABS", "expected-abs"), ("HRank", "hrank"), ("KL", "kl"),
                  ("PLS", "pls"))


def _with(name: str, **params: str) -> str:
    """The label of ``name`` with non-default ``params`` (defaults are dropped, as Defense.label does)."""
    from benchmark import specs
    from benchmark.registry import DEFENSES

    inner = ",".join(f"{k}={v}" for k, v in params.items())
    return specs.build(DEFENSES, f"{name}({inner})" if inner else name).label


def pruning_tables(results: pd.DataFrame, threats: list[str]) -> list[str]:
    """The paper's Tables 1–3 (structure, adjustment, criterion) for one architecture and budget."""
    parts = []
    t1 = delta_table(results, [(t, n) for t, n in STRUCTURES], threats, "Structure")
    if t1:
        parts += ["**Table 1 — pruned structure** (deltas vs the unpruned baseline; Average over all columns)",
                  "", t1, ""]
    # Tables 2 and 3 appear once a variant beyond the defaults (which Table 1 already shows) has results.
    present = set(results["defense"])
    rows = [(f"{s} · {a}", _with(n, adjustment=code)) for s, n in STRUCTURES for a, code in ADJUSTMENT_ROWS]
    t2 = delta_table(results, rows, threats, "Structure · adjustment")
    if t2 and any(label in present for _, label in rows if "(" in label):
        parts += ["**Table 2 — adjustment after pruning** (Liu et al. 2019; Frankle & Carbin 2019)", "", t2, ""]
    rows = [(f"{s} · {c}", _with(n, criterion=code)) for s, n in STRUCTURES[::2] for c, code in CRITERION_ROWS]
    t3 = delta_table(results, rows, threats, "Structure · criterion")
    if t3 and any(label in present for _, label in rows if "(" in label):
        parts += ["**Table 3 — filter criterion**", "", t3, ""]
    return parts
