"""The one trainer every defense uses: SGD-Nesterov, plain cross-entropy, the budget's schedule.

Fast on a CPU without tricks that change robustness: the data stay uint8 in memory and are augmented a
whole batch at a time, bf16 autocast and channels_last where the hardware has bf16 (AMX/AVX-512 on CPU,
any recent GPU), fp32 master weights. Deterministic per seed: the model is initialised from ``seed`` and
each epoch's order and draws come from a generator seeded by (seed, epoch), so a run resumed from its
epoch checkpoint (written atomically, kill -9 safe) ends with the same weights as one never interrupted.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from benchmark import checkpoint
from benchmark.budgets import Budget
from benchmark.data import augment, to_float
from benchmark.models import conform_to_state_dict
from benchmark.precision import Precision
from defenses.base import Defense, TrainingSet

log = logging.getLogger("defense_bench")


@dataclass(frozen=True)
class TrainReport:
    """``seconds`` is the whole training time, epochs done before a resume included."""

    epochs: int
    images: int
    seconds: float
    final_loss: float
    precision: str
    resumed_from_epoch: int
    facts: dict = dataclasses.field(default_factory=dict)  # what the defense's prepare() reported
    images_seen: int = 0  # images forwarded in training (a defense may enlarge its batches)


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 100_003 + epoch)


def train(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    defense: Defense,
    budget: Budget,
    seed: int,
    epochs: int | None = None,
    ckpt_path: str | Path | None = None,
    precision: Precision | None = None,
    progress: bool = True,
    desc: str = "train",
    stop_after_epoch: Callable[[int], bool] | None = None,
) -> TrainReport:
    """Train ``model`` in place on uint8 NCHW ``x_train`` under ``budget`` with ``defense``'s batches.

    ``epochs`` overrides the budget's (fine-tuning). With ``ckpt_path`` the state is saved after
    every epoch and a run finds and resumes its own checkpoint; a finished checkpoint is reused as is.
    ``stop_after_epoch(epoch)`` returning True ends training early (tests simulate interruptions).
    """
    precision = precision or Precision.auto()
    epochs = budget.epochs if epochs is None else epochs
    dev = precision.device
    start, state, before, seen = 0, None, 0.0, 0
    if ckpt_path is not None and Path(ckpt_path).is_file():
        state = checkpoint.load(ckpt_path)
        conform_to_state_dict(model, state["model"])
        model.load_state_dict(state["model"])
        start = int(state["epoch"])
        before = float(state.get("seconds", 0.0))  # training time of the epochs already done
        seen = state.get("images_seen")  # None: written before images were counted (estimated below)
    if 0 < start < epochs:
        log.info("resuming %s at epoch %d of %d (%s)", desc, start + 1, epochs, ckpt_path)
    model.to(dev, memory_format=torch.channels_last if precision.channels_last else torch.preserve_format)
    # Weight decay on every parameter, as the CIFAR ResNet codebases the paper builds on.
    opt = torch.optim.SGD(model.parameters(), lr=budget.lr, momentum=budget.momentum, nesterov=True,
                          weight_decay=budget.weight_decay)
    if state is not None and "optimizer" in state:
        opt.load_state_dict(state["optimizer"])
    x_train, y_train = x_train.to(dev), y_train.to(dev)
    facts = defense.prepare(TrainingSet(x_train, y_train, budget.name, progress,
                                       bf16=precision.amp_dtype == torch.bfloat16))
    n = len(x_train)
    bs = min(budget.batch_size, n)
    steps = n // bs  # drop the ragged last batch: every step sees a full batch (stable batch norm)
    if seen is None:  # a checkpoint from before images were counted: one batch per step, as every defense
        seen = start * steps * bs  # then but shape-texture (which came with the counter)
    seen = int(seen)
    t0, loss_value = time.perf_counter(), math.nan
    model.train()
    for epoch in range(start, epochs):
        g = epoch_generator(seed, epoch, dev)
        order = torch.randperm(n, generator=g, device=dev)
        bar = tqdm(range(steps), desc=f"{desc} {epoch + 1}/{epochs}", disable=not progress, leave=False,
                   dynamic_ncols=True)
        running = torch.zeros((), device=dev)
        for i in bar:
            for group in opt.param_groups:
                group["lr"] = budget.lr_at(epoch * steps + i, steps, epochs)
            idx = order[i * bs:(i + 1) * bs]
            x = to_float(augment(x_train[idx], g), precision.channels_last)
            x, target = defense.transform_batch(x, y_train[idx], g)
            seen += len(x)
            with precision.autocast():
                logits = model(x)
            loss = F.cross_entropy(logits.float(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.detach()
            if progress and i % 20 == 19:
                bar.set_postfix(loss=f"{running.item() / (i + 1):.3f}")
        loss_value = running.item() / max(steps, 1)
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"{desc}: training loss is {loss_value} at epoch {epoch + 1}")
        if ckpt_path is not None:
            checkpoint.save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "epoch": epoch + 1, "seed": seed, "loss": loss_value,
                                    "seconds": before + time.perf_counter() - t0, "images_seen": seen}, ckpt_path)
        if stop_after_epoch is not None and stop_after_epoch(epoch + 1):
            break
    model.eval()
    return TrainReport(epochs, n * max(0, epochs - start), before + time.perf_counter() - t0, loss_value,
                       precision.describe(), start, facts, seen)
