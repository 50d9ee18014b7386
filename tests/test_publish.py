"""Intervals, entries, the published leaderboard, verify and submit."""

import copy
import dataclasses
import json
import logging
import math
import re

import numpy as np
import pytest
import torch
from torch import nn

from benchmark import entries as E
from benchmark.board import render
from benchmark.publish import publish
from benchmark.registry import DEFENSES
from benchmark.results_store import ResultsStore, RunKey
from benchmark.stats import paired_bootstrap, paired_t, t_interval
from benchmark.submit import SubmissionError, check_model, load_defense_class, submit
from benchmark.verify import verify


def test_t_interval_of_a_fixed_sample_equals_the_hand_computed_value():
    # mean 2.5, s = sqrt(5/3) = 1.2909944, t_{0.975, 3} = 3.1824463 → 3.1824463 · 1.2909944 / 2
    i = t_interval([1, 2, 3, 4])
    assert i.mean == 2.5 and i.half_width == pytest.approx(2.0542603, abs=1e-6)
    # paired differences 0.01, 0.02, 0.01: mean 0.013333, s = 0.0057735, t_{0.975, 2} = 4.3026527
    d = paired_t([0.80, 0.82, 0.81], [0.79, 0.80, 0.80])
    assert d.mean == pytest.approx(0.0133333, abs=1e-6)
    assert d.half_width == pytest.approx(4.3026527 * 0.0057735 / math.sqrt(3), abs=1e-6)
    assert not d.excludes_zero  # 0.0133 < 0.0143
    assert math.isnan(t_interval([0.5]).half_width)


def test_paired_bootstrap_is_zero_for_identical_outcomes_and_covers_a_known_difference():
    a = np.random.default_rng(0).random(5000) < 0.7
    same = paired_bootstrap([a], [a.copy()])
    assert same.mean == 0 and same.half_width == 0 and not same.excludes_zero
    b = a.copy()
    b[:500] = ~b[:500]  # flip 10% of the decisions: the difference is known exactly
    i = paired_bootstrap([a], [b])
    assert i.mean == pytest.approx(a.mean() - b.mean())
    assert 0 < i.half_width < 0.02 and abs(i.mean) > i.half_width
    d = a.astype(float) - b  # the bootstrap's spread of a mean is the normal one here: 1.96 · sd / √n
    assert i.half_width == pytest.approx(1.96 * d.std() / math.sqrt(len(d)), rel=0.1)


def test_seeds_and_images_interval_equals_the_hand_computed_value():
    from benchmark.stats import seeds_and_images

    # 2 seeds, one threat on 4 images. Per-image deltas: seed 0 (0, 1, 0, 0), seed 1 (1, 0, 0, 0): per-seed
    # deltas 0.25 and 0.25 (no seed spread); seed-averaged u = (.5, .5, 0, 0): var(u) = 0.25 / 3, over 4 images
    # 1/48; half-width t_{.975,1} · √(1/48) = 12.7062047 · 0.1443376
    d = [[np.array([1, 1, 0, 1], bool)], [np.array([1, 0, 1, 1], bool)]]
    b = [[np.array([1, 0, 0, 1], bool)], [np.array([0, 0, 1, 1], bool)]]
    i = seeds_and_images(d, b)
    assert i.mean == 0.25 and i.half_width == pytest.approx(12.7062047 * math.sqrt(1 / 48), abs=1e-6)
    assert i.method == "seeds and test images over 2 seeds (variance components)"
    # with seed spread: seed 1 now also gains image 3 → per-seed 0.25, 0.5 (s² = 1/32, over 2 seeds 1/64);
    # u = (.5, .5, 0, .5): var(u) = 0.25 / 3 … = (3/4 − 4·(3/8)²) / 3 = 1/16, over 4 images 1/64
    d[1][0][3], b[1][0][3] = True, False
    i = seeds_and_images(d, b)
    assert i.mean == 0.375 and i.half_width == pytest.approx(12.7062047 * math.sqrt(1 / 64 + 1 / 64), abs=1e-6)


def _fake_store(path):
    """Baseline and cutout, 3 seeds, clean and FGSM: known numbers."""
    acc = {("baseline", "clean"): [0.90, 0.91, 0.92], ("baseline", "fgsm"): [0.10, 0.12, 0.11],
           ("cutout", "clean"): [0.91, 0.93, 0.92], ("cutout", "fgsm"): [0.14, 0.15, 0.16]}
    store = ResultsStore(path)
    for defense in ("baseline", "cutout"):
        for seed in range(3):
            key = RunKey(defense, "resnet20", "quick", seed)
            store.start_run(key, {"defense": defense, "defense_config": {"size": 16} if defense == "cutout" else {},
                                  "budget": {"name": "quick", "archs": ["resnet20"], "epochs": 12, "batch_size": 256,
                                             "lr": 0.4}}, f"hash-{defense}-{seed}", "git:abc")
            store.update_info(key, params=272474, flops=81.6e6, params_parent=272474, flops_parent=81.6e6,
                              train_seconds=480.0 + seed, train_epochs=12, device="cpu", threads=2,
                              train_precision="bf16", train_images_seen=600000, cpu="AVX512")
            for threat in ("clean", "fgsm"):
                a = acc[(defense, threat)][seed]
                store.add_result(key, threat, a, 10000, 1.0, {}, torch.arange(10000) < round(a * 10000))
            store.finish_run(key)
    return store


EXPECTED_TABLE4 = """\
| Defense | Seeds | Clean | FGSM | Robustness | Generalization | Average | Params | FLOPs | Masking |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| `baseline` | 0,1,2 | 91.00 ± 2.48 | 11.00 ± 2.48 | – | – | – | 0.272 M | 81.6 M | not checked |
| `cutout` (black hole = the occlusion threat's patch) | 0,1,2 | 92.00 ± 2.48 | 15.00 ± 2.48 | (+) 4.00 ± 2.59 ✱ | (+) 1.00 ± 2.50 | (+) 2.50 ± 0.38 ✱ | 0.272 M | 81.6 M | not checked |
"""


