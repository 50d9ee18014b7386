"""The conformance suite (cf. scikit-learn's ``check_estimator``): the checks a defense and its defended
network must pass. ``submit`` refuses a submission with them, the grid checks every network before
evaluating it, and the tests run them over every registered defense."""

from __future__ import annotations

import torch
from torch import nn

from defenses.base import Defense, ModelContext, TrainingSet


class SubmissionError(ValueError):
    """A submission that cannot go on the board; one line saying why."""


def _hook_error(name: str, hook: str, e: Exception) -> SubmissionError:
    text = f"{type(e).__name__}: {e}".strip().splitlines()[0][:300]
    return SubmissionError(f"{name}: {hook} raised {text}")


def check_batch(defense: Defense, data: TrainingSet | None = None) -> None:
    """``transform_batch`` on a small random batch returns images in [0, 1] of the input's shape and dtype, a
    target per image (int labels in [0, 10), or (M, 10) probabilities), and the same output again from the
    same generator. ``data``: call ``prepare`` first (a stylizer is built); without it a defense that builds
    something in ``prepare`` is checked when it trains instead. Any exception in the hooks is one line."""
    if data is None and type(defense).prepare is not Defense.prepare:
        return
    try:
        if data is not None and not isinstance(defense.prepare(data), dict):
            raise SubmissionError(f"{defense.name}: prepare must return a dict of facts")
    except SubmissionError:
        raise
    except Exception as e:
        raise _hook_error(defense.name, "prepare", e) from None
    x, y = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 10
    try:
        xb, t = defense.transform_batch(x.clone(), y.clone(), torch.Generator().manual_seed(1))
        xb2, t2 = defense.transform_batch(x.clone(), y.clone(), torch.Generator().manual_seed(1))
    except Exception as e:
        raise _hook_error(defense.name, "transform_batch", e) from None
    if not isinstance(xb, torch.Tensor) or not isinstance(t, torch.Tensor):
        raise SubmissionError(f"{defense.name}: transform_batch must return two tensors (images, target)")
    if xb.ndim != 4 or xb.shape[1:] != x.shape[1:] or len(t) != len(xb) or xb.dtype != x.dtype:
        raise SubmissionError(f"{defense.name}: transform_batch returned images {tuple(xb.shape)} {xb.dtype} and "
                              f"target {tuple(t.shape)}; expected (M, 3, 32, 32) {x.dtype} and M targets")
    if not torch.isfinite(xb).all() or xb.min() < 0 or xb.max() > 1:
        raise SubmissionError(f"{defense.name}: transform_batch returned images outside [0, 1] or not finite")
    if t.is_floating_point():
        if t.shape != (len(xb), 10) or (t < 0).any() or not torch.allclose(t.sum(1), torch.ones(len(xb))):
            raise SubmissionError(f"{defense.name}: a soft target must be (M, 10) probabilities summing to 1")
    elif t.dtype != torch.long or ((t < 0) | (t >= 10)).any():
        raise SubmissionError(f"{defense.name}: targets must be int64 labels in [0, 10) or (M, 10) probabilities")
    if not (torch.equal(xb, xb2) and torch.equal(t, t2)):
        raise SubmissionError(f"{defense.name}: transform_batch is not reproducible from its generator (draw every "
                              "random number from the generator argument)")


def check_transform_model(defense: Defense, arch: str) -> None:
    """``transform_model`` on a freshly initialised network with 64 random scoring images (training steps
    are skipped here) returns a network that passes :func:`check_model`."""
    if type(defense).transform_model is Defense.transform_model:
        return
    from benchmark.models import build_model

    g = torch.Generator().manual_seed(0)
    model = build_model(arch).eval()
    ctx = ModelContext(finetune=lambda m, epochs, tag: m, train=lambda m, epochs, tag: m,
                       images=torch.rand(64, 3, 32, 32, generator=g), labels=torch.arange(64) % 10, epochs=1,
                       iterations=1, finetune_epochs=1, seed=0, initial_state=model.state_dict())
    try:
        out = defense.transform_model(model, ctx)
    except Exception as e:
        raise _hook_error(defense.name, "transform_model", e) from None
    if not isinstance(out, nn.Module):
        raise SubmissionError(f"{defense.name}: transform_model returned {type(out).__name__}, not an nn.Module")
    check_model(out, defense.name)


@torch.no_grad()
def check_model(model: nn.Module, name: str = "model") -> None:
    """The defended network returns finite (N, 10) logits, deterministically in eval mode."""
    model.eval()
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    try:
        out = model(x)
    except Exception as e:
        raise _hook_error(name, "the model's forward pass", e) from None
    if not isinstance(out, torch.Tensor) or out.shape != (16, 10):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SubmissionError(f"{name}: the model returns {shape} for 16 images; expected (N, 10) logits")
    if not torch.isfinite(out).all():
        raise SubmissionError(f"{name}: the model's outputs contain NaN or inf")
    if not torch.equal(out, model(x)):
        raise SubmissionError(f"{name}: the forward pass is not deterministic in eval mode (two calls differ)")
