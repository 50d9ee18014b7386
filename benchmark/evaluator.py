"""Accuracy of a model under each threat model, streamed over the test set in batches.

Follows the field's rules: the model is in eval mode, inputs are [0, 1] images (the model normalises
inside itself), attacks run in fp32 with gradients through the whole model, and every random draw
comes from a generator seeded per threat, so two evaluations of one model give the same numbers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from attacks.base import ThreatModel, ThreatUnavailable, subset_indices
from benchmark.data import to_float

log = logging.getLogger("defense_bench")
EVAL_SEED = 0  # every model sees the same random threats (occlusion positions), so deltas are paired


@dataclass(frozen=True)
class ThreatResult:
    """Accuracy of one model under one threat, with the per-image outcome for paired statistics.

    ``parts`` holds the accuracies reported beside the main one (e.g. per corruption and severity);
    ``unavailable`` says why a threat could not run (its accuracy is then NaN).
    """

    threat: str
    accuracy: float
    n: int
    seconds: float
    correct: torch.Tensor  # bool (n,), image i classified correctly under the threat
    parts: dict[str, float] = field(default_factory=dict)
    unavailable: str | None = None


def evaluate(
    model: nn.Module,
    threats: list[ThreatModel],
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    seed: int = 0,
    batch_size: int = 500,
    grad_batch_size: int = 250,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, ThreatResult]:
    """Evaluate ``model`` on uint8 NCHW ``x_test`` under each threat; returns results by threat label.

    Gradient threats use ``grad_batch_size`` (their backward pass holds every activation: ~1 GB for 500
    ResNet-20 images). fp32 throughout; channels_last on the model and batches (about a quarter less time
    on this CPU, the same arithmetic). A threat with ``n_images`` sees its seeded subset only.
    """
    first = next(model.parameters(), None)  # a model without parameters (a fixed rule) runs on the CPU
    device = torch.device(device or (first.device if first is not None else "cpu"))
    if model.training:
        model.eval()  # attacks must see the deterministic inference network (no batch-norm updates)
    if device.type == "cuda":  # fp32 attacks: TF32 would round the convolutions' inputs to 10 mantissa bits
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model.to(device, dtype=torch.float32, memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)  # gradients flow to the input only; parameters are not accumulated into
    results = {}
    try:
        for threat in threats:
            results[threat.label] = _evaluate_one(model, threat, x_test, y_test, seed,
                                                  grad_batch_size if threat.needs_gradients else batch_size,
                                                  device, progress)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return results


def _evaluate_one(model, threat, x_test, y_test, seed, bs, device, progress) -> ThreatResult:
    # a CPU generator on every device: a GPU evaluation draws the same occlusion patches, random starts and
    # corruptions as a CPU one (its draws are moved to the batch's device), so `verify` re-checks it on a CPU
    g = torch.Generator().manual_seed(seed)
    idx = subset_indices(len(x_test), threat.n_images, seed)
    outcomes: dict[str, list[torch.Tensor]] = {}
    t0 = time.perf_counter()
    try:
        for i in tqdm(range(0, len(idx), bs), desc=f"eval {threat.label}", disable=not progress, leave=False):
            sel = idx[i:i + bs]
            x = to_float(x_test[sel].to(device), channels_last=True)
            y = y_test[sel].to(device)
            for key, ok in threat.outcomes(model, x, y, g).items():
                outcomes.setdefault(key, []).append(ok.cpu())
    except ThreatUnavailable as e:
        return ThreatResult(threat.label, float("nan"), 0, time.perf_counter() - t0,
                            torch.zeros(0, dtype=torch.bool), unavailable=str(e))
    except Exception as e:  # a broken threat loses its own number, not the entry's other threats
        log.error("threat %s failed: %s", threat.label, e)
        return ThreatResult(threat.label, float("nan"), 0, time.perf_counter() - t0,
                            torch.zeros(0, dtype=torch.bool),
                            unavailable=f"failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
    acc = {k: torch.cat(v) for k, v in outcomes.items()}
    c = acc.pop("", torch.zeros(0, dtype=torch.bool))
    return ThreatResult(threat.label, c.float().mean().item() if len(c) else float("nan"), len(c),
                        time.perf_counter() - t0, c, {k: v.float().mean().item() for k, v in acc.items()})
