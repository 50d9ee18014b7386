"""The compute-matched control for pruning: the trained baseline fine-tuned exactly as a pruned network is,
with nothing removed.

Each pruning iteration of :mod:`defenses.pruning` fine-tunes for the budget's ``prune_finetune_epochs`` at
its fine-tuning learning rate; a pruned network has therefore seen more training images than its unpruned
parent (quick budget, 2 iterations: 0.80 M against 0.60 M). This control runs the same fine-tuning calls
(same epochs, learning rates, batches, seeds, checkpoint tags) on the unpruned network, so a pruning
defense's delta against it isolates the pruning from the extra training (cf. Liu et al. 2019, *Rethinking
the Value of Network Pruning*, arXiv:1810.05270, on comparing pruned networks at matched training).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from benchmark.component import check_fields
from benchmark.registry import register_defense
from defenses.base import Defense, ModelContext


@dataclass(frozen=True)
class FinetuneOnlyConfig:
    iterations: int | None = None  # fine-tuning rounds; None: the budget's pruning iterations
    finetune_epochs: int | None = None  # epochs per round; None: the budget's (match the pruning run's)

    def __post_init__(self) -> None:
        check_fields(self, "finetune-only", iterations="> 0", finetune_epochs="> 0")


@register_defense("finetune-only")
class FinetuneOnly(Defense):
    """The baseline through the pruning defenses' fine-tuning schedule, removing nothing (module doc)."""

    paper = "control for Jordao & Pedrini 2021 (arXiv:2108.04890); matched training as in Liu et al. 2019"
    Config = FinetuneOnlyConfig

    def transform_model(self, model: nn.Module, ctx: ModelContext) -> nn.Module:
        iterations = self.config.iterations if self.config.iterations is not None else ctx.iterations
        epochs = self.config.finetune_epochs if self.config.finetune_epochs is not None else ctx.finetune_epochs
        for it in range(iterations):
            model = ctx.finetune(model, epochs, f"prune{it}")
        return model
