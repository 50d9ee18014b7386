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
    # the criterion variant belongs to Table 3, not Table 4
    assert [e["name"] for e in study.table4_entries(group)] == [
        "baseline", "prune-filters(iterations=7)", "prune-layers(iterations=3)", "cutout"]
    assert study.is_variant(group[7]) and not study.is_variant(group[2]) and not study.is_variant(group[-1])
    assert study.operating_note(group[2], group) == "operating point: 7 iterations, 50.9% FLOPs removed"
    assert study.operating_note(group[1], group) is None


def _op(name: str, removed: float, rob: tuple, clean: tuple, avg: tuple, seeds=(0, 1, 2)) -> dict:
    e = _e(name, removed)
    d = lambda m, hw: {"mean": m, "ci95": hw}  # noqa: E731
    e.update(seeds=list(seeds), deltas_vs_control={"robustness": d(*rob), "clean": d(*clean)},
             deltas={"robustness": d(*rob), "average": d(*avg)})
    return e


def test_the_verdict_words_follow_the_declared_rules():
    from benchmark.verdict import verdict

    aug = {"name": "cutmix", "defense": "cutmix", "defense_config": {}, "seeds": [0, 1, 2],
           "deltas": {"average": {"mean": 0.01, "ci95": 0.005}}}
    group = [_op("prune-filters(iterations=7)", 0.5, (-0.03, 0.01), (-0.005, 0.004), (-0.04, 0.01)),
             _op("prune-layers(iterations=4)", 0.46, (-0.02, 0.01), (-0.02, 0.005), (-0.02, 0.01)), aug]
    text = verdict(group)
    assert "1. *Pruning raises robustness.* **Refuted**" in text  # both intervals below zero
    assert "filters (7 iterations, 50.0% FLOPs removed) -3.00 ± 1.00" in text
    # upper ends -2 and -1 points, both below the paper's +1.1; MDE (1.96 + 0.84) / 1.96 × 1.00 = 1.43 points
    assert "The paper's gains (+1.1 to +2.7) lie above the interval at 2 of 2 operating points" in text
    assert "an effect of about 1.43 points (median over them)" in text
    # clean: filters (-0.9, -0.1) excludes a 1-point loss, layers (-2.5, -1.5) lies beyond it: no common word
    assert "2. *Pruning preserves generalization* (a clean loss under 1 point vs the control). **Not decided**" in text
    assert "3. *Pruning beats the augmentation defenses on the Average.* **Refuted**" in text
    assert "below 1 and above 0 of the 1 augmentation rows" in text and "Provisional" not in text
    assert text.startswith("Read from 3 seed(s) (0, 1, 2) at each structure's operating point;")
    landing = [group[0], _op("prune-layers(iterations=4)", 0.46, (-0.02, 0.01), (-0.02, 0.005), (-0.02, 0.01),
                             seeds=(0, 1))]  # a structure whose seeds are still landing: each its own
    assert verdict(landing).startswith("Read at each structure's operating point from seeds 0, 1, 2 (filters); "
                                       "0, 1 (layers); Δ in points")
    one_seed = [_op("prune-filters(iterations=7)", 0.5, (0.03, 0.01), (0.0, 0.002), (0.02, 0.001), seeds=(0,))]
    text = verdict(one_seed)
    assert "**Supported**: Robustness" in text and "**Provisional**" in text
    assert "lie above the interval at 0 of 1 operating points" in text  # (+2, +4) does not exclude them
    assert "3. *Pruning beats" not in text  # no augmentation rows to compare with
    assert verdict([aug]) == ""  # no operating point, no verdict
    assert "Tables 2 and 3" in text and "other criteria and adjustments at the operating point" in text
    variants = [_op("prune-filters(criterion=l1,iterations=7)", 0.4, (0, 0.01), (0, 0.01), (0, 0.01), seeds=(0,)),
                _op("prune-filters(adjustment=scratch-e,iterations=7)", 0.4, (0, 0.01), (0, 0.01), (0, 0.01))]
    assert ("Tables 2 and 3 in full (2 of their 7 variants have run, on 1–3 seed(s) each; a row is read from 3)"
            in verdict(one_seed + variants))
    assert "(1 of their 7 variants have run, on 1 seed(s) each;" in verdict(one_seed + variants[:1])
    names = [f"criterion={c}" for c in ("l1", "expected-abs", "hrank", "kl")] + [
        f"adjustment={a}" for a in ("scratch-e", "scratch-b", "w-ticket")]
    full = [_op(f"prune-filters({n},iterations=7)", 0.4, (0, 0.01), (0, 0.01), (0, 0.01)) for n in names]
    untested = verdict(one_seed + full).splitlines()[-1]
    assert untested.startswith("Untested here") and "Tables 2" not in untested  # all 7 on 3 seeds: tested
    # seven names are not seven variants: kl twice (one at another pruning depth), hrank missing
    kl5 = _op("prune-filters(criterion=kl,iterations=5)", 0.3, (0, 0.01), (0, 0.01), (0, 0.01))
    twice = full[:2] + [kl5] + full[3:]
    assert "Tables 2 and 3 in full (6 of their 7 variants have run, on 3 seed(s) each;" in verdict(one_seed + twice)
    # all seven, but away from the filters' operating point (7 iterations) that Tables 2-3 are read at
    away = [_op(e["name"].replace("=7", "=6"), 0.35, (0, 0.01), (0, 0.01), (0, 0.01)) for e in full]
    assert "the other criteria and adjustments at the operating point (Tables 2 and 3)" in verdict(one_seed + away)
    assert "(7 of their 7 variants have run, on 1–3 seed(s) each;" in verdict(
        one_seed + full[:-1] + [_op("prune-filters(adjustment=w-ticket,iterations=7)", 0.4, (0, 0.01), (0, 0.01),
                                    (0, 0.01), seeds=(0,))])


