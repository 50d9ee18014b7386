import pandas as pd

from benchmark.tables import render_leaderboard, signed, table4


def fake_results() -> pd.DataFrame:
    acc = {  # defense: {threat: (seed 0, seed 1)}
        "baseline": {"clean": (0.90, 0.92), "fgsm": (0.10, 0.12), "occlusion": (0.60, 0.60), "semantic": (0.20, 0.22)},
        "cutout": {"clean": (0.91, 0.93), "fgsm": (0.12, 0.14), "occlusion": (0.70, 0.70), "semantic": (0.20, 0.20)},
        "mixup": {"clean": (0.89, 0.91), "fgsm": (0.11, 0.11), "occlusion": (0.58, 0.60), "semantic": (0.21, 0.23)},
    }
    return pd.DataFrame([{"defense": d, "arch": "resnet20", "budget": "quick", "seed": s, "threat": t,
                          "accuracy": a[s]} for d, ts in acc.items() for t, a in ts.items() for s in (0, 1)])


def test_signed_format_matches_the_paper():
    assert signed(1.58) == "(+) 1.58"
    assert signed(-0.6) == "(-) 0.60"
    assert signed(0.0) == "(+) 0.00"
    assert signed(float("nan")) == "–"


def test_table4_of_fixed_results_equals_the_known_table():
    # cutout: deltas clean +1, fgsm +2, occlusion +10, semantic -1 → Robustness 11/3, Generalization 1.
    # mixup: clean -1, fgsm 0, occlusion -1, semantic +1 → Robustness 0, Generalization -1, Average -0.5.
    info = {"baseline": {"params": 272474, "flops": 81_790_000}, "cutout": {"params": 272474}}
    expected = """\
| Defense   | Clean   | FGSM   | Occlusion   | Semantic   | Robustness   | Generalization   | Average   | Params   | FLOPs   |
|:----------|:--------|:-------|:------------|:-----------|:-------------|:-----------------|:----------|:---------|:--------|
| baseline  | 91.00   | 11.00  | 60.00       | 21.00      | –            | –                | –         | 0.272 M  | 81.79 M |
| cutout    | 92.00   | 13.00  | 70.00       | 20.00      | (+) 3.67     | (+) 1.00         | (+) 2.33  | 0.272 M  | –       |
| mixup     | 90.00   | 11.00  | 59.00       | 22.00      | (+) 0.00     | (-) 1.00         | (-) 0.50  | –        | –       |"""
    assert table4(fake_results(), ["clean", "fgsm", "occlusion", "semantic"], info) == expected


def test_deltas_are_paired_by_seed():
    r = fake_results()
    r = r[~((r.defense == "cutout") & (r.seed == 1))]  # cutout only has seed 0
    table = table4(r, ["clean", "fgsm"])
    # seed 0 only: clean 0.91 - 0.90 = +1.00, fgsm 0.12 - 0.10 = +2.00 (not vs the two-seed baseline mean)
    assert "| cutout    | 91.00   | 12.00  | (+) 2.00     | (+) 1.00         | (+) 1.50  |" in table


def test_leaderboard_states_architecture_budget_and_seeds():
    md = render_leaderboard(fake_results(), pd.DataFrame(), ["clean", "fgsm", "occlusion", "semantic"])
    assert "## Table 4 — resnet20, quick" in md
    assert "Architecture **resnet20**, budget **quick**, seeds 0, 1." in md
    assert "budget `quick`: resnet20, 12 epochs" in md


def test_pruning_tables_of_fixed_results():
    from benchmark.tables import pruning_tables

    r = fake_results()
    extra = []
    for label, shift in (("prune-filters", 0.01), ("prune-layers", -0.02), ("prune-filters(adjustment=scratch-e)", 0.0),
                         ("prune-filters(criterion=l1)", 0.03)):
        b = r[r.defense == "baseline"].copy()
        b["defense"], b["accuracy"] = label, b["accuracy"] + shift
        extra.append(b)
    parts = pruning_tables(pd.concat([r, *extra]), ["clean", "fgsm", "occlusion", "semantic"])
    rows = {}
    for line in "\n".join(parts).splitlines():
        if line.startswith("| ") and "---" not in line:
            cells = [c.strip() for c in line.split("|")[1:-1]]
            rows[cells[0]] = cells[1:]
    assert rows["Filters"] == ["(+) 1.00"] * 5
    assert rows["Layers"] == ["(-) 2.00"] * 5
    assert rows["Filters · Fine-tuning"] == ["(+) 1.00"] * 5
    assert rows["Filters · Scratch-E"] == ["(+) 0.00"] * 5
    assert rows["Filters · ℓ1-norm"] == ["(+) 3.00"] * 5
    assert rows["Filters · PLS"] == ["(+) 1.00"] * 5
    assert "Filters · Scratch-B" not in rows  # no results, no row


def test_tables_2_and_3_are_omitted_without_variants():
    from benchmark.tables import pruning_tables

    r = fake_results()
    b = r[r.defense == "baseline"].copy()
    b["defense"] = "prune-filters"
    text = "\n".join(pruning_tables(pd.concat([r, b]), ["clean"]))
    assert "Table 1" in text and "Table 2" not in text and "Table 3" not in text


def test_robustness_is_not_a_partial_mean():
    r = fake_results()
    r = r[~((r.defense == "cutout") & (r.threat == "semantic"))]  # cutout was not scored on semantic
    row = [ln for ln in table4(r, ["clean", "fgsm", "occlusion", "semantic"]).splitlines() if "| cutout" in ln][0]
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[4] == "–" and cells[5] == "–" and cells[6] == "(+) 1.00"  # Semantic, Robustness; Generalization
