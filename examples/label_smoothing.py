"""A defense submitted from outside the package: label smoothing.

    defense-bench submit examples/label_smoothing.py:LabelSmoothing --budget quick

Szegedy et al. 2016, *Rethinking the Inception Architecture for Computer Vision*, arXiv:1512.00567:
train against (1 − ε)·onehot(y) + ε/K instead of onehot(y); ε = 0.1 as in the paper.
"""

from dataclasses import dataclass

from benchmark.registry import register_defense
from defenses.base import Defense, one_hot


@dataclass(frozen=True)
class LabelSmoothingConfig:
    epsilon: float = 0.1  # probability mass spread uniformly over the K = 10 classes (Szegedy et al. 2016)


@register_defense("label-smoothing")
class LabelSmoothing(Defense):
    """Label smoothing (Szegedy et al. 2016, arXiv:1512.00567), ε = 0.1: the images stay as they are,
    the trainer's soft-target cross-entropy sees (1 − ε)·onehot(y) + ε/10."""

    paper = "Szegedy et al. 2016, Rethinking the Inception Architecture, arXiv:1512.00567"
    Config = LabelSmoothingConfig

    def transform_batch(self, x, y, generator):
        t = one_hot(y)
        return x, (1 - self.config.epsilon) * t + self.config.epsilon / t.shape[1]