def test_the_fourth_paragraph_reads_criteria_against_the_control_and_retrained_networks_against_the_baseline():
    from benchmark.verdict import verdict

    op = _op("prune-filters(iterations=7)", 0.5, (-0.03, 0.01), (-0.005, 0.004), (-0.04, 0.01))
    kl = _op("prune-filters(criterion=kl,iterations=7)", 0.4, (-0.02, 0.005), (0, 0.01), (0, 0.01))
    scratch = _op("prune-filters(adjustment=scratch-b,iterations=7)", 0.45, (0.01, 0.02), (0, 0.01), (0, 0.01))
    del scratch["deltas_vs_control"]  # a retrained network has no fine-tune control
    scratch["deltas"]["robustness"] = {"mean": 0.03, "ci95": 0.01}  # (+2, +4) vs the baseline: above zero
    l1_two = _op("prune-filters(criterion=l1,iterations=7)", 0.4, (0.05, 0.01), (0, 0.01), (0, 0.01), seeds=(0, 1))
    text = verdict([op, kl, scratch, l1_two])
    para = next(line for line in text.splitlines() if line.startswith("4. "))
    assert para == ("4. *Another criterion or adjustment raises robustness* (Tables 2 and 3, at the filters' "
                    "operating point). **Not decided** at this budget: Robustness Δ adjustment `scratch-b` (45.0% "
                    "FLOPs removed, seeds 0,1,2) +3.00 ± 1.00 vs the baseline; criterion `kl` (40.0% FLOPs removed, "
                    "seeds 0,1,2) -2.00 ± 0.50 vs the control. Of these 2 intervals, 1 lie below zero and 1 above.")
    assert text.index("4. ") < text.index("Untested here")
    assert "4. " not in verdict([op, l1_two])  # a variant on 2 seeds is not read
    assert "**Refuted**: Robustness Δ criterion `kl`" in verdict([op, kl])
