"""The Python API: load a published network, evaluate any classifier, run a grid and get a DataFrame.

RobustBench's habits (``load_model``, ``benchmark``) for this benchmark's board and threat suite::

    import benchmark as db
    model = db.load_model("cutout", seed=0)               # the published ResNet-20, eval mode
    df = db.evaluate_model(model, threats="paper")        # any [0, 1] NCHW → 10-logit classifier
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from scipy.stats import binomtest
from torch import nn

from benchmark import checkpoint, specs
from benchmark.budgets import get_budget
from benchmark.conformance import SubmissionError, check_model
from benchmark.data import Cifar10, load_cifar10
from benchmark.entries import entry_filename, load_entries, load_entry
from benchmark.evaluator import EVAL_SEED, evaluate
from benchmark.masking import PGD, masking_checks
from benchmark.models import build_model, conform_to_state_dict
from benchmark.registry import DEFENSES, THREAT_MODELS
from benchmark.study import is_point, is_variant, operating_points
from benchmark.submit import PUBLISHED_BOARD, import_file


def _published(board: Path, budget: str, arch: str) -> list[dict]:
    return [e for e in load_entries(board / "entries") if e["architecture"] == arch and e["budget"]["name"] == budget]


def published_names(board: Path = PUBLISHED_BOARD, budget: str = "quick", arch: str = "resnet20") -> list[str]:
    """The names ``load_model`` takes on ``board`` for this budget and architecture: Table 4's rows, each
    pruning structure by its own name (its operating point), then the dose–response points and the Tables 2–3
    variants by their full names."""
    group = _published(board, budget, arch)
    rows = [e["name"] for e in group if not is_point(e) and not is_variant(e)] + list(operating_points(group))
    return (sorted(rows) + sorted(e["name"] for e in group if is_point(e))
            + sorted(e["name"] for e in group if is_variant(e)))


def load_model(defense: str, seed: int = 0, budget: str = "quick", arch: str = "resnet20",
               board: str | Path = PUBLISHED_BOARD) -> nn.Module:
    """The published network of ``defense`` (eval mode; it takes [0, 1] images and normalises inside), read
    from the committed checkpoint its entry lists, with ``weights_only=True``. A pruning structure's own name
    (``prune-filters``) loads the operating point Table 4 quotes; a dose–response point takes its full name
    (``prune-filters(iterations=7,finetune_epochs=1)``)."""
    board = Path(board)
    path = board / "entries" / entry_filename(arch, budget, defense)
    if path.is_file():
        entry = load_entry(path)
    else:
        entry = operating_points(_published(board, budget, arch)).get(defense)
    if entry is None:
        names = published_names(board, budget, arch)
        raise ValueError(f"no published {arch} {budget} entry {defense!r}; published: {', '.join(names) or 'none'}")
    rel = entry["checkpoints"].get(str(seed))
    if rel is None:
        raise ValueError(f"{defense!r} has no published seed {seed}; seeds: "
                         f"{', '.join(sorted(entry['checkpoints']))}")
    state = checkpoint.load(board / "entries" / rel)
    model = build_model(arch)
    conform_to_state_dict(model, state["model"])  # a pruned network: the stored shapes decide
    model.load_state_dict(state["model"])
    return model.eval()


def _threat_specs(threats: str | Sequence[str]) -> list[str]:
    if isinstance(threats, str):
        from benchmark.job import resolve_threats  # suites expanded inside a list, each threat once

        return list(resolve_threats(threats))
    return list(threats)


def _interval(accuracy: float, n: int) -> tuple[float, float]:
    if not n or accuracy != accuracy:
        return float("nan"), float("nan")
    ci = binomtest(round(accuracy * n), n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def evaluate_model(model: nn.Module, threats: str | Sequence[str] = "paper", data: Cifar10 | str | None = None,
                   n: int | None = None, seed: int = EVAL_SEED, progress: bool = False,
                   check: bool = True) -> pd.DataFrame:
    """Accuracy of any classifier under ``threats`` (a suite name, a comma-separated list or a list of specs).

    ``model`` takes [0, 1] NCHW 32×32 images and returns 10 logits; it is put in eval mode and checked
    first (finite (N, 10) logits, deterministic; one-line :class:`SubmissionError` otherwise). ``data``: a
    :class:`Cifar10`, an ``.npz`` path, or None (``$DEFENSE_BENCH_DATA``, else the torchvision download);
    ``n``: the first ``n`` images of the board's seeded test permutation (None: all 10,000).

    Returns one row per threat (index: threat label): ``accuracy``, ``n``, ``ci95_low`` / ``ci95_high``
    (Wilson score interval over the test images), ``seconds``, ``parts`` (e.g. per corruption) and
    ``unavailable``; ``df.attrs["masking"]`` holds the gradient-masking checks the threats allow (check →
    passed).
    """
    if check:
        check_model(model, type(model).__name__)
    model.eval()
    if not isinstance(data, Cifar10):
        data = load_cifar10(data)
    if n is not None:
        if n <= 0:
            raise ValueError(f"n must be > 0, got {n}")
        data = data.subset(None, n, seed=0)
    todo = [specs.build(THREAT_MODELS, t) for t in _threat_specs(threats)]
    res = evaluate(model, todo, data.x_test, data.y_test, seed=seed, progress=progress)
    rows = []
    for t in todo:
        r = res[t.label]
        low, high = _interval(r.accuracy, r.n)
        rows.append({"threat": t.label, "accuracy": r.accuracy, "n": r.n, "ci95_low": low, "ci95_high": high,
                     "seconds": r.seconds, "parts": r.parts, "unavailable": r.unavailable})
    df = pd.DataFrame(rows).set_index("threat")
    ok = df[df.unavailable.isna()]
    correct = {t: res[t].correct for t in ok.index}
    df.attrs["masking"] = masking_checks(ok.accuracy.to_dict(), ok.n.astype(int).to_dict(),
                                         {PGD: correct[PGD].numpy()} if PGD in correct else None,
                                         len(data.y_test), seed)
    return df


def load_classifier(ref: str, checkpoint_path: str | Path | None = None) -> nn.Module:
    """``FILE.py:factory`` (the file is imported and ``factory()`` called) or a registered architecture
    (``resnet20``), with the weights of ``checkpoint_path`` (a state dict, or a dict holding one under
    ``"model"``, read with ``weights_only=True``). Any exception in the user's code is one line."""
    if ":" in ref and ref.rsplit(":", 1)[0].endswith(".py"):
        path, name = ref.rsplit(":", 1)
        factory = getattr(import_file(Path(path)), name, None)
        if not callable(factory):
            raise SubmissionError(f"{path} defines no callable {name!r}")
        try:
            model = factory()
        except Exception as e:
            raise SubmissionError(f"{ref}: calling it raised {type(e).__name__}: {str(e).splitlines()[0][:300]}"
                                  if str(e) else f"{ref}: calling it raised {type(e).__name__}") from None
        if not isinstance(model, nn.Module):
            raise SubmissionError(f"{ref} returned {type(model).__name__}, not an nn.Module")
    else:
        try:
            model = build_model(ref)
        except ValueError as e:
            raise SubmissionError(f"{ref}: neither FILE.py:factory nor {e}") from None
    if checkpoint_path is not None:
        state = checkpoint.load(checkpoint_path)
        state = state.get("model", state) if isinstance(state, dict) else state
        if not isinstance(state, dict):
            raise SubmissionError(f"{checkpoint_path}: holds no state dict")
        if hasattr(model, "prunable_layers"):
            conform_to_state_dict(model, state)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise SubmissionError(f"{checkpoint_path} does not fit {ref}: {str(e).splitlines()[0][:300]}") from None
    return model.eval()


