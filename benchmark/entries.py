"""Leaderboard entries: one JSON file per (defense, architecture, budget), exported from the results store
and validated against ``benchmark/entry_schema.json`` (cf. RobustBench's ``model_info``, with numbers kept
as numbers). ``LEADERBOARD.md`` is rendered from these files only.

Accuracies and deltas are fractions (0.0123 = 1.23 points); intervals are 95% (see ``benchmark.stats``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from benchmark.budgets import BUDGETS
from benchmark.compute_fields import compute, latency
from benchmark.masking import DIAGNOSTIC_THREATS
from benchmark.registry import DEFENSES
from benchmark.results_store import ResultsStore, RunKey
from benchmark.stats import Interval, paired_bootstrap, paired_t, seeds_and_images, t_interval

FORMAT = "defense-bench-entry/1"
SCHEMA_PATH = Path(__file__).resolve().parent / "entry_schema.json"
BASELINE = "baseline"


class EntryError(ValueError):
    """A malformed entry; the one-line message names the file and the field."""


def entry_filename(arch: str, budget: str, label: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_")
    return f"{arch}-{budget}-{slug}.json"


def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(entry: Any, source: str = "entry") -> dict:
    """``entry`` if it matches the schema, else :class:`EntryError` naming the first bad field."""
    try:
        jsonschema.validate(entry, _schema())
    except jsonschema.ValidationError as e:
        field = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise EntryError(f"{source}: field {field!r}: {e.message[:200]}") from None
    return entry


def load_entry(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such entry") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EntryError(f"{path}: not JSON ({e})") from None
    return validate(data, str(path))


def load_entries(directory: str | Path) -> list[dict]:
    return [load_entry(p) for p in sorted(Path(directory).glob("*.json"))]


PAPER_ROBUSTNESS = ("fgsm", "occlusion", "semantic")  # Jordao & Pedrini's Table 4: its three attacks


def _robustness_threats(threats: list[str]) -> list[str]:
    """Robustness averages the paper's three attacks when all were run (Table 4 keeps the paper's meaning
    when the full suite or the ε sweep is added), else every non-clean threat (a custom suite)."""
    if all(t in threats for t in PAPER_ROBUSTNESS):
        return list(PAPER_ROBUSTNESS)
    return [t for t in threats if t != "clean"]


def build_entries(store: ResultsStore, checkpoints: dict[RunKey, str] | None = None,
                  masking: dict[tuple[str, str, str], str] | None = None) -> list[dict]:
    """One entry per (defense, architecture, budget) of the finished runs in ``store``; deltas vs the
    baseline of the same architecture and budget, paired by seed (bootstrap over images with one seed)."""
    runs, results = store.runs(), store.results()
    if not len(runs):
        return []
    runs = runs[runs.status == "done"]
    results = results[~results.threat.isin(DIAGNOSTIC_THREATS)]
    entries = []
    for (arch, budget), group in runs.groupby(["arch", "budget"], sort=True):
        res = results[(results.arch == arch) & (results.budget == budget)]
        # accuracies are k/n: six decimals keep them exact without float32 noise (0.8772000074386597)
        acc = {(r.defense, int(r.seed), r.threat): round(float(r.accuracy), 6) for r in res.itertuples()}
        n_img = {(r.defense, r.threat): int(r.n) for r in res.itertuples()}
        parts = {(r.defense, int(r.seed), r.threat): p for r in res.itertuples() if (p := json.loads(r.parts_json))}
        base_seeds = set(group[group.defense == BASELINE].seed.astype(int))
        for label, rows in group.groupby("defense", sort=False):
            seeds = sorted(int(s) for s in rows.seed)
            threats = sorted({t for (d, _, t) in acc if d == label})
            threats = (["clean"] if "clean" in threats else []) + [t for t in threats if t != "clean"]
            cfg = json.loads(rows.iloc[0].config_json)
            entry = {
                "format": FORMAT, "name": label, "defense": cfg["defense"], "defense_config": cfg["defense_config"],
                "paper": DEFENSES.get(cfg["defense"]).paper if cfg["defense"] in DEFENSES else "",
                "architecture": arch,
                "budget": {**cfg["budget"], "description": BUDGETS[budget].describe() if budget in BUDGETS else ""},
                "seeds": seeds,
                "threats": {},
                "deltas": None,
                "params": float(np.mean([r.params for r in rows.itertuples()])),
                "flops": float(np.mean([r.flops for r in rows.itertuples()])),
                "params_parent": float(rows.iloc[0].params_parent),
                "flops_parent": float(rows.iloc[0].flops_parent),
                **latency(rows),
                "compute": compute(rows),
                "masking": (masking or {}).get((label, arch, budget)),
                "extra_data": uses_extra_data(cfg["defense_config"]),
                "code_versions": sorted(set(rows.code_version) | set(res[res.defense == label].code_version)),
                "config_hashes": {str(int(r.seed)): r.config_hash for r in rows.itertuples()},
                "checkpoints": {},
            }
            for t in threats:
                per_seed = {str(s): acc[(label, s, t)] for s in seeds if (label, s, t) in acc}
                entry["threats"][t] = threat_summary(per_seed, n_img[(label, t)],
                                                     [parts[k] for s in seeds if (k := (label, s, t)) in parts])
            if checkpoints:
                entry["checkpoints"] = {str(s): checkpoints[k] for s in seeds
                                        if (k := RunKey(label, arch, budget, s)) in checkpoints}
            def correct(defense: str, seed: int, threat: str, arch=arch, budget=budget) -> np.ndarray | None:
                return store.correct(RunKey(defense, arch, budget, seed), threat)

            if label != BASELINE and base_seeds:
                entry["deltas"] = deltas(acc, correct, label, threats, sorted(base_seeds & set(seeds)))
            control = control_of(cfg["defense"], cfg["defense_config"])
            ctrl_rows = group[group.defense == control] if control else group.iloc[:0]
            if len(ctrl_rows):
                ctrl_seeds = sorted(set(ctrl_rows.seed.astype(int)) & set(seeds))
                entry["deltas_vs_control"] = {"control": control, **deltas(
                    acc, correct, label, threats, ctrl_seeds, reference=control)} if ctrl_seeds else None
            entries.append(validate(entry, f"entry {label}"))
    return entries


def control_of(defense: str, defense_config: dict) -> str | None:
    """The compute-matched control of a fine-tuned pruning entry: ``finetune-only`` with the same number
    of fine-tuning rounds (``iterations``) of as many epochs (``finetune_epochs``); None for other defenses
    and for retrained adjustments."""
    if not defense.startswith("prune") or defense_config.get("adjustment", "fine-tune") != "fine-tune":
        return None
    args = [f"{k}={defense_config[k]}" for k in ("iterations", "finetune_epochs") if defense_config.get(k) is not None]
    return f"finetune-only({','.join(args)})" if args else "finetune-only"


def uses_extra_data(defense_config: dict) -> bool:
    """Whether a defense's configuration brings data beyond CIFAR-10's training images: a folder of style
    images, or a stylizer loaded from external weights (``adain:DIR``, trained on ImageNet and paintings)."""
    return bool(defense_config.get("style_dir")) or str(defense_config.get("stylizer", "")).startswith("adain:")


def threat_summary(per_seed: dict[str, float], n: int, parts: list[dict[str, float]] | None = None) -> dict:
    """An entry's numbers for one threat: per-seed accuracies, their mean and 95% half-width (t over seeds;
    one seed: the binomial interval over the ``n`` test images, normal approximation); with ``parts`` (one
    dict per seed, e.g. CIFAR-10-C's ``"fog/3"`` accuracies) their mean over seeds, for the parts every seed has."""
    i = t_interval(list(per_seed.values()))
    if len(per_seed) == 1:
        i = Interval(i.mean, 1.959964 * math.sqrt(i.mean * (1 - i.mean) / n), "binomial over test images")
    out = {"per_seed": per_seed, "mean": i.mean, "ci95": i.half_width, "method": i.method, "n": n}
    if parts:
        common = set.intersection(*(set(p) for p in parts))
        out["parts"] = {k: round(float(np.mean([p[k] for p in parts])), 6) for k in sorted(common)}
    return out


def deltas(acc: dict[tuple[str, int, str], float], correct: Callable[[str, int, str], np.ndarray | None],
           label: str, threats: list[str], seeds: list[int], method: str = "seeds+images",
           reference: str = BASELINE) -> dict:
    """Per-threat deltas of ``label`` vs the baseline, plus robustness (mean over non-clean threats),
    generalization (clean) and average (their mean), each with its interval.

    ``acc[(defense, seed, threat)]`` holds accuracies; ``correct(defense, seed, threat)`` the per-image
    outcomes. With several seeds, ``method="seeds+images"`` (default) gives intervals that carry training
    and test-set noise (:func:`benchmark.stats.seeds_and_images`; the paired t over seeds where per-image
    outcomes are missing), ``"t"`` the paired t over seeds alone (boards published before); one seed: the
    paired bootstrap over test images. ``reference``: what the deltas are taken against (the baseline; for
    a pruning entry also its compute-matched control, ``finetune-only``)."""
    both = [t for t in threats if all((label, s, t) in acc and (reference, s, t) in acc for s in seeds)]
    out: dict[str, Any] = {}
    if not seeds or not both:
        return out

    def outcomes(ts: list[str]) -> tuple[list, list] | None:
        dc = [[correct(label, s, t) for t in ts] for s in seeds]
        bc = [[correct(reference, s, t) for t in ts] for s in seeds]
        flat = [(a, b) for ds, bs in zip(dc, bc, strict=True) for a, b in zip(ds, bs, strict=True)]
        if any(a is None or b is None or len(a) != len(b) for a, b in flat):
            return None
        return dc, bc

    def interval(ts: list[str], weights: list[float] | None = None) -> Interval:
        w = np.full(len(ts), 1 / len(ts)) if weights is None else np.asarray(weights)
        if len(seeds) >= 2:
            if method == "seeds+images" and (oc := outcomes(ts)) is not None:
                return seeds_and_images(*oc, weights=w)
            d = [float(np.dot(w, [acc[(label, s, t)] for t in ts])) for s in seeds]
            b = [float(np.dot(w, [acc[(reference, s, t)] for t in ts])) for s in seeds]
            return paired_t(d, b)
        s = seeds[0]
        if weights is not None:  # the one-seed average: mean of the two half-widths, an upper bound
            r, g = interval(ts[:-1]), interval(ts[-1:])
            return Interval((r.mean + g.mean) / 2, (r.half_width + g.half_width) / 2,
                            r.method + " (mean of the two half-widths, an upper bound)")
        oc = outcomes(ts)
        if oc is None:
            return Interval(float(np.mean([acc[(label, s, t)] - acc[(reference, s, t)] for t in ts])), float("nan"),
                            "single seed, no per-image outcomes")
        return paired_bootstrap(oc[0][0], oc[1][0])

    for t in both:
        out[t] = interval([t]).as_dict()
    rob = _robustness_threats(both)
    gen = interval(["clean"]) if "clean" in both else None
    r = interval(rob) if rob else None
    if r:
        out["robustness"] = r.as_dict()
    if gen:
        out["generalization"] = gen.as_dict()
    if r and gen:
        # Average = (robustness + generalization) / 2, an interval of its own over the same pairing
        out["average"] = interval(rob + ["clean"], [0.5 / len(rob)] * len(rob) + [0.5]).as_dict()
    return out


def write_entries(entries: list[dict], directory: str | Path) -> list[Path]:
    """Write each entry atomically as ``directory/<arch>-<budget>-<name>.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for e in entries:
        path = directory / entry_filename(e["architecture"], e["budget"]["name"], e["name"])
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(e, indent=1, sort_keys=False, allow_nan=False) + "\n")
        tmp.replace(path)
        paths.append(path)
    return paths
