"""Accuracy of a model under each threat model, streamed over the test set in batches.

Follows the field's rules: the model is in eval mode, inputs are [0, 1] images (the model normalises
inside itself), attacks run in fp32 with gradients through the whole model, and every random draw
comes from a generator seeded per threat, so two evaluations of one model give the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from attacks.base import ThreatModel
from benchmark.data import to_float


@dataclass(frozen=True)
class ThreatResult:
    """Accuracy of one model under one threat, with the per-image outcome for paired statistics."""

    threat: str
    accuracy: float
    n: int
    seconds: float
    correct: torch.Tensor  # bool (n,), image i classified correctly under the threat


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
    ResNet-20 images). fp32 throughout; channels_last on the model and batches (34% faster on CPU here,
    the same arithmetic)."""
    device = torch.device(device or next(model.parameters()).device)
    if model.training:
        model.eval()  # attacks must see the deterministic inference network (no batch-norm updates)
    model.to(device, dtype=torch.float32, memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)  # gradients flow to the input only; parameters are not accumulated into
    results = {}
    try:
        for threat in threats:
            g = torch.Generator(device=device).manual_seed(seed)
            correct = []
            t0 = time.perf_counter()
            bs = grad_batch_size if threat.needs_gradients else batch_size
            for i in tqdm(range(0, len(x_test), bs), desc=f"eval {threat.label}", disable=not progress, leave=False):
                x = to_float(x_test[i:i + bs].to(device), channels_last=True)
                y = y_test[i:i + bs].to(device)
                with torch.enable_grad() if threat.needs_gradients else torch.no_grad():
                    x_adv = threat.perturb(model, x, y, g)
                with torch.no_grad():
                    correct.append((model(x_adv.detach()).argmax(1) == y).cpu())
            c = torch.cat(correct) if correct else torch.zeros(0, dtype=torch.bool)
            results[threat.label] = ThreatResult(threat.label, c.float().mean().item() if len(c) else float("nan"),
                                                len(c), time.perf_counter() - t0, c)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return results