def test_leaderboard_from_fixed_entries_equals_the_expected_markdown(tmp_path):
    with _fake_store(tmp_path / "r.sqlite") as store:
        entries = E.build_entries(store)
    cut = next(e for e in entries if e["name"] == "cutout")
    # deltas by seed: clean +1, +2, 0 (mean 1, s 1); fgsm +4, +3, +5 (mean 4, s 1); average 2.5 every seed.
    # Image i is correct iff i < 10000·accuracy, so the seed-averaged per-image FGSM delta u is 1/3 on images
    # 1000–1099 and 1500–1599, 2/3 on 1100–1199 and 1400–1499, 1 on 1200–1399: Σu = 400, Σu² = 2800/9;
    # var(u) = (2800/9 − 16) / 9999, and the half-width is t_{.975,2} · √(0.01²/3 + var(u)/10000).
    assert cut["deltas"]["clean"]["mean"] == pytest.approx(0.01)
    var_u = (2800 / 9 - 16) / 9999
    assert cut["deltas"]["robustness"]["ci95"] == pytest.approx(4.3026527 * math.sqrt(0.01 ** 2 / 3 + var_u / 1e4),
                                                                abs=1e-7)
    # the average: per seed 0.025 exactly (no seed spread); u = (u_fgsm + u_clean) / 2 on disjoint images,
    # u_clean = 1/3 on images 9000–9299: Σu = 250, Σu² = (2800/9 + 300/9) / 4
    var_avg = ((2800 / 9 + 300 / 9) / 4 - 10000 * 0.025 ** 2) / 9999
    assert cut["deltas"]["average"]["ci95"] == pytest.approx(4.3026527 * math.sqrt(var_avg / 1e4), abs=1e-7)
    assert cut["threats"]["clean"]["per_seed"] == {"0": 0.91, "1": 0.93, "2": 0.92}
    E.write_entries(entries, tmp_path / "entries")
    md = render(E.load_entries(tmp_path / "entries"))
    assert EXPECTED_TABLE4 in md
    assert "Intervals: accuracies: t over 3 seeds; deltas: seeds and test images over 3 seeds." in md
    assert cut["compute"]["cpu"] == "AVX512"
    assert "| `cutout` | 12 | 8.0 min | 0.60 M | 146.9 T | – | cpu | AVX512 | bf16 | – | 2 | git:abc |" in md


def test_an_entry_names_every_code_version_that_trained_or_scored_it(tmp_path):
    with _fake_store(tmp_path / "r.sqlite") as store:
        key = RunKey("cutout", "resnet20", "quick", 1)
        store.start_run(key, store.export_run(key)["config"], "hash-cutout-1", "git:later")  # resumed: keeps git:abc
        store.add_result(key, "pgd", 0.0, 10000, 1.0, {}, torch.zeros(10000, dtype=torch.bool), code_version="git:def")
        store.finish_run(key)
        cut = next(e for e in E.build_entries(store) if e["name"] == "cutout")
    assert cut["code_versions"] == ["git:abc", "git:def"]


def test_an_entry_keeps_the_corruption_parts_and_the_board_shows_them_by_severity_and_by_corruption(tmp_path):
    per_seed = {0: {"fog/1": 0.9, "fog/2": 0.5, "snow/1": 0.8, "snow/2": 0.4},
                1: {"fog/1": 0.7, "fog/2": 0.3, "snow/1": 0.6, "snow/2": 0.2, "snow/3": 0.1}}  # s0 has no snow/3
    with _fake_store(tmp_path / "r.sqlite") as store:
        for seed, parts in per_seed.items():
            store.add_result(RunKey("cutout", "resnet20", "quick", seed), "corruptions", 0.5, 2000, 1.0, {},
                             torch.arange(2000) < 1000, parts)
        cut = next(e for e in E.build_entries(store) if e["name"] == "cutout")
    # means over the two seeds, for the parts both have
    assert cut["threats"]["corruptions"]["parts"] == {"fog/1": 0.8, "fog/2": 0.4, "snow/1": 0.7, "snow/2": 0.3}
    md = render([e for e in E.build_entries(_fake_store(tmp_path / "b.sqlite")) if e["name"] == "baseline"] + [cut])
    # severity 1: (0.8 + 0.7) / 2; severity 2: (0.4 + 0.3) / 2; fog: (0.8 + 0.4) / 2; snow: (0.7 + 0.3) / 2
    assert "| Defense | Seeds | Severity 1 | Severity 2 |\n| --- | --- | --- | --- |\n| `cutout` | 0,1 | 75.00 | 35.00 |" in md
    assert "| Defense | fog | snow |\n| --- | --- | --- |\n| `cutout` | 60.00 | 50.00 |" in md


def test_compute_shows_which_seed_ran_on_which_cpu_and_precision(tmp_path):
    with _fake_store(tmp_path / "r.sqlite") as store:
        store.update_info(RunKey("cutout", "resnet20", "quick", 2), cpu="AVX2", train_precision="fp32")
        entries = E.build_entries(store)
    cut = next(e for e in entries if e["name"] == "cutout")
    assert cut["compute"]["cpu"] == "AVX512 (s0, s1); AVX2 (s2)"
    assert cut["compute"]["precision"] == "bf16 (s0, s1); fp32 (s2)"
    assert "| cpu | AVX512 (s0, s1); AVX2 (s2) | bf16 (s0, s1); fp32 (s2) | – | 2 |" in render(entries)
    with _fake_store(tmp_path / "r2.sqlite") as store:  # seeds 0 and 1 recorded no CPU kind (older records)
        for seed in (0, 1):
            store.update_info(RunKey("cutout", "resnet20", "quick", seed), cpu=None)
        cut = next(e for e in E.build_entries(store) if e["name"] == "cutout")
    assert cut["compute"]["cpu"] == "AVX512 (s2)"


