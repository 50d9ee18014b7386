"""Filter-importance criteria for structured pruning, registered by name (higher score = keep).

Every criterion sees only clean training images. Activations are those after the batch norm and ReLU
that follow each prunable convolution, reduced batch by batch so no feature maps are held for all images.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.registry import Registry
from defenses import pls

CRITERIA = Registry("pruning criterion", "defenses.pruning_criteria:Criterion", "defenses.pruning_criteria")
Layers = list[tuple[nn.Conv2d, nn.BatchNorm2d]]


class Criterion(abc.ABC):
    """Scores the filters of each prunable layer. ``global_threshold``: compare scores across layers."""

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    global_threshold: ClassVar[bool] = False

    @abc.abstractmethod
    def scores(self, model: nn.Module, layers: Layers, images: torch.Tensor, labels: torch.Tensor
               ) -> list[torch.Tensor]:
        """One 1-D score tensor per layer, one entry per output filter."""


@torch.no_grad()
def collect(model: nn.Module, layers: Layers, images: torch.Tensor,
            reduce: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 250) -> list[torch.Tensor]:
    """``reduce(relu(bn(conv(x))))`` per layer, batch by batch, concatenated over images (dim 0)."""
    out: list[list[torch.Tensor]] = [[] for _ in layers]
    hooks = [bn.register_forward_hook(lambda m, i, o, k=k: out[k].append(reduce(F.relu(o.float())).cpu()))
             for k, (_, bn) in enumerate(layers)]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(images), batch_size):
            model(images[i:i + batch_size].to(device).float())
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return [torch.cat(chunks) for chunks in out]


@CRITERIA.register("l1")
class L1(Criterion):
    """Σ|w| of each filter (Li et al. 2017, Pruning Filters for Efficient ConvNets, arXiv:1608.08710)."""

    paper = "Li et al. 2017, arXiv:1608.08710"

    def scores(self, model, layers, images, labels):
        return [conv.weight.detach().abs().sum((1, 2, 3)).float().cpu() for conv, _ in layers]


@CRITERIA.register("expected-abs")
class ExpectedAbs(Criterion):
    """E|a|: the mean absolute activation of each filter over images and positions (the expected-ABS
    criterion of Jordao & Pedrini's criteria comparison; mean activation in Molchanov et al. 2017)."""

    paper = "Molchanov et al. 2017, arXiv:1611.06440 (mean activation)"

    def scores(self, model, layers, images, labels):
        return [a.mean(0) for a in collect(model, layers, images, lambda a: a.abs().mean((2, 3)))]


@CRITERIA.register("hrank")
class HRank(Criterion):
    """Average rank of each filter's feature map over images (Lin et al. 2020, HRank, arXiv:2002.10179)."""

    paper = "Lin et al. 2020, HRank: Filter Pruning using High-Rank Feature Map, arXiv:2002.10179"

    def scores(self, model, layers, images, labels):
        return [r.mean(0) for r in collect(model, layers, images,
                                           lambda a: torch.linalg.matrix_rank(a).float())]


@CRITERIA.register("kl")
class KL(Criterion):
    """KL(p ‖ p₋ᵢ) between the softmax outputs of the network and of the network with filter i's output
    zeroed (after its batch norm), averaged over images: how much the network's prediction depends on the
    filter (the KL criterion of Jordao & Pedrini's criteria comparison). Costs one forward per filter."""

    paper = "Jordao & Pedrini 2021 (criteria comparison), arXiv:2108.04890"
    max_images = 256  # a forward per filter: the criterion scores on at most this many images

    @torch.no_grad()
    def scores(self, model, layers, images, labels):
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        x = images[: self.max_images].to(device).float()
        logp = F.log_softmax(model(x).float(), 1)
        result = []
        try:
            for _, bn in layers:
                s = torch.zeros(bn.num_features)
                for c in range(bn.num_features):
                    def zero(m, i, o, c=c):
                        o = o.clone()
                        o[:, c] = 0
                        return o
                    h = bn.register_forward_hook(zero)
                    try:
                        logq = F.log_softmax(model(x).float(), 1)
                    finally:
                        h.remove()
                    s[c] = (logp.exp() * (logp - logq)).sum(1).mean().cpu()
                result.append(s)
        finally:
            model.train(was_training)
        return result


@CRITERIA.register("pls")
class PLS(Criterion):
    """VIP of each filter in one PLS model of all layers (Jordao et al., Neurocomputing 2020).

    Each filter's feature map is reduced by global max pooling over clean training images; the
    features of all layers are concatenated and ``PLSRegression`` (2 components) predicts one-hot labels;
    a filter's score is its VIP. Scores are comparable across layers: one global threshold prunes.
    """

    paper = "Jordao et al. 2020, Deep network compression based on partial least squares, Neurocomputing"
    global_threshold = True

    def scores(self, model, layers, images, labels):
        feats = collect(model, layers, images, lambda a: a.amax((2, 3)))
        v = torch.from_numpy(pls.vip(torch.cat(feats, 1).numpy(), labels.numpy())).float()
        return list(torch.split(v, [f.shape[1] for f in feats]))


def select_filters(scores: list[torch.Tensor], fraction: float, global_threshold: bool) -> list[list[int]]:
    """Indices of the filters to remove in each layer: the lowest-scoring ``fraction``.

    Per layer: ``int(fraction · C)`` filters of each layer of C filters. Global: ``int(fraction · ΣC)``
    filters with the lowest scores over all layers. Either way each layer keeps at least one filter.
    """
    if not global_threshold:
        return [sorted(torch.argsort(s)[: min(int(fraction * len(s)), len(s) - 1)].tolist()) for s in scores]
    flat = torch.cat(scores)
    owner = torch.cat([torch.full((len(s),), k) for k, s in enumerate(scores)])
    offset = torch.cumsum(torch.tensor([0] + [len(s) for s in scores]), 0)
    remove: list[list[int]] = [[] for _ in scores]
    budget = int(fraction * len(flat))
    for j in torch.argsort(flat, stable=True).tolist():
        if budget == 0:
            break
        k = int(owner[j])
        if len(remove[k]) < len(scores[k]) - 1:
            remove[k].append(j - int(offset[k]))
            budget -= 1
    return [sorted(r) for r in remove]
