"""Block (layer) criteria for removing residual blocks: a score per removable block, the lowest removed first.

* ``cka`` (default) — the pruning authors' own layer criterion: their public code
  (``arturjordao/DeepPruning``, ``PruningMultipleStructures/pruning_criteria/criteria_layer.py``, class
  ``CKA``) zeroes the block's last batch norm, so the block computes the identity, and scores it
  ``1 − CKA(F, F′)``: linear CKA (Kornblith et al. 2019, *Similarity of Neural Network Representations
  Revisited*, arXiv:1905.00414; the feature-space form, not debiased, as there) between the penultimate
  features of the network with and without the block, on clean training images. We drop the block
  (``remove_block``) rather than zeroing it: on a block with an identity shortcut both give
  ``relu(x) = x`` after the previous block's ReLU, so the features are the same.
* ``pls-gain`` — **this project's own** criterion, not the authors': the rise in PLS fit quality (R² of
  predicting the one-hot labels from the average-pooled features) from the block's input to its output.
  A block that adds little discriminative information is removed first. (Jordao et al. rank *filters* with
  one PLS model over all layers and VIP scores; VIP² sums to the number of features within one PLS model,
  which is why a per-layer VIP mean cannot rank layers — here each block gets PLS fits of its own.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from benchmark.models import remove_block
from defenses import pls
from defenses.pruning_criteria import collect

Block = tuple[int, int]


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two feature matrices (n, d₁) and (n, d₂): ‖Yᶜᵀ Xᶜ‖²_F / (‖Xᶜᵀ Xᶜ‖_F ‖Yᶜᵀ Yᶜ‖_F)."""
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    return float(np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


@torch.no_grad()
def penultimate(model: nn.Module, images: torch.Tensor, batch_size: int = 250) -> np.ndarray:
    """The classifier's input features (after global pooling) for ``images``, in eval mode."""
    feats: list[torch.Tensor] = []
    hook = model.fc.register_forward_pre_hook(lambda m, i: feats.append(i[0].float().cpu()))
    try:
        collect(model, [], images, lambda a: a, batch_size)
    finally:
        hook.remove()
    return torch.cat(feats).double().numpy()


def cka_scores(model: nn.Module, blocks: list[Block], images: torch.Tensor, labels: torch.Tensor) -> dict[Block, float]:
    """``1 − CKA(F, F′)`` per block (module doc): how much dropping it changes the penultimate features."""
    import copy

    full = penultimate(model, images)
    out = {}
    for b in blocks:
        without = copy.deepcopy(model)
        remove_block(without, *b)
        out[b] = 1.0 - linear_cka(full, penultimate(without, images))
    return out


def pls_gain_scores(model: nn.Module, blocks: list[Block], images: torch.Tensor, labels: torch.Tensor
                    ) -> dict[Block, float]:
    """R²(PLS on the block's output) − R²(PLS on its input), average-pooled features (module doc)."""
    stages = model.stages()
    feats_in: dict[Block, list[torch.Tensor]] = {b: [] for b in blocks}
    feats_out: dict[Block, list[torch.Tensor]] = {b: [] for b in blocks}
    hooks = []
    for b in blocks:
        def hook(m, i, o, b=b):
            feats_in[b].append(i[0].float().mean((2, 3)).cpu())
            feats_out[b].append(o.float().mean((2, 3)).cpu())

        hooks.append(stages[b[0]][b[1]].register_forward_hook(hook))
    try:
        collect(model, [], images, lambda a: a)  # no layers: only the batched eval forwards for the hooks
    finally:
        for h in hooks:
            h.remove()
    y = labels.numpy()
    return {b: pls.fit_quality(torch.cat(feats_out[b]).numpy(), y) - pls.fit_quality(torch.cat(feats_in[b]).numpy(), y)
            for b in blocks}


BLOCK_CRITERIA: dict[str, Callable[..., dict[Block, float]]] = {"cka": cka_scores, "pls-gain": pls_gain_scores}