def test_compute_says_which_seed_ran_on_which_device_and_a_seed_timed_under_load_does_not_move_latency(tmp_path):
    # the published board's baseline: seeds 0-1 trained on 2 CPU threads, seed 2 on a GPU host with 16; the
    # table named the first seed's device and threads for all (and a GPU fine-tune of a CPU-trained parent
    # read "cuda … cpu fp32")
    with _fake_store(tmp_path / "r.sqlite") as store:
        for seed, ms in ((0, 2.0), (1, 2.2), (2, 672.0)):
            store.update_info(RunKey("cutout", "resnet20", "quick", seed), latency_ms=ms, latency_ms_parent=2.5)
        store.update_info(RunKey("cutout", "resnet20", "quick", 2), device="cuda", threads=16,
                          finetune_precision="cuda fp32 channels_last")
        cut = next(e for e in E.build_entries(store) if e["name"] == "cutout")
        base = next(e for e in E.build_entries(store) if e["name"] == "baseline")
    assert cut["compute"]["device"] == "cpu (s0, s1); cuda (s2)"
    assert cut["compute"]["threads"] == "2 (s0, s1); 16 (s2)"
    assert cut["compute"]["finetune_precision"] == "cuda fp32 channels_last (s2)"
    assert base["compute"]["device"] == "cpu" and base["compute"]["threads"] == 2
    assert "finetune_precision" not in base["compute"]
    assert cut["latency_ms"] == 2.2  # the median of the seeds; their mean would read 225.4
    row = next(r for r in render([base, cut]).splitlines() if r.startswith("| `cutout` | 12 |"))
    assert "| cpu (s0, s1); cuda (s2) | AVX512 | bf16 | cuda fp32 channels_last (s2) | 2 (s0, s1); 16 (s2) |" in row


def _fp32_records(tmp_path, records):
    with _fake_store(tmp_path / "r.sqlite") as store:
        for r in store.runs().itertuples():
            key = RunKey(r.defense, r.arch, r.budget, int(r.seed))
            store.update_info(key, train_precision="cpu fp32 channels_last")
            (records / f"{key.slug}.json").write_text(json.dumps(store.export_run(key)))


