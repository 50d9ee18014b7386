"""The dose–response study on the board: which entries are curve points, and the operating point whose
network each pruning structure's Table-4 and Table-1 rows quote.

A curve point is an entry of a pruning defense (or of its ``finetune-only`` control) whose only options are
``iterations`` and ``finetune_epochs`` (e.g. ``prune-filters(iterations=7,finetune_epochs=1)``). The
operating point of a structure is its curve point whose FLOPs removed is nearest to :data:`TARGET` (fewer
iterations on a tie): chosen from the networks' size, never from their accuracy, so picking it cannot favour
any outcome (issue 19: "the Table-4 rows quote one stated operating point, the one nearest 50% FLOPs").
"""

from __future__ import annotations

STRUCTURES = {"prune-filters": "filters", "prune-layers": "layers", "prune-both": "filters + layers"}
CONTROL = "finetune-only"
TARGET = 0.5  # fraction of the parent's FLOPs removed
POINT_OPTIONS = {"iterations", "finetune_epochs"}
VARIANT_OPTIONS = {"adjustment", "criterion"}  # what Tables 2 and 3 vary at the filters' operating point


def options(name: str) -> set[str]:
    """The option names a canonical entry name sets: ``prune-filters(iterations=7,finetune_epochs=1)`` →
    {iterations, finetune_epochs}."""
    if "(" not in name:
        return set()
    return {part.split("=")[0].strip() for part in name[name.index("(") + 1:-1].split(",") if "=" in part}


def is_point(e: dict) -> bool:
    """Whether ``e`` is a dose–response curve point (of a structure or of the control)."""
    return ((e["defense"] in STRUCTURES or e["defense"] == CONTROL) and "iterations" in options(e["name"])
            and options(e["name"]) <= POINT_OPTIONS)


def is_variant(e: dict) -> bool:
    """Whether ``e`` is a Table-2/3 variant: a pruning entry that sets an adjustment or a criterion."""
    return e["defense"] in STRUCTURES and bool(options(e["name"]) & VARIANT_OPTIONS)


def removed(e: dict, what: str = "flops") -> float:
    """The fraction of the parent's ``what`` (``flops`` or ``params``) the entry's network no longer has."""
    return 1 - e[what] / e[f"{what}_parent"] if e.get(f"{what}_parent") else float("nan")


def flops_removed(e: dict) -> float:
    return removed(e, "flops")


def operating_points(group: list[dict]) -> dict[str, dict]:
    """structure → the curve-point entry nearest :data:`TARGET` FLOPs removed (structures with points only)."""
    out: dict[str, dict] = {}
    for structure in STRUCTURES:
        points = [e for e in group if e["defense"] == structure and is_point(e)]
        if points:
            out[structure] = min(points, key=lambda e: (abs(flops_removed(e) - TARGET),
                                                        e["defense_config"]["iterations"]))
    return out


def table4_entries(group: list[dict]) -> list[dict]:
    """The entries Table 4 compares: every entry but the curve points and the Tables 2–3 variants, except each
    structure's operating point (the control's points appear in Table 1 and the dose–response section)."""
    chosen = {id(e) for e in operating_points(group).values()}
    return [e for e in group if not is_variant(e) and (not is_point(e) or id(e) in chosen)]


def operating_note(e: dict, group: list[dict]) -> str | None:
    """The row note of an operating-point entry: its iterations and FLOPs removed; None for other entries."""
    op = operating_points(group).get(e["defense"])
    if op is not e:
        return None
    return (f"operating point: {e['defense_config']['iterations']} iterations, "
            f"{100 * flops_removed(e):.1f}% FLOPs removed")
