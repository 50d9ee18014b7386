"""Built-in threat models; importing this package registers them."""

from attacks import clean, fgsm, occlusion, semantic  # noqa: F401
from attacks.base import ThreatModel

SUITES: dict[str, tuple[str, ...]] = {
    # The four threats of Jordao & Pedrini (ICCV-W 2021), the default.
    "paper": ("clean", "fgsm", "occlusion", "semantic"),
}

__all__ = ["SUITES", "ThreatModel"]
