"""The dose–response study's selection rules (benchmark/study.py) on hand-built entries with known answers."""

from benchmark import study


def _e(name: str, removed: float = 0.0) -> dict:
    defense = name.split("(")[0]
    cfg = dict(kv.split("=") for kv in name[name.index("(") + 1:-1].split(",")) if "(" in name else {}
    cfg = {k: int(v) if v.isdigit() else v for k, v in cfg.items()}
    return {"name": name, "defense": defense, "defense_config": cfg, "flops": 100 * (1 - removed),
            "flops_parent": 100}


def test_curve_points_are_pruning_or_control_entries_that_set_only_iterations_and_epochs():
    assert study.is_point(_e("prune-filters(iterations=7,finetune_epochs=1)"))
    assert study.is_point(_e("finetune-only(iterations=3)"))
    assert not study.is_point(_e("prune-filters"))  # the budget's iterations: a Table-1 row, not a curve point
    assert not study.is_point(_e("prune-filters(criterion=l1,iterations=7)"))  # a Table-3 variant
    assert not study.is_point(_e("cutout(size=8)"))
    assert study.options("prune-both(iterations=2,finetune_epochs=1)") == {"iterations", "finetune_epochs"}


def test_the_operating_point_is_nearest_half_the_flops_and_fewer_iterations_on_a_tie():
    group = [_e("baseline"), _e("prune-filters(iterations=6)", 0.454), _e("prune-filters(iterations=7)", 0.509),
             _e("prune-filters(iterations=8)", 0.558), _e("prune-layers(iterations=3)", 0.45),
             _e("prune-layers(iterations=4)", 0.55), _e("finetune-only(iterations=7)"),
             _e("prune-filters(criterion=l1,iterations=7)", 0.5), _e("cutout")]
    ops = study.operating_points(group)
    assert {k: e["name"] for k, e in ops.items()} == {"prune-filters": "prune-filters(iterations=7)",
                                                       "prune-layers": "prune-layers(iterations=3)"}
    assert [e["name"] for e in study.table4_entries(group)] == [
        "baseline", "prune-filters(iterations=7)", "prune-layers(iterations=3)",
        "prune-filters(criterion=l1,iterations=7)", "cutout"]
    assert study.operating_note(group[2], group) == "operating point: 7 iterations, 50.9% FLOPs removed"
    assert study.operating_note(group[1], group) is None
