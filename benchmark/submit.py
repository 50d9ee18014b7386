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

import torch
from torch import nn

from benchmark.registry import DEFENSES, RegistryError
from defenses.base import Defense


class SubmissionError(ValueError):
    """A submission that cannot go on the board; one line saying why."""


def load_defense_class(ref: str) -> type[Defense]:
    """``path/to/file.py:ClassName`` (the file is imported) or the name of a registered / plug-in defense."""
    if ":" in ref and ref.rsplit(":", 1)[0].endswith(".py"):
        path, cls_name = ref.rsplit(":", 1)
        path = Path(path)
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
        cls = getattr(module, cls_name, None)
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
    """The registry name of ``cls``: its own if registered, else ``name`` or the class name in kebab case."""
    if cls.name and cls.name in DEFENSES and DEFENSES.get(cls.name) is cls:
        return cls.name
    name = name or re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower()
    if name in DEFENSES:
        raise SubmissionError(f"defense name {name!r} is taken by {DEFENSES.get(name).__module__}; pass --name")
    DEFENSES.register(name)(cls)
    return name


def check_batch(defense: Defense) -> None:
    """``transform_batch`` on a small random batch returns images in [0, 1] and a matching target."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 3, 32, 32, generator=g), torch.arange(8) % 10
    try:
        xb, t = defense.transform_batch(x.clone(), y.clone(), g)
    except RuntimeError:  # defenses that need prepare() (e.g. a stylizer) are checked in training
        return
    if xb.ndim != 4 or xb.shape[1:] != x.shape[1:] or len(t) != len(xb):
        raise SubmissionError(f"{defense.name}: transform_batch returned images {tuple(xb.shape)} and target "
                              f"{tuple(t.shape)}; expected (M, 3, 32, 32) and M targets")
    if not torch.isfinite(xb).all() or xb.min() < 0 or xb.max() > 1:
        raise SubmissionError(f"{defense.name}: transform_batch returned images outside [0, 1] or not finite")


@torch.no_grad()
def check_model(model: nn.Module, name: str = "model") -> None:
    """The defended network returns finite (N, 10) logits, deterministically in eval mode."""
    model.eval()
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = model(x)
    if not isinstance(out, torch.Tensor) or out.shape != (16, 10):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SubmissionError(f"{name}: the model returns {shape} for 16 images; expected (N, 10) logits")
    if not torch.isfinite(out).all():
        raise SubmissionError(f"{name}: the model's outputs contain NaN or inf")
    if not torch.equal(out, model(x)):
        raise SubmissionError(f"{name}: the forward pass is not deterministic in eval mode (two calls differ)")


def submit(ref: str, budget, data, records: Path, entries_dir: Path, md_path: Path, out: Path,
           seeds: tuple[int, ...] | None = None, threats: tuple[str, ...] | None = None, name: str | None = None,
           progress: bool = True) -> list[Path]:
    """Check the defense ``ref``, train and evaluate it beside the baseline under ``budget`` (runs kept as
    records, so an interrupted submission resumes), then publish; returns the new entry files."""
    from benchmark.entries import entry_filename
    from benchmark.publish import publish
    from benchmark.results_store import ResultsStore
    from benchmark.runner import RunConfig, run

    cls = load_defense_class(ref)
    name = register_submission(cls, name)
    check_batch(DEFENSES.create(name))
    for arch in budget.archs:
        taken = entries_dir / entry_filename(arch, budget.name, name)
        if taken.exists():
            raise SubmissionError(f"{name!r} is already on the board ({taken}); pass --name to submit it as another")
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
