"""Clean accuracy: the unperturbed test images."""

from attacks.base import ThreatModel
from benchmark.registry import register_threat


@register_threat("clean")
class Clean(ThreatModel):
    """No perturbation: the generalisation column of the leaderboard."""

    paper = "Krizhevsky 2009, CIFAR-10 test set"

    def perturb(self, model, x, y, generator):
        return x
