"""Submitting a defense: load the class the user named, check it, run the common budget, write its entry.

Only code the user names explicitly runs: a ``path/to/file.py:ClassName`` they pass, or a plug-in they
installed (entry-point group ``defense_bench.defenses``). Nothing in a results or entry file is executed.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path

from benchmark.conformance import (  # noqa: F401 - SubmissionError and the checks are part of submit's API
    SubmissionError,
    _hook_error,
    check_batch,
    check_model,
    check_transform_model,
)
from benchmark.registry import DEFENSES, RegistryError
from defenses.base import Defense


def import_file(path: Path):
    """Import the Python file the user named (only such a file is ever executed); errors are one line."""
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    module_name = "defense_bench_submission_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise SubmissionError(f"{path}: importing it failed: {type(e).__name__}: {e}".splitlines()[0]) from None
    return module


def load_defense_class(ref: str) -> type[Defense]:
    """``path/to/file.py:ClassName`` (the file is imported), ``PIPELINE.yaml`` (an albumentations pipeline,
    see :mod:`defenses.albumentations_pipeline`) or the name of a registered / plug-in defense."""
    if ref.endswith((".yaml", ".yml", ".json")):  # an albumentations pipeline file
        from defenses.albumentations_pipeline import AlbumentationsPipeline

        if not Path(ref).is_file():
            raise SubmissionError(f"{ref}: no such file")
        return AlbumentationsPipeline.from_file(ref)
    if ":" in ref and ref.rsplit(":", 1)[0].endswith(".py"):
        path, cls_name = ref.rsplit(":", 1)
        cls = getattr(import_file(Path(path)), cls_name, None)
        if cls is None:
            raise SubmissionError(f"{path} defines no {cls_name!r}")
    else:
        try:
            cls = DEFENSES.get(ref)
        except RegistryError as e:
            raise SubmissionError(str(e)) from None
    if not (inspect.isclass(cls) and issubclass(cls, Defense)):
        raise SubmissionError(f"{ref}: {getattr(cls, '__name__', cls)!r} is not a Defense subclass "
                              "(subclass defenses.base.Defense)")
    return cls


def register_submission(cls: type[Defense], name: str | None = None) -> str:
    """The registry name ``cls`` is submitted under: ``name`` if given (a class registered under another
    name is filed again under ``name`` as a subclass, the original untouched), else its registered name,
    else its class name in kebab case. A name held by another class is refused."""
    own = cls.name if cls.name and cls.name in DEFENSES and DEFENSES.get(cls.name) is cls else None
    if name is None:
        if own:
            return own
        name = re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", name):
        raise SubmissionError(f"--name {name!r}: use lower-case letters, digits, '-', '_' and '.'")
    if name in DEFENSES:
        if DEFENSES.get(name) is cls:
            return name
        raise SubmissionError(f"defense name {name!r} is taken by {DEFENSES.get(name).__module__}; pass --name "
                              "with a name that `defense-bench list` does not show")
    if own:  # the same class under a second name: a subclass, so the registered one keeps its own
        cls = type(cls.__name__, (cls,), {"__module__": cls.__module__, "__doc__": cls.__doc__})
    DEFENSES.register(name)(cls)
    return name


def create_defense(name: str) -> Defense:
    """An instance of the registered defense ``name``; an exception in its constructor is one line."""
    try:
        return DEFENSES.create(name)
    except Exception as e:
        raise _hook_error(name, "its constructor", e) from None


REPO = Path(__file__).resolve().parent.parent
PUBLISHED_BOARD = REPO / "leaderboard"  # the checkout's published board, never a path relative to the cwd


def resolve_board(board: str | None, out: Path) -> Path:
    """``--board``: None → a scratch board under ``out``; ``published`` → this checkout's ``leaderboard/``;
    anything else → that directory."""
    if board is None:
        return out / "board"
    if board == "published":
        if not (PUBLISHED_BOARD / "entries").is_dir():
            raise SubmissionError(f"--board published: {PUBLISHED_BOARD} holds no board (the published board "
                                  "lives in a git checkout of defense-bench)")
        return PUBLISHED_BOARD
    return Path(board)


def is_published(board: Path) -> bool:
    return board.resolve() == PUBLISHED_BOARD.resolve()


def _reuse_published_baseline(budget, seeds: tuple[int, ...], records: Path, data_sizes: tuple[int, int]) -> None:
    """Copy the published baseline records of ``seeds`` into a scratch board's ``records`` (when they are
    of this budget's configuration and precision), so a scratch submission trains only the new defense."""
    import json
    import shutil

    from benchmark.job import Job, RunConfig
    from benchmark.records import record_dirs

    sources = [d for d in record_dirs(PUBLISHED_BOARD) if d.name == budget.name]
    for seed in seeds:
        for arch in budget.archs:
            name = f"{arch}-{budget.name}-s{seed}-baseline.json"
            rec = next((d / name for d in sources if (d / name).is_file()), None)
            target = records / name
            if rec is None or target.is_file():
                continue
            data = json.loads(rec.read_text())
            job = Job(RunConfig(budget=budget, out=records), "baseline", arch, seed, data_sizes)
            if data.get("config_hash") != job.hash or budget.foreign_precision(data.get("info", {})) is not None:
                continue
            records.mkdir(parents=True, exist_ok=True)
            for p in (rec, rec.with_suffix(".pt")):
                if p.is_file():
                    shutil.copyfile(p, records / p.name)


