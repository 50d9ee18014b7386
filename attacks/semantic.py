"""Semantic (negative) images: x → 1 − x."""

from attacks.base import ThreatModel
from benchmark.registry import register_threat


@register_threat("semantic")
class Semantic(ThreatModel):
    """Negative images, which keep shape and semantics but flip every intensity
    (Hosseini et al. 2017, On the Limitation of CNNs in Recognizing Negative Images, arXiv:1703.06857)."""

    paper = "Hosseini et al. 2017, On the Limitation of CNNs in Recognizing Negative Images, arXiv:1703.06857"

    def perturb(self, model, x, y, generator):
        return 1.0 - x
