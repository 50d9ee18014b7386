"""Built-in threat models; importing this package registers them."""

from attacks import (  # noqa: F401
    autoattack,
    clean,
    corruptions,
    fgsm,
    occlusion,
    pgd,
    semantic,
    semantic_hsv,
    shape_bias,
)
from attacks.base import ThreatModel

SUITES: dict[str, tuple[str, ...]] = {
    # The four threats of Jordao & Pedrini (ICCV-W 2021), the default.
    "paper": ("clean", "fgsm", "occlusion", "semantic"),
    # What a careful reviewer of a robustness claim expects (Carlini et al. 2019), plus the two PGD
    # variants that the gradient-masking checks compare against (ε = 32/255; 5× the steps), on the same
    # seeded 1,000 images as AutoAttack and Square.
    "full": ("clean", "fgsm", "occlusion", "semantic", "pgd", "autoattack", "square", "corruptions",
             "semantic-hsv", "occlusion-worst", "shape-bias", "pgd(eps=0.12549019607843137,n_images=1000)",
             "pgd(steps=100,n_images=1000)"),
}

__all__ = ["SUITES", "ThreatModel"]