def test_publish_refuses_records_of_another_precision_than_the_budget_declares(tmp_path):
    records = tmp_path / "runs" / "quick"
    records.mkdir(parents=True)
    _fp32_records(tmp_path, records)
    rec = json.loads((records / "resnet20-quick-s1-cutout.json").read_text())
    rec["info"]["train_precision"] = "cpu bfloat16 channels_last"  # the quick budget declares fp32
    (records / "resnet20-quick-s1-cutout.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError) as e:
        publish([records], tmp_path / "entries", tmp_path / "LEADERBOARD.md")
    assert str(e.value) == ("1 records trained in another precision than their budget declares, not published: "
                            "resnet20-quick-s1-cutout.json (cpu bfloat16 channels_last)")
    assert not (tmp_path / "entries").exists() and not (tmp_path / "LEADERBOARD.md").exists()


def test_a_pruned_network_fine_tuned_in_another_precision_is_refused_like_one_trained_in_it(tmp_path, caplog):
    from benchmark.budgets import get_budget
    from benchmark.records import restore_records

    quick = get_budget("quick")
    assert quick.foreign_precision({"train_precision": "cpu fp32 channels_last"}) is None
    assert quick.foreign_precision({"train_precision": "cuda fp32", "finetune_precision": "cpu fp32"}) is None
    assert quick.foreign_precision({"train_precision": "cpu fp32", "finetune_precision": "cpu bfloat16"}) \
        == "cpu bfloat16"
    assert quick.foreign_precision({}) == "no train_precision"
    records = tmp_path / "runs" / "quick"
    records.mkdir(parents=True)
    _fp32_records(tmp_path, records)
    rec = json.loads((records / "resnet20-quick-s1-cutout.json").read_text())
    rec["info"]["finetune_precision"] = "cpu bfloat16 channels_last"  # fp32 parent, bf16 fine-tuning
    (records / "resnet20-quick-s1-cutout.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError) as e:
        publish([records], tmp_path / "entries", tmp_path / "LEADERBOARD.md")
    assert str(e.value).endswith("not published: resnet20-quick-s1-cutout.json (cpu bfloat16 channels_last)")
    with ResultsStore(tmp_path / "restored.sqlite") as store, caplog.at_level(logging.WARNING, "defense_bench"):
        n = restore_records(records, store, tmp_path / "ckpt", quick)
    assert n == len(list(records.glob("*.json"))) - 1
    assert caplog.messages == ["resnet20-quick-s1-cutout.json: trained in cpu bfloat16 channels_last, budget quick "
                               "declares fp32: not reused, trained again"]


def test_publish_withdraws_the_entry_of_withdrawn_records(tmp_path):
    records, entries, md = tmp_path / "runs" / "quick", tmp_path / "entries", tmp_path / "LEADERBOARD.md"
    records.mkdir(parents=True)
    _fp32_records(tmp_path, records)
    publish([records], entries, md)
    other = json.loads((entries / "resnet20-quick-cutout.json").read_text())
    other["budget"]["name"] = "smoke"  # an entry of a budget not being published is left alone
    (entries / "resnet20-smoke-cutout.json").write_text(json.dumps(other))
    for p in records.glob("*cutout*"):
        p.unlink()
    publish([records], entries, md)
    assert sorted(p.name for p in entries.iterdir()) == ["resnet20-quick-baseline.json", "resnet20-smoke-cutout.json"]
    assert "`cutout`" in md.read_text() and "budget `quick`" in md.read_text()
    quick = md.read_text().split("## resnet20, budget `smoke`")[0]
    assert "`cutout`" not in quick


def test_a_malformed_entry_is_rejected_naming_the_field(tmp_path):
    with _fake_store(tmp_path / "r.sqlite") as store:
        good = E.build_entries(store)[1]
    bad = copy.deepcopy(good)
    bad["threats"]["clean"]["mean"] = "0.92"  # a number as a string (RobustBench's mistake)
    with pytest.raises(E.EntryError, match=r"field 'threats.clean.mean': '0.92' is not of type 'number'"):
        E.validate(bad, "x.json")
    missing = copy.deepcopy(good)
    del missing["seeds"]
    with pytest.raises(E.EntryError, match="'seeds' is a required property"):
        E.validate(missing)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(E.EntryError, match="broken.json: not JSON"):
        E.load_entry(tmp_path / "broken.json")


def test_verify_passes_a_published_entry_and_fails_an_edited_one(cifar, tiny_budget, tmp_path):
    from benchmark.runner import RunConfig, run

    board = tmp_path / "board"
    run(RunConfig(budget=tiny_budget, defenses=("baseline",), threats=("clean", "fgsm"), out=tmp_path / "w",
                  seeds=(0,), progress=False, records=board / "runs" / "smoke"), data=cifar)
    (path,) = publish([board / "runs" / "smoke"], board / "entries", board / "LEADERBOARD.md")
    checks = verify(path, cifar, progress=False)
    assert [(c.threat, c.ok) for c in checks if c.seed is not None] == [("clean", True), ("fgsm", True)]
    assert all(c.ok for c in checks)
    entry = json.loads(path.read_text())
    clean = entry["threats"]["clean"]  # one seed: binomial interval over the 256 test images
    p = clean["mean"]
    assert clean["n"] == 256 and clean["ci95"] == pytest.approx(1.959964 * math.sqrt(p * (1 - p) / 256))
    entry["threats"]["clean"]["per_seed"]["0"] += 0.05
    path.write_text(json.dumps(entry))
    checks = verify(path, cifar, progress=False)
    assert [(c.threat, c.ok) for c in checks if c.seed is not None] == [("clean", False), ("fgsm", True)]
    # the mean no longer matches the edited per-seed value either
    assert [str(c).split(":")[0] for c in checks if not c.ok and c.seed is None] == [
        "FAIL  stored outcomes of seed 0 clean", "FAIL  threats.clean.mean", "FAIL  threats.clean.ci95"]


def test_verify_reads_derived_numbers_from_the_stored_outcomes_and_catches_an_edit_within_tolerance(
        cifar, tiny_budget, tmp_path, monkeypatch):
    """A re-evaluation that flips one image (as a GPU record re-checked on a CPU does) still passes, since the
    deltas are recomputed from the outcomes the records store; an edit smaller than the re-evaluation's
    tolerance, made consistently to a per-seed accuracy, its mean and its interval, fails on those outcomes."""
    import benchmark.verify as V
    from benchmark.entries import threat_summary
    from benchmark.runner import RunConfig, run

    board = tmp_path / "board"
    run(RunConfig(budget=tiny_budget, defenses=("baseline", "cutout"), threats=("clean", "fgsm"), out=tmp_path / "w",
                  seeds=(0,), progress=False, records=board / "runs" / "smoke"), data=cifar)
    paths = publish([board / "runs" / "smoke"], board / "entries", board / "LEADERBOARD.md")
    path = next(p for p in paths if "cutout" in p.name)
    real, calls = V.evaluate, []

    def flip_one(model, threats, *a, **k):  # the entry's own checkpoint is evaluated first, then the baseline's
        res = real(model, threats, *a, **k)
        calls.append(1)
        if len(calls) > 1:
            return res
        c = res["fgsm"].correct.clone()
        c[0] = ~c[0]
        res["fgsm"] = dataclasses.replace(res["fgsm"], correct=c, accuracy=c.float().mean().item())
        return res

    monkeypatch.setattr(V, "evaluate", flip_one)
    checks = verify(path, cifar, progress=False, tolerance=0.01)  # one image of 256 is 0.39 points
    assert all(c.ok for c in checks), [str(c) for c in checks if not c.ok]
    assert sum(str(c).startswith("PASS  stored outcomes of seed 0") for c in checks) == 2  # clean and fgsm
    notes = {c.threat: str(c).split("  (")[-1] for c in checks if c.seed is not None}  # the line says why
    assert re.fullmatch(r"1 of 256 decisions differ from the record's, made on cpu, \d+ threads\)", notes["fgsm"])
    assert notes["clean"].startswith("0 of 256 decisions differ from the record's, made on cpu")
    entry = json.loads(path.read_text())
    fgsm = entry["threats"]["fgsm"]
    fgsm["per_seed"]["0"] += 1 / 256  # one image of 256: inside the 1-point tolerance verify is given below
    fgsm.update({k: v for k, v in threat_summary(fgsm["per_seed"], fgsm["n"]).items() if k != "per_seed"})
    path.write_text(json.dumps(entry))
    monkeypatch.setattr(V, "evaluate", real)
    failed = [str(c).split(":")[0] for c in verify(path, cifar, progress=False, tolerance=0.01) if not c.ok]
    assert "FAIL  stored outcomes of seed 0 fgsm" in failed


def test_verify_re_evaluates_each_seed_on_its_own_threats_and_reads_the_baselines_stored_outcomes(
        cifar, tiny8, tmp_path, monkeypatch):
    """A threat that holds fewer seeds than its entry (a suite still being run on the others) is re-evaluated on
    those seeds only (it raised KeyError: '1'), and the baseline's per-image outcomes that the deltas need come from
    its run records: its checkpoint is evaluated only where a record lacks them, and only on those threats."""
    import benchmark.verify as V
    from benchmark.runner import RunConfig, run

    records = tmp_path / "board" / "runs" / "smoke"
    for threats, seeds in ((("clean",), (0, 1)), (("clean", "fgsm"), (0,))):
        run(RunConfig(budget=tiny8, defenses=("baseline", "cutout"), threats=threats, out=tmp_path / "w",
                      seeds=seeds, progress=False, records=records), data=cifar)
    paths = publish([records], tmp_path / "board" / "entries", tmp_path / "board" / "LEADERBOARD.md")
    path = next(p for p in paths if "cutout" in p.name)
    real, calls = V.evaluate, []

    def spy(model, threats, *a, **k):
        calls.append([t.label for t in threats])
        return real(model, threats, *a, **k)

    monkeypatch.setattr(V, "evaluate", spy)
    checks = verify(path, cifar, progress=False)
    assert all(c.ok for c in checks), [str(c) for c in checks if not c.ok]
    assert [(c.seed, c.threat) for c in checks if c.seed is not None] == [(0, "clean"), (0, "fgsm"), (1, "clean")]
    assert calls == [["clean", "fgsm"], ["clean"]]  # the cutout's two checkpoints, none of the baseline's
    (rec,) = records.glob("*-s1-baseline.json")
    r = json.loads(rec.read_text())
    for result in r["results"]:
        del result["correct"]
    rec.write_text(json.dumps(r))
    calls.clear()
    checks = verify(path, cifar, progress=False)
    assert all(c.ok for c in checks), [str(c) for c in checks if not c.ok]
    assert calls == [["clean", "fgsm"], ["clean"], ["clean"]]  # seed 1's baseline, on the one threat with a delta


def test_verify_passes_an_entry_whose_threat_lacks_per_image_outcomes(cifar, tiny8, tmp_path, monkeypatch):
    """CIFAR-10-C scores each image by the fraction of corruptions it survives: no per-image right/wrong, so its
    delta alone falls back to the paired t over seeds. verify took that one "paired t" for a board published
    before per-image intervals and recomputed every delta by the paired t: 36 of the 335 numbers of the
    published prune-filters operating point FAILed. Here FGSM plays CIFAR-10-C (a float score per image)."""
    import benchmark.job as J
    import benchmark.verify as V
    from benchmark.runner import RunConfig, run

    def graded(real):
        def evaluate(model, threats, *a, **k):
            res = real(model, threats, *a, **k)
            if "fgsm" in res:
                res["fgsm"] = dataclasses.replace(res["fgsm"], correct=res["fgsm"].correct.float() * 0.5 + 0.25)
            return res
        return evaluate

    monkeypatch.setattr(J, "evaluate", graded(J.evaluate))
    records = tmp_path / "board" / "runs" / "smoke"
    run(RunConfig(budget=tiny8, defenses=("baseline", "cutout"), threats=("clean", "fgsm"), out=tmp_path / "w",
                  seeds=(0, 1), progress=False, records=records), data=cifar)
    paths = publish([records], tmp_path / "board" / "entries", tmp_path / "board" / "LEADERBOARD.md")
    path = next(p for p in paths if "cutout" in p.name)
    methods = {t: d["method"] for t, d in json.loads(path.read_text())["deltas"].items()}
    assert (methods["clean"], methods["fgsm"]) == ("seeds and test images over 2 seeds (variance components)",
                                                   "paired t over 2 seeds")
    real, calls = V.evaluate, []

    def spy(model, threats, *a, **k):
        calls.append([t.label for t in threats])
        return graded(real)(model, threats, *a, **k)

    monkeypatch.setattr(V, "evaluate", spy)
    checks = verify(path, cifar, progress=False)
    assert all(c.ok for c in checks), [str(c) for c in checks if not c.ok]
    assert calls == [["clean", "fgsm"], ["clean", "fgsm"]]  # the cutout's two checkpoints; the baseline's never


def test_model_checks_reject_bad_outputs():
    class Shape(nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 5)

    class NaN(nn.Module):
        def forward(self, x):
            return torch.full((len(x), 10), float("nan"))

    class Noisy(nn.Module):
        def forward(self, x):
            return torch.rand(len(x), 10)

    for model, msg in ((Shape(), r"returns \(16, 5\)"), (NaN(), "NaN"), (Noisy(), "not deterministic")):
        with pytest.raises(SubmissionError, match=msg):
            check_model(model)


def test_submission_must_be_a_defense(tmp_path):
    f = tmp_path / "not_a_defense.py"
    f.write_text("class Thing:\n    pass\n")
    with pytest.raises(SubmissionError, match="'Thing' is not a Defense subclass"):
        load_defense_class(f"{f}:Thing")
    with pytest.raises(SubmissionError, match="defines no 'Missing'"):
        load_defense_class(f"{f}:Missing")


def test_example_defense_submits_end_to_end(cifar, tiny_budget, tmp_path):
    board = tmp_path / "board"
    try:
        (path,) = submit("examples/label_smoothing.py:LabelSmoothing", tiny_budget, cifar, board, tmp_path / "work",
                         seeds=(0,), progress=False)
        entry = E.load_entry(path)
        assert entry["name"] == "label-smoothing" and entry["deltas"]["generalization"]["method"].startswith("paired")
        assert "`label-smoothing`" in (board / "LEADERBOARD.md").read_text()
        assert (board / "plot-resnet20-smoke.png").stat().st_size > 1000
        with pytest.raises(SubmissionError, match="already on the board"):
            submit("label-smoothing", tiny_budget, cifar, board, tmp_path / "work", seeds=(0,), progress=False)
    finally:
        DEFENSES.unregister("label-smoothing")


def test_row_notes_say_the_cutout_fill_the_stylizer_and_extra_data():
    from benchmark.board import _qualifier

    def entry(defense, config, stylizer=None):
        return {"defense": defense, "defense_config": config, "compute": {"stylizer": stylizer} if stylizer else {},
                "extra_data": E.uses_extra_data(config)}

    assert _qualifier(entry("cutout", {"size": 16})) == " (black hole = the occlusion threat's patch)"
    assert _qualifier(entry("cutout", {"size": 16, "fill": "mean"})) == " (mean-colour hole)"
    assert _qualifier(entry("stylized", {"stylizer": "auto", "style_dir": ""}, "self-trained-standard")) == (
        " (self-trained CIFAR AdaIN)")
    assert _qualifier(entry("stylized", {"stylizer": "adain:/weights", "style_dir": ""}, "adain")) == " (extra data)"
    assert _qualifier(entry("stylized", {"stylizer": "auto", "style_dir": "/paintings"}, "self-trained-standard")) == (
        " (self-trained CIFAR AdaIN; extra data)")
    assert _qualifier(entry("mixup", {"alpha": 1.0})) == ""


def test_holm_rejects_step_down_and_the_board_says_which_marks_survive():
    from benchmark.board import holm, multiplicity_note

    # m = 4: thresholds .0125, .0167, .025, .05 in order; p = .01 passes, .015 passes, .03 fails (> .025): stop
    assert holm({"a": 0.01, "b": 0.015, "c": 0.03, "d": 0.04}) == {"a", "b"}
    assert holm({"a": 0.02, "b": 0.001}) == {"b", "a"}  # .001 ≤ .025, then .02 ≤ .05
    t2 = 4.3026527  # t_{.975, 2}: a delta whose mean equals its half-width has p = 0.05 exactly

    def row(name, mean, hw):
        d = {"mean": mean, "ci95": hw, "method": "paired t over 3 seeds", "excludes_zero": abs(mean) > hw}
        return {"name": name, "deltas": {"robustness": d, "generalization": d, "average": d}}

    # strong: |t| = 31.5990546 → p = 0.001 (×3 deltas); weak: |t| = 9.9248432 → p = 0.01 (×3): m = 6, Holm
    # thresholds .0083, .01, .0125, .0167, .025, .05 — the three p = .001 pass, then .01 ≤ .0167, .025, .05 pass
    note = multiplicity_note([row("strong", 0.0316, 0.0316 * t2 / 31.5990546), row("weak", 0.02, 0.02 * t2 / 9.9248432)])
    assert "shows 6 delta intervals" in note and "over the 6 Robustness" in note and "every ✱ holds." in note
    # weaker: p = 0.05 > any Holm threshold; its ✱ (mean slightly above the half-width) is named as not holding
    note = multiplicity_note([row("strong", 0.0316, 0.0316 * t2 / 31.5990546), row("weak", 0.0101, 0.0100)])
    assert "these ✱ do not hold: weak average, weak generalization, weak robustness." in note
    # detectable effect: (t_{.975,2} + t_{.80,2}) · se, se = hw / t_{.975,2}; t_{.80,2} = 1.0606602; median of rows
    mde = [(t2 + 1.0606602) * 0.0100 / t2, (t2 + 1.0606602) * (0.0316 / 31.5990546)]
    assert f"about {100 * float(np.median(mde)):.2f} points" in note


def _pruning_store(path, extra: dict | None = None):
    """Baseline, the control and two pruning entries, 3 seeds, clean and FGSM; each a fixed shift of the baseline
    (``extra``: more pruning labels and their shifts, their options parsed from the label)."""
    shifts = {"baseline": 0.0, "finetune-only": 0.005, "prune-filters": 0.01, "prune-layers": -0.02, **(extra or {})}
    store = ResultsStore(path)
    for label, shift in shifts.items():
        defense, _, opts = label.partition("(")
        for seed in range(3):
            key = RunKey(label, "resnet20", "quick", seed)
            cfg = {"iterations": None} if defense != "baseline" else {}
            cfg.update(kv.split("=") for kv in opts.rstrip(")").split(",") if kv)
            budget = {"name": "quick", "archs": ["resnet20"], "epochs": 12, "batch_size": 256, "lr": 0.4}
            store.start_run(key, {"defense": defense, "defense_config": cfg, "budget": budget},
                            f"h-{defense}-{seed}", "git:abc")
            params = 200000 if defense.startswith("prune") else 272474
            store.update_info(key, params=params, flops=41e6 if params == 200000 else 82e6, params_parent=272474,
                              flops_parent=82e6, train_seconds=600.0, train_epochs=12, device="cpu", threads=2,
                              train_precision="cpu fp32 channels_last", train_images_seen=600000, cpu="AVX512")
            for threat, base in (("clean", 0.90 + seed / 100), ("fgsm", 0.10 + seed / 100)):
                a = base + shift
                store.add_result(key, threat, a, 10000, 1.0, {}, torch.arange(10000) < round(a * 10000))
            store.finish_run(key)
    return store


def test_table_1_reads_each_pruning_row_against_the_baseline_and_the_control(tmp_path):
    with _pruning_store(tmp_path / "r.sqlite") as store:
        entries = E.build_entries(store)
    pf = next(e for e in entries if e["name"] == "prune-filters")
    assert pf["deltas_vs_control"]["control"] == "finetune-only"
    assert pf["deltas_vs_control"]["clean"]["mean"] == pytest.approx(0.005)
    assert pf["deltas"]["clean"]["mean"] == pytest.approx(0.01)
    assert "deltas_vs_control" not in next(e for e in entries if e["name"] == "finetune-only")
    md = render(entries)
    table1 = md.split("### Table 1")[1].split("### Table 2")[0]
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]] for ln in table1.splitlines()
            if ln.startswith("| `")}
    assert list(rows) == ["`prune-filters`", "`prune-layers`"]
    # Seeds, Params ↓, FLOPs ↓, Clean Δ, FGSM Δ, Robustness, then Clean and Robustness vs the control
    assert rows["`prune-filters`"][:3] == ["0,1,2", "26.6%", "50.0%"]
    assert [c.split(" ±")[0] for c in rows["`prune-filters`"][3:]] == ["(+) 1.00"] * 3 + ["(+) 0.50"] * 2
    assert [c.split(" ±")[0] for c in rows["`prune-layers`"][3:]] == ["(-) 2.00"] * 3 + ["(-) 2.50"] * 2
    assert "the verdict on pruning reads from the control columns" in table1
    assert "### Table 2 — after pruning: fine-tune vs retrain from scratch vs winning ticket\n\n_No such runs" in md
    assert entries[0]["format"] and E.validate(pf)  # the schema takes the control's deltas


