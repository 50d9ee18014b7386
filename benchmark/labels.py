"""Column titles of threat labels on the board and the page: ``FGSM``, ``PGD 2/255 (1k)``, ``CIFAR-10-C``."""

from __future__ import annotations

from benchmark import curves

THREAT_TITLES = {"clean": "Clean", "fgsm": "FGSM", "pgd": "PGD", "autoattack": "AutoAttack", "semantic-hsv": "HSV",
                 "occlusion-worst": "Occlusion (worst)", "corruptions": "CIFAR-10-C"}


def threat_title(name: str) -> str:
    """A column title: ``FGSM``, ``PGD 2/255 (1k)`` for an ε-sweep label, ``Semantic`` for ``semantic``."""
    if name in THREAT_TITLES:
        return THREAT_TITLES[name]
    try:
        point = curves.eps_of(name)
    except ValueError:  # a label this code cannot parse keeps its own words
        point = None
    if point is not None:
        attack, eps, n = point
        return f"{attack.upper()} {eps:g}/255" + (f" ({n / 1000:g}k)" if n else "")
    head, _, args = name.partition("(")
    title = THREAT_TITLES.get(head, head.replace("-", " ").title())
    return f"{title} ({args.rstrip(')').replace(',', ', ')})" if args else title
