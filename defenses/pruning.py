"""Structured pruning defenses: remove filters, residual blocks, or both (Jordao & Pedrini, ICCV-W 2021).

The question of Jordao & Pedrini (*On the Effect of Pruning on Adversarial Robustness*, arXiv:2108.04890):
is a network pruned **using only clean images** more robust than its unpruned parent? So pruning here
never sees adversarial, occluded or corrupted images: scores come from clean training images, and
fine-tuning is the baseline's clean training. Filters are removed physically (torch-pruning's
DependencyGraph keeps coupled layers consistent), so parameters and FLOPs really drop.

Each pruning iteration removes filters or blocks and then fine-tunes; the adjustments of Table 2 decide
what happens to the final architecture's weights:

* ``fine-tune``: keep the surviving weights (fine-tuned after every iteration);
* ``scratch-e``: random re-initialisation, trained as long as the unpruned network (Liu et al. 2019,
  *Rethinking the Value of Network Pruning*, arXiv:1810.05270);
* ``scratch-b``: the same with epochs × FLOPs(unpruned) / FLOPs(pruned), rounded to the nearest epoch, so
  training compute matches the unpruned network's (Liu et al. 2019);
* ``w-ticket``: surviving weights rewound to their values at initialisation, then retrained as long as
  the unpruned network (Frankle & Carbin 2019, *The Lottery Ticket Hypothesis*, arXiv:1803.03635).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch_pruning as tp
from torch import nn

from benchmark.component import check_fields
from benchmark.models import count_flops, remove_block
from benchmark.registry import register_defense
from defenses.base import Defense, ModelContext
from defenses.block_criteria import BLOCK_CRITERIA
from defenses.pruning_criteria import CRITERIA, select_filters

ADJUSTMENTS = ("fine-tune", "scratch-e", "scratch-b", "w-ticket")
PAPER = "Jordao & Pedrini 2021, On the Effect of Pruning on Adversarial Robustness, arXiv:2108.04890"


@dataclass(frozen=True)
class PruneConfig:
    criterion: str = "pls"  # filter criterion, see defenses/pruning_criteria.py
    fraction: float = 0.1  # filters removed per layer per iteration (globally for pls): the authors' 10%
    blocks_per_iteration: int = 1  # residual blocks removed per layer-pruning iteration (the authors' p_layer=1)
    layer_criterion: str = "cka"  # block criterion, see defenses/block_criteria.py (the authors' CKA)
    adjustment: str = "fine-tune"  # one of ADJUSTMENTS
    iterations: int | None = None  # pruning iterations; None: the budget's (a dose–response curve sets it)
    finetune_epochs: int | None = None  # fine-tuning epochs per iteration; None: the budget's (the quick
    # dose–response study uses 1: issue 19 cut epochs per iteration before seeds to fit its compute limit)

    def __post_init__(self) -> None:
        CRITERIA.get(self.criterion)
        if self.adjustment not in ADJUSTMENTS:
            raise ValueError(f"unknown adjustment {self.adjustment!r}; available: {', '.join(ADJUSTMENTS)}")
        if self.layer_criterion not in BLOCK_CRITERIA:
            raise ValueError(f"unknown layer_criterion {self.layer_criterion!r}; available: "
                             f"{', '.join(BLOCK_CRITERIA)}")
        check_fields(self, "pruning", fraction="in [0, 1)", blocks_per_iteration="> 0", iterations="> 0",
                     finetune_epochs="> 0")


# A pruning step, replayable on another copy of the same network: ("filters", [idxs per prunable layer])
# or ("blocks", [(stage, index), ...]).
Step = tuple[str, object]


def prune_filters(model: nn.Module, remove: list[list[int]]) -> None:
    """Physically remove output filters ``remove[k]`` of the k-th prunable layer (and what depends on them)."""
    layers = model.prunable_layers()
    p = next(model.parameters())
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, 32, 32, device=p.device))
    for (conv, _), idxs in zip(layers, remove, strict=True):
        if idxs:
            group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(idxs))
            group.prune()


def removable(model: nn.Module, also_gone: tuple[tuple[int, int], ...] = ()) -> list[tuple[int, int]]:
    """Removable blocks, keeping at least one block in every stage (``also_gone``: blocks chosen for
    removal in this iteration but not removed yet)."""
    stages = model.stages()
    alive = [sum(not isinstance(b, nn.Identity) for b in s) - sum(g[0] == i for g in also_gone)
             for i, s in enumerate(stages)]
    return [(i, j) for i, j in model.removable_blocks() if alive[i] > 1 and (i, j) not in also_gone]


def reinitialise(model: nn.Module, seed: int) -> None:
    """Fresh random weights for a (pruned) architecture, initialised as the constructors do."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.Linear)):
            m.reset_parameters()