def test_tables_2_and_3_explain_the_missing_control_and_the_criteria_flops(tmp_path):
    label = "prune-filters(adjustment=scratch-e)"
    with _pruning_store(tmp_path / "r.sqlite", {label: 0.03}) as store:
        entries = E.build_entries(store)
    table2 = render(entries).split("### Table 2")[1].split("### Table 3")[0]
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]] for ln in table2.splitlines()
            if ln.startswith("| `")}
    assert list(rows) == [f"`{label}`"]
    assert [c.split(" ±")[0] for c in rows[f"`{label}`"][3:]] == ["(+) 3.00"] * 3 + ["–", "–"]
    assert "no fine-tune control matches them (–)" in table2
    assert "_No such runs" in render(entries).split("### Table 3")[1].split("###")[0]  # no criterion, no note
    label = "prune-filters(criterion=l1)"
    with _pruning_store(tmp_path / "c.sqlite", {label: -0.01}) as store:
        table3 = render(E.build_entries(store)).split("### Table 3")[1].split("###")[0]
    assert f"| `{label}` | 0,1,2 |" in table3 and "read each row with its FLOPs ↓" in table3


def test_table_3_note_quotes_the_fraction_the_entries_declare():
    from benchmark.pruning_notes import pruning_table_notes

    def note(*fractions):
        return pruning_table_notes([{"defense": "prune-filters", "defense_config": {"fraction": f}} for f in fractions]
                                   + [{"defense": "prune-layers", "defense_config": {"fraction": 0.5}}])[2]
    assert "removes 20% of the filters per iteration" in note(0.2, 0.2) and "remove 20% of each layer's" in note(0.2)
    assert "removes the fraction its entry declares of the filters" in note(0.1, 0.2)  # two values: no one figure
    assert "10%" not in note(0.1, 0.2) and "the fraction its entry declares" in note(None)


