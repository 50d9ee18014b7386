"""The undefended network: the reference every delta is measured against."""

from benchmark.registry import register_defense
from defenses.base import Defense


@register_defense("baseline")
class Baseline(Defense):
    """No defense: standard training with pad-4 crop and flip (He et al. 2016, arXiv:1512.03385)."""

    paper = "He et al. 2016, Deep Residual Learning for Image Recognition, arXiv:1512.03385"