def structures(structure: str, iterations: int, seed: int) -> list[str]:
    """What each iteration removes: ``structure`` every time, or for ``both`` filters and layers in
    alternation from a start chosen by a coin seeded with the run's seed (so any two iterations remove
    both; an independent coin per iteration gave all-filters or all-layers for 3 of 3 seeds at 2 iterations)."""
    if structure != "both":
        return [structure] * iterations
    order = ("filters", "layers") if random.Random(seed).random() < 0.5 else ("layers", "filters")
    return [order[i % 2] for i in range(iterations)]


class Pruning(Defense):
    """Iterative structured pruning of the trained baseline network, then an adjustment (module doc)."""

    paper = PAPER
    Config = PruneConfig
    structure: ClassVar[str] = "filters"  # "filters", "layers" or "both"

    def chain_config(self) -> dict:
        """Nor on the adjustment: it acts only after the last iteration, so Table 2's scratch-E, scratch-B
        and W-ticket rows share the fine-tune row's chain (under the fine-tune row's key)."""
        return {**super().chain_config(), "adjustment": PruneConfig.adjustment}

    def transform_model(self, model: nn.Module, ctx: ModelContext) -> nn.Module:
        cfg = self.config
        iterations = cfg.iterations if cfg.iterations is not None else ctx.iterations
        ft_epochs = cfg.finetune_epochs if cfg.finetune_epochs is not None else ctx.finetune_epochs
        parent = copy.deepcopy(model)
        flops0 = count_flops(model)
        steps: list[Step] = []
        for it, kind in enumerate(structures(self.structure, iterations, ctx.seed)):
            if kind == "layers" and not removable(model):
                kind = "filters"  # every stage is down to one block
            step = self._prune_step(model, kind, ctx)
            steps.append(step)
            apply_step(model, step)
            # the tag names the iteration: runs with more iterations share these fine-tunes (a dose–response)
            if cfg.adjustment == "fine-tune" or it < iterations - 1:
                model = ctx.finetune(model, ft_epochs, f"prune{it}")
        if cfg.adjustment == "fine-tune":
            return model
        if cfg.adjustment == "w-ticket":
            parent.load_state_dict(ctx.initial_state)
            for step in steps:
                apply_step(parent, step)
            model = parent
            epochs = ctx.epochs
        else:
            reinitialise(model, ctx.seed)
            epochs = ctx.epochs
            if cfg.adjustment == "scratch-b":
                epochs = scratch_b_epochs(ctx.epochs, flops0, count_flops(model))
        return ctx.train(model, epochs, cfg.adjustment)

    def _prune_step(self, model: nn.Module, kind: str, ctx: ModelContext) -> Step:
        if kind == "filters":
            criterion = CRITERIA.create(self.config.criterion)
            scores = criterion.scores(model, model.prunable_layers(), ctx.images, ctx.labels)
            return ("filters", select_filters(scores, self.config.fraction, criterion.global_threshold))
        scores = BLOCK_CRITERIA[self.config.layer_criterion](model, removable(model), ctx.images, ctx.labels)
        chosen: list[tuple[int, int]] = []
        for _ in range(self.config.blocks_per_iteration):  # lowest score first, keeping a block per stage
            candidates = removable(model, tuple(chosen))
            if not candidates:
                break
            chosen.append(min(candidates, key=lambda b: (scores[b], b)))
        return ("blocks", chosen)


def apply_step(model: nn.Module, step: Step) -> None:
    kind, what = step
    if kind == "filters":
        prune_filters(model, what)
    else:  # removing a block leaves an Identity in its place: the other blocks keep their indices
        for block in what:
            remove_block(model, *block)


def scratch_b_epochs(epochs: int, flops_unpruned: float, flops_pruned: float) -> int:
    """Scratch-B epochs: ``epochs × FLOPs(unpruned) / FLOPs(pruned)``, rounded to the nearest integer."""
    return max(1, round(epochs * flops_unpruned / flops_pruned))


@register_defense("prune-filters")
class PruneFilters(Pruning):
    """Iterative filter pruning (default criterion ``pls``, 10% per iteration) — Jordao & Pedrini 2021."""

    structure = "filters"


@register_defense("prune-layers")
class PruneLayers(Pruning):
    """Iterative residual-block pruning, lowest score of the authors' CKA layer criterion first (or this
    project's ``layer_criterion=pls-gain``, see defenses/block_criteria.py) — Jordao & Pedrini 2021."""

    structure = "layers"


@register_defense("prune-both")
class PruneBoth(Pruning):
    """Iterations alternate between removing filters and removing blocks, starting with the structure a
    coin seeded with the run's seed picks (:func:`structures`) — Jordao & Pedrini 2021.

    Deviation: the authors' code flips a coin every iteration (``PruningMultipleStructures/main.py``:
    ``np.random.rand() >= 0.5`` → a layer). We alternate so that every run of ≥ 2 iterations removes both
    structures: independent coins gave all-filters or all-layers in 3 of 3 seeds at 2 iterations."""

    structure = "both"