def test_retrained_adjustments_have_no_fine_tuning_control():
    assert E.control_of("prune-filters", {"adjustment": "fine-tune", "iterations": None}) == "finetune-only"
    assert E.control_of("prune-both", {"adjustment": "fine-tune", "iterations": 4}) == "finetune-only(iterations=4)"
    assert (E.control_of("prune-layers", {"iterations": 3, "finetune_epochs": 1})
            == "finetune-only(iterations=3,finetune_epochs=1)")  # the study's points: same rounds, same epochs
    assert E.control_of("prune-filters", {"adjustment": "scratch-b", "iterations": None}) is None
    assert E.control_of("cutout", {"size": 16}) is None


def test_eps_sweep_and_dose_response_tables_from_fixed_entries(tmp_path):
    """Baseline + control + prune-filters at 1 and 2 iterations: the dose table reads each point against the
    control of the same iterations; the ε table lists FGSM and PGD-1k by ε; both plots are drawn."""
    from attacks import SUITES

    store = ResultsStore(tmp_path / "r.sqlite")
    budget = {"name": "quick", "archs": ["resnet20"], "epochs": 12, "batch_size": 256, "lr": 0.4}
    runs = {"baseline": (0.0, 82e6), "finetune-only(iterations=1)": (0.002, 82e6),
            "finetune-only(iterations=2)": (0.004, 82e6), "prune-filters(iterations=1)": (0.012, 70e6),
            "prune-filters(iterations=2)": (0.024, 41e6), "prune-filters(criterion=l1,iterations=2)": (0.006, 41e6)}
    sweep = [t for t in SUITES["eps-sweep"] if t.startswith("fgsm")]
    for label, (shift, flops) in runs.items():
        defense = label.split("(")[0]
        cfg = {"iterations": int(label[-2])} if "(" in label else {}
        # a point and a Table-3 variant still landing: seed 0 only
        for seed in range(1 if label in ("prune-filters(iterations=1)", "prune-filters(criterion=l1,iterations=2)") else 2):
            key = RunKey(label, "resnet20", "quick", seed)
            store.start_run(key, {"defense": defense, "defense_config": cfg, "budget": budget}, f"h{label}{seed}", "g")
            store.update_info(key, params=272474 * flops / 82e6, flops=flops, params_parent=272474, flops_parent=82e6,
                              latency_ms=flops / 82e6 + seed / 10, latency_ms_parent=1.0,
                              train_seconds=600.0, train_epochs=12, device="cpu", threads=2,
                              train_precision="cpu fp32 channels_last", train_images_seen=600000, cpu="AVX512")
            for i, threat in enumerate(["clean", "fgsm", "occlusion", "semantic", *sweep, "pgd"]):
                a = 0.5 + i / 20 + seed / 100 + shift
                store.add_result(key, threat, a, 10000, 1.0, {}, torch.arange(10000) < round(a * 10000))
            store.finish_run(key)
    with store:
        entries = E.build_entries(store)
    md = render(entries, plot_dir=tmp_path, md_dir=tmp_path)
    dose = md.split("### Pruning dose–response against the control")[1].split("###")[0]
    rows = [[c.strip() for c in ln.split("|")[1:-1]] for ln in dose.splitlines() if ln.startswith("| filters")]
    # each point names its own seeds (its interval's width depends on them)
    assert [r[:5] for r in rows] == [["filters", "1", "0", "14.6%", "14.6%"], ["filters", "2 ◆", "0,1", "50.0%", "50.0%"]]
    # Table 4: the paper's columns only, the baseline and the operating point (50% FLOPs), no control points
    # and no Table-3 variant (the criterion row is Table 3's)
    t4 = md.split("### Table 4")[1].split("![")[0]
    assert "| Defense | Seeds | Clean | FGSM | Occlusion | Semantic | Robustness |" in t4
    assert [ln.split("|")[1].strip() for ln in t4.splitlines() if ln.startswith("| `")] == [
        "`baseline`", "`prune-filters(iterations=2)` (operating point: 2 iterations, 50.0% FLOPs removed)"]
    t3 = md.split("### Table 3")[1].split("###")[0]  # the criterion against the operating point (PLS), both vs control
    rows3 = [[c.strip().split(" ±")[0] for c in ln.split("|")[1:-1]] for ln in t3.splitlines() if ln.startswith("| `")]
    assert [(r[0], r[1], r[9]) for r in rows3] == [  # each row's seeds, its clean Δ vs control
        ("`prune-filters(criterion=l1,iterations=2)`", "0", "(+) 0.20"), ("`prune-filters(iterations=2)`", "0,1", "(+) 2.00")]
    assert "### Table 2 — after pruning: fine-tune vs retrain from scratch vs winning ticket\n\n_No such runs" in md
    t1 = md.split("### Table 1")[1].split("### Table 2")[0]
    assert [ln.split("|")[1].strip() for ln in t1.splitlines() if ln.startswith("| `")] == [
        "`prune-filters(iterations=2)`"]
    assert "| Method | Seeds | Params ↓ | FLOPs ↓ | Clean Δ | FGSM Δ | Occlusion Δ | Semantic Δ | Robustness |" in t1
    from benchmark.webpage import render_page

    page = render_page(entries, tmp_path)  # the web page's Table 4 quotes the same rows
    t4_html = page.split('id="table4-resnet20-quick"')[1].split("</table>")[0]
    assert t4_html.count("<tr data-name=") == 2 and 'data-name="prune-filters(iterations=2)"' in t4_html
    assert "operating point: 2 iterations, 50.0% FLOPs removed" in t4_html
    assert "<h3>The verdict at this budget</h3><p>Read from 2 seed(s)" in page and "<strong>" in page
    full = md.split("### The full threat suite")[1].split("###")[0]
    assert "| Defense | Seeds | PGD (n=10,000) | Masking |" in full  # the sweep's points stay in their table
    assert "| `baseline` | 0,1 | 85.50 ± " in full  # threat 7: 0.5 + 0.35 + mean seed 0.005
    # ms: iteration 1 has seed 0 alone (70/82), iteration 2 the median of seeds 0 and 1 (+0, +0.1)
    assert [r[5] for r in rows] == ["0.85 of 1.00", "0.55 of 1.00"]
    assert [r[6].split(" ±")[0] for r in rows] == ["+1.00", "+2.00"]  # 1.2 − 0.2 and 2.4 − 0.4 points
    assert [r[7].split(" ±")[0] for r in rows] == ["+1.00", "+2.00"]
    eps = md.split("### Accuracy against ε")[1].split("###")[0]
    assert "| Defense | FGSM 1/255 | FGSM 2/255 | FGSM 4/255 | FGSM 8/255 |" in eps
    base = next(ln for ln in eps.splitlines() if ln.startswith("| `baseline`"))
    # baseline FGSM 8/255 is threat 1: 0.55 / 0.56 → 55.50; the sweep's 1/255 is threat 4: 70.50
    assert [c.strip().split(" ±")[0] for c in base.split("|")[2:-1]] == ["70.50", "75.50", "80.50", "55.50"]
    assert (tmp_path / "dose-resnet20-quick.png").is_file() and (tmp_path / "eps-resnet20-quick.png").is_file()
    robust = next(e for e in entries if e["name"] == "prune-filters(iterations=2)")["deltas"]["robustness"]
    assert robust["mean"] == pytest.approx(0.024)  # the paper's three attacks only, not the sweep


def test_a_cell_from_fewer_seeds_than_its_row_says_which():
    from benchmark.board import threat_title
    from benchmark.curves import seeds_mark

    assert seeds_mark({"per_seed": {"0": 0.5}}, [0, 1, 2]) == " (s0)"
    assert seeds_mark({"per_seed": {"0": 0.5, "1": 0.4}}, [0, 1, 2]) == " (s0,1)"
    assert seeds_mark({"per_seed": {"2": 0.5, "0": 0.4, "1": 0.3}}, [0, 1, 2]) == ""
    # an ε-sweep label reads as its attack and radius (the page's toggles fit a phone), a diagnostic as its fields
    assert threat_title("pgd(eps=0.00784313725490196,alpha=0.00196078431372549,n_images=1000)") == "PGD 2/255 (1k)"
    assert threat_title("fgsm(eps=0.01568627450980392)") == "FGSM 4/255"
    assert threat_title("pgd(steps=100,n_images=1000)") == "PGD (steps=100, n_images=1000)"
    assert threat_title("occlusion-worst") == "Occlusion (worst)" and threat_title("shape-bias") == "Shape Bias"