def submit(ref: str, budget, data, board: Path, out: Path, seeds: tuple[int, ...] | None = None,
           threats: tuple[str, ...] | None = None, name: str | None = None, progress: bool = True) -> list[Path]:
    """Check the defense ``ref``, train and evaluate it beside the baseline under ``budget`` (runs kept as
    records in ``board/runs/<budget>``, so an interrupted submission resumes), then publish ``board``'s
    entries and LEADERBOARD.md; returns the new entry files. The published board takes only budgets it
    can publish (a declared precision other than ``auto``, the budget's own name). ``data`` may be a loader
    (called after the defense's checks, so a mistyped defense fails before a dataset download)."""
    from benchmark.budgets import BUDGETS
    from benchmark.entries import entry_filename
    from benchmark.job import RunConfig
    from benchmark.publish import publish
    from benchmark.results_store import ResultsStore
    from benchmark.runner import run

    if is_published(board) and (budget.name not in BUDGETS or budget.precision == "auto"):
        raise SubmissionError(f"budget {budget.name!r} ({budget.precision}) never goes on the published board; "
                              "leave out --board for a scratch board")
    records, entries_dir, md_path = board / "runs" / budget.name, board / "entries", board / "LEADERBOARD.md"
    cls = load_defense_class(ref)
    name = register_submission(cls, name)
    defense = create_defense(name)
    check_batch(defense)
    for arch in budget.archs:
        check_transform_model(defense, arch)
        taken = entries_dir / entry_filename(arch, budget.name, name)
        if taken.exists():
            raise SubmissionError(f"{name!r} is already on the board ({taken}); pass --name to submit it as another")
    seeds = seeds if seeds is not None else budget.seeds
    data = data() if callable(data) else data  # a loader: called once the defense has passed its checks
    if not is_published(board):  # the sizes run() will subset the data to
        sizes = (min(budget.n_train or len(data.y_train), len(data.y_train)),
                 min(budget.n_test or len(data.y_test), len(data.y_test)))
        _reuse_published_baseline(budget, seeds, records, sizes)
    kw = {"threats": threats} if threats else {}
    cfg = RunConfig(budget=budget, defenses=("baseline", name), out=out, seeds=seeds, progress=progress,
                    records=records, **kw)
    run(cfg, data=data)
    with ResultsStore(out / "results.sqlite") as store:
        runs = store.runs()
    failed = runs[(runs.defense == name) & (runs.status == "failed")]
    if len(failed):
        raise SubmissionError(f"{name}: {failed.iloc[0].error}")
    publish([records], entries_dir, md_path)
    return [entries_dir / entry_filename(arch, budget.name, name) for arch in budget.archs]
