"""Re-check a published entry: re-evaluate its stored checkpoints, then recompute every number derived from
them (means, half-widths, deltas and their intervals, the ✱ marks, params and FLOPs) and compare each with
what the entry — and so LEADERBOARD.md — shows.

Derived numbers are recomputed from the per-image outcomes the run record beside each checkpoint stores
(the evidence the entry was built from), so they must agree to rounding, and each stored outcome set must give
exactly the entry's per-seed accuracy; the re-evaluation then checks that evidence against the checkpoint
within the tolerance, and says how many decisions differ and where the record was made (another device or thread
count flips a handful). Without a record beside a checkpoint, the re-evaluated outcomes stand in for the stored ones.

Not recomputed: the masking flag (it needs the diagnostic threats, which entries do not keep) and the compute
facts (wall-clock times of another machine). :func:`stored_checks` is the fast half, with no evaluation: it
rebuilds the entry from the run records beside its checkpoints (and the baseline's and control's), compares every
field — accuracies, intervals, deltas, masking cell, compute facts, hashes, checkpoint paths (from the records' own
files, so an edited path fails) — and checks each record's accuracies against its stored per-image outcomes. An
edited number in an entry or a record fails it; an edited set of stored outcomes needs :func:`verify`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import checkpoint, specs
from benchmark.data import Cifar10
from benchmark.entries import BASELINE, deltas, entry_filename, load_entry, threat_summary
from benchmark.evaluator import evaluate
from benchmark.models import build_model, conform_to_state_dict, count_flops, count_params
from benchmark.registry import THREAT_MODELS
from benchmark.run_record_outcomes import made_on, record_bits, stored_outcomes

TOLERANCE = 0.002  # 0.2 points: evaluation is deterministic on the same thread count; other counts may
# reduce in a different order and flip a handful of the 10,000 FGSM decisions
ROUNDING = 1e-9  # derived numbers are recomputed from the same per-seed values: they must agree to rounding


@dataclass(frozen=True)
class Check:
    """One number of the entry against its re-evaluation (``seed`` set) or its recomputation."""

    what: str
    expected: Any
    measured: Any
    ok: bool
    seed: int | None = None
    note: str = ""  # a per-seed check: how many decisions differ from the record's, and where it was made

    @property
    def threat(self) -> str:  # the per-seed checks name a threat
        return self.what

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        if self.seed is not None:
            return (f"{verdict}  seed {self.seed}  {self.what:<16s} entry {100 * self.expected:6.2f}  "
                    f"measured {100 * self.measured:6.2f}  "
                    f"Δ {round(100 * (self.measured - self.expected), 2) + 0.0:+.2f}"
                    + (f"  ({self.note})" if self.note else ""))
        return f"{verdict}  {self.what}: entry {_show(self.expected)}, recomputed {_show(self.measured)}"


def _show(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else "missing" if v is None else str(v)


def _same(a: Any, b: Any, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    return a == b


def compare(prefix: str, stored: dict | None, recomputed: dict | None, fields: tuple[str, ...],
            tol: float = ROUNDING) -> list[Check]:
    """One check per field of ``stored`` vs ``recomputed`` (a key on one side only is a failed check)."""
    stored, recomputed = stored or {}, recomputed or {}
    out = []
    for k in sorted(set(stored) | set(recomputed)):
        a, b = stored.get(k), recomputed.get(k)
        if not isinstance(a, dict) or not isinstance(b, dict):
            out.append(Check(f"{prefix}.{k}", a, b, False))
            continue
        out += [Check(f"{prefix}.{k}.{f}", a.get(f), b.get(f), _same(a.get(f), b.get(f), tol)) for f in fields]
    return out


def derived_checks(entry: dict, baseline: dict | None, correct=None, n: dict[str, int] | None = None) -> list[Check]:
    """Every derived number of ``entry`` recomputed from its per-seed accuracies (and the baseline entry's,
    for the deltas); ``correct(defense, seed, threat)`` gives per-image outcomes for one-seed deltas and
    ``n[threat]`` the number of images the re-evaluation scored."""
    n = n or {}
    checks = compare("threats", entry["threats"],
                     {t: threat_summary(v["per_seed"], n.get(t, v["n"])) for t, v in entry["threats"].items()},
                     ("mean", "ci95", "method", "n"))
    if entry["name"] == BASELINE:
        return checks + [Check("deltas", entry["deltas"], None, entry["deltas"] is None)]
    if baseline is None:
        return checks + [Check("deltas (no baseline entry beside this one to recompute them from)",
                               entry["deltas"], None, entry["deltas"] is None)]
    acc = {(name, int(s), t): v for name, e in ((entry["name"], entry), (BASELINE, baseline))
           for t, th in e["threats"].items() for s, v in th["per_seed"].items()}
    threats = list(entry["threats"])
    seeds = sorted(set(entry["seeds"]) & set(baseline["seeds"]))
    method = "t" if _paired_t_board(entry) else "seeds+images"  # as the entry states
    recomputed = deltas(acc, correct or (lambda *_: None), entry["name"], threats, seeds, method) if seeds else None
    return checks + compare("deltas", entry["deltas"], recomputed, ("mean", "ci95", "excludes_zero", "method"))


def _paired_t_board(entry: dict) -> bool:
    """Deltas all by the paired t over seeds (boards published before per-image intervals). An entry's threat
    without per-image outcomes (CIFAR-10-C's fraction of corruptions survived) falls back to it on its own."""
    stated = [d["method"] for d in (entry["deltas"] or {}).values()]
    return bool(stated) and all(m.startswith("paired t") for m in stated)


def _load(arch: str, path: Path):
    state = checkpoint.load(path)
    model = build_model(arch)
    conform_to_state_dict(model, state["model"])
    model.load_state_dict(state["model"])
    return model.eval()


def verify(entry_path: str | Path, data: Cifar10 | Callable[[], Cifar10], tolerance: float = TOLERANCE,
           progress: bool = True) -> list[Check]:
    """Re-evaluate the entry's checkpoints (one check per seed and threat, within ``tolerance``), then
    recompute its derived numbers and its params / FLOPs (one check each, to rounding). ``data`` may be a
    loader, called once the entry has been read (so a mistyped path fails before a dataset download)."""
    from benchmark.evaluator import EVAL_SEED

    entry_path = Path(entry_path)
    entry = load_entry(entry_path)
    b = entry["budget"]
    if not entry["checkpoints"]:
        raise FileNotFoundError(f"{entry_path}: the entry lists no checkpoints to verify")
    data = data() if callable(data) else data
    if b.get("n_train") or b.get("n_test"):
        data = data.subset(b.get("n_train"), b.get("n_test"), seed=0)
    base_path = entry_path.parent / entry_filename(entry["architecture"], b["name"], BASELINE)
    baseline = load_entry(base_path) if entry["name"] != BASELINE and base_path.is_file() else None
    threats = [specs.build(THREAT_MODELS, t) for t in entry["threats"]]
    checks: list[Check] = []
    outcomes: dict[tuple[str, int, str], np.ndarray] = {}
    sizes, nonbinary = [], set()

    def run(name: str, arch: str, seed: str, path: Path, todo: list):
        model = _load(arch, path)
        res = evaluate(model, todo, data.x_test, data.y_test, seed=EVAL_SEED, progress=progress) if todo else {}
        stored = stored_outcomes(path)
        for t in todo:
            if res[t.label].correct.dtype != torch.bool:  # not per-image right/wrong: no outcomes, as publish
                nonbinary.add(t.label)
                continue
            evaluated, kept = res[t.label].correct.cpu().numpy(), stored.get(t.label)
            outcomes[(name, int(seed), t.label)] = kept if kept is not None and len(kept) == len(evaluated) \
                else evaluated
            if name == entry["name"] and kept is not None:
                want = entry["threats"][t.label]["per_seed"][seed]
                checks.append(Check(f"stored outcomes of seed {seed} {t.label}", want, float(kept.mean()),
                                    _same(want, float(kept.mean()), 1e-6)))
        return model, res, stored

    for seed, rel in sorted(entry["checkpoints"].items()):
        # a threat may hold fewer seeds than its entry (a suite still being run on the others): each seed is
        # re-evaluated on the threats the entry holds for it
        held = [t for t in threats if seed in entry["threats"][t.label]["per_seed"]]
        model, res, stored = run(entry["name"], entry["architecture"], seed, entry_path.parent / rel, held)
        made = made_on(entry_path.parent / rel)
        sizes.append((count_params(model), count_flops(model)))
        for t in held:
            want = entry["threats"][t.label]["per_seed"][seed]
            got, kept = res[t.label].accuracy, stored.get(t.label)
            new = res[t.label].correct.cpu().numpy()
            note = "" if kept is None or len(kept) != len(new) else (f"{int((kept != new).sum())} of {len(new)} "
                                                                     f"decisions differ from the record's{made}")
            checks.append(Check(t.label, want, got, abs(got - want) <= tolerance, int(seed), note))
    if baseline is not None and entry["deltas"] and not _paired_t_board(entry):
        # The deltas' intervals use the baseline's per-image outcomes of the threats with a delta. Its run records
        # store them (its own `verify` checks them against its checkpoints): only those they lack are re-evaluated.
        with_delta = [t for t in threats if t.label in entry["deltas"] and t.label not in nonbinary]
        for seed in sorted(set(map(str, entry["seeds"])) & set(baseline["checkpoints"])):
            path = base_path.parent / baseline["checkpoints"][seed]
            stored = stored_outcomes(path)
            for t in with_delta:
                if len(stored.get(t.label, ())) == entry["threats"][t.label]["n"]:
                    outcomes[(BASELINE, int(seed), t.label)] = stored[t.label]
            if missing := [t for t in with_delta if (BASELINE, int(seed), t.label) not in outcomes]:
                run(BASELINE, baseline["architecture"], seed, path, missing)
    checks += derived_checks(entry, baseline, lambda d, s, t: outcomes.get((d, s, t)),
                             {t: len(v) for (d, _, t), v in outcomes.items() if d == entry["name"]})
    parent = build_model(entry["architecture"])
    facts = {"params": float(np.mean([p for p, _ in sizes])), "flops": float(np.mean([f for _, f in sizes])),
             "params_parent": float(count_params(parent)), "flops_parent": float(count_flops(parent))}
    for what, got in facts.items():
        checks.append(Check(what, entry[what], got, _same(entry[what], got, ROUNDING)))
    return checks


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts → {"a.b.c": leaf}; lists stay leaves."""
    if isinstance(value, dict) and value:
        return {k: v for key, sub in value.items() for k, v in _flatten(sub, f"{prefix}.{key}" if prefix else key)
                .items()}
    return {prefix: value}


def _record_checks(rec: dict, name: str) -> list[Check]:
    """Each stored accuracy of one run record against the per-image outcomes stored beside it."""
    out = []
    for r in rec.get("results", []):
        if r.get("correct") and r.get("n"):
            bits = record_bits(r)
            out.append(Check(f"record {name} {r['threat']}: accuracy vs its per-image outcomes", r["accuracy"],
                             float(bits.mean()), _same(r["accuracy"], float(bits.mean()), 1e-6)))
    return out


def stored_checks(entry_path: str | Path) -> list[Check]:
    """No evaluation: every field of the entry against its rebuilding from the run records (one check per
    number), plus each record's accuracies against its stored per-image outcomes."""
    entry_path = Path(entry_path)
    checks, rebuilt = rebuild(entry_path)
    return checks + field_checks(load_entry(entry_path), rebuilt)


def field_checks(entry: dict, rebuilt: dict | None) -> list[Check]:
    """One check per leaf of ``entry`` (and of ``rebuilt``): equal to rounding, present on both sides."""
    if rebuilt is None:
        return [Check("entry rebuilt from its run records", entry.get("name"), None, False)]
    have, want = _flatten(entry), _flatten(rebuilt)
    return [Check(k, have.get(k), want.get(k), k in have and k in want and _same(have[k], want[k], ROUNDING))
            for k in sorted(set(have) | set(want))]


def rebuild(entry_path: Path) -> tuple[list[Check], dict | None]:
    """The entry rebuilt from the run records its checkpoints name (and the baseline's and control's), as
    `leaderboard --publish` builds it, with the checks on those records. The rebuilt entry's checkpoint paths
    come from the records' own files (``NAME.json`` beside ``NAME.pt``, the checkpoint present), not from the
    entry: an edited or swapped checkpoint path, or a checkpoint that is gone, makes the two differ."""
    from benchmark.entries import build_entries, entry_filename
    from benchmark.masking import entry_flags
    from benchmark.results_store import ResultsStore, RunKey

    entry = load_entry(entry_path)
    arch, budget = entry["architecture"], entry["budget"]["name"]
    names = [entry["name"], BASELINE, (entry.get("deltas_vs_control") or {}).get("control")]
    checks: list[Check] = []
    ckpts: dict[RunKey, str] = {}
    with tempfile.TemporaryDirectory() as tmp, ResultsStore(Path(tmp) / "rebuilt.sqlite") as store:
        for name in dict.fromkeys(n for n in names if n):
            path = entry_path if name == entry["name"] else entry_path.parent / entry_filename(arch, budget, name)
            if not path.is_file():
                continue  # no baseline / control entry beside this one: the rebuilt deltas then differ and fail
            for seed, rel in (load_entry(path)["checkpoints"] or {}).items():
                rec_path = (path.parent / rel).with_suffix(".json")
                try:
                    rec = json.loads(rec_path.read_text())
                    key = store.import_run(rec)
                except (OSError, ValueError, KeyError, TypeError) as e:
                    checks.append(Check(f"run record of {name} seed {seed} ({rec_path})", "readable", str(e), False))
                    continue
                if (pt := rec_path.with_suffix(".pt")).is_file():
                    ckpts[key] = os.path.relpath(pt, entry_path.parent)  # as publish writes it
                if name == entry["name"]:
                    checks += _record_checks(rec, f"{name} seed {seed}")
        rebuilt = next((e for e in build_entries(store, ckpts, entry_flags(store)) if e["name"] == entry["name"]),
                       None)
    return checks, rebuilt