def run_grid(defenses: Sequence[str] = ("baseline",), budget: str = "quick", seeds: Sequence[int] | None = None,
             threats: str | Sequence[str] = "paper", out: str | Path = "runs", data: Cifar10 | str | None = None,
             progress: bool = True) -> pd.DataFrame:
    """Train (or reuse) and evaluate each defense × seed under ``budget`` in ``out`` (resumable, as the
    ``run`` command) and return the results: one row per defense, arch, seed and threat with ``accuracy``
    and ``n``; ``df.attrs["leaderboard"]`` is the path of ``out/LEADERBOARD.md`` and ``df.attrs["failed"]``
    the runs that failed (run → error)."""
    from benchmark.job import RunConfig, resolve_defenses, resolve_threats
    from benchmark.results_store import ResultsStore
    from benchmark.runner import run_grid as _run_grid

    cfg = RunConfig(budget=get_budget(budget), defenses=resolve_defenses(",".join(defenses)),
                    threats=resolve_threats(",".join(_threat_specs(threats))), out=Path(out),
                    seeds=tuple(seeds) if seeds is not None else None, progress=progress)
    result = _run_grid(cfg, data=data if isinstance(data, Cifar10) else None,
                       data_path=None if isinstance(data, Cifar10) else data)
    with ResultsStore(Path(out) / "results.sqlite") as store:
        df = store.results()
    labels = {specs.build(THREAT_MODELS, t).label for t in cfg.threats}
    wanted = {specs.build(DEFENSES, d).label for d in cfg.defenses}
    df = df[df.threat.isin(labels) & df.defense.isin(wanted) & (df.budget == cfg.budget.name)
            & df.seed.isin(cfg.run_seeds)]
    df = df[["defense", "arch", "budget", "seed", "threat", "accuracy", "n"]].reset_index(drop=True)
    df.attrs["leaderboard"] = str(result.path)
    df.attrs["failed"] = dict(result.failed)
    return df


__all__ = ["SubmissionError", "evaluate_model", "load_classifier", "load_model", "published_names", "run_grid"]
