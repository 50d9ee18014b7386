import dataclasses
import subprocess
import sys

import pandas as pd
import pytest

from benchmark.precision import cpu_kind
from benchmark.registry import DEFENSES, register_defense
from benchmark.results_store import ResultsStore
from benchmark.runner import RunConfig, resolve_threats, run
from defenses.base import Defense


@pytest.fixture()
def exploding_defense():
    @register_defense("test-explodes")
    class Explodes(Defense):
        def transform_batch(self, x, y, generator):
            raise RuntimeError("boom in transform_batch")

    yield "test-explodes"
    DEFENSES.unregister("test-explodes")


def test_grid_survives_a_failing_defense_and_reuses_finished_runs(cifar, tiny8, tmp_path,
                                                                    exploding_defense):
    cfg = RunConfig(budget=tiny8, defenses=("baseline", exploding_defense, "cutout"),
                    out=tmp_path, seeds=(0,), progress=False)
    path = run(cfg, data=cifar)
    md = path.read_text()
    assert "| `baseline`" in md and "| `cutout`" in md
    assert "test-explodes" in md and "RuntimeError: boom in transform_batch" in md
    with ResultsStore(tmp_path / "results.sqlite") as store:
        runs = store.runs().set_index("defense")
        first = store.results()
    assert runs.loc["baseline", "status"] == "done" and runs.loc["test-explodes", "status"] == "failed"
    assert runs.loc["baseline", "params"] == 78042  # ResNet-8
    assert set(first.threat) == {"clean", "fgsm", "occlusion", "semantic"} and (first.n == 256).all()
    # A second run trains nothing and changes nothing that was finished.
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "checkpoints").iterdir()}
    run(dataclasses.replace(cfg, defenses=("baseline", "cutout")), data=cifar)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "checkpoints").iterdir()} == mtimes
    with ResultsStore(tmp_path / "results.sqlite") as store:
        pd.testing.assert_frame_equal(store.results(), first)


def test_baseline_network_is_shared_by_defenses_that_train_like_it(cifar, tiny_budget, tmp_path):
    """An identity-training defense reuses the baseline's trained network (no second training)."""
    @register_defense("test-identity")
    class Identity(Defense):
        pass

    try:
        cfg = RunConfig(budget=tiny_budget, defenses=("baseline", "test-identity"), out=tmp_path, seeds=(0,),
                        progress=False)
        run(cfg, data=cifar)
        train_ckpts = list((tmp_path / "checkpoints").glob("*-train-*.pt"))
        assert len(train_ckpts) == 1 and "baseline" in train_ckpts[0].name
        with ResultsStore(tmp_path / "results.sqlite") as store:
            r = store.results().pivot_table(index="threat", columns="defense", values="accuracy")
        assert (r["baseline"] == r["test-identity"]).all()
    finally:
        DEFENSES.unregister("test-identity")


def test_threat_specs():
    assert resolve_threats("paper") == ("clean", "fgsm", "occlusion", "semantic")
    assert resolve_threats("clean, fgsm") == ("clean", "fgsm")
    with pytest.raises(ValueError, match="unknown threat model 'nope'"):
        resolve_threats("clean,nope")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "benchmark.cli", *args], capture_output=True, text=True)


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    import numpy as np

    np.savez(bad, x_train=np.zeros((2, 32, 32), np.uint8))
    r = cli("run", "--budget", "smoke", "--defenses", "baseline", "--data", str(bad), "--out", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "missing key(s)" in r.stderr
    r = cli("run", "--defenses", "baseline,nope", "--out", str(tmp_path))
    assert r.returncode == 2 and r.stderr.strip() == (
        "defense-bench: error: unknown defense 'nope'; available: " + ", ".join(DEFENSES.names()))
    r = cli("leaderboard", "--out", str(tmp_path / "empty"))
    assert r.returncode == 2 and "no results store" in r.stderr


def test_cli_list_names_everything():
    r = cli("list")
    assert r.returncode == 0
    sections, current = {}, None
    for line in r.stdout.splitlines():
        if not line.startswith(" "):
            current = sections.setdefault(line.rstrip(":"), [])
        else:
            current.append(line.split()[0] if current is not sections.get("budgets") else line.strip())
    assert list(sections) == ["defenses", "threat models", "suites", "budgets"]
    assert sections["defenses"] == ["albumentations", "baseline", "cutmix", "cutout", "finetune-only", "mixup",
                                    "prune-both", "prune-filters", "prune-layers", "shape-texture", "stylized"]
    assert sections["threat models"] == ["autoattack", "clean", "corruptions", "fgsm", "occlusion", "occlusion-worst",
                                         "pgd", "semantic", "semantic-hsv", "shape-bias", "square"]
    assert sections["suites"] == ["paper", "full", "eps-sweep"]
    assert [b.split("`")[1] for b in sections["budgets"]] == ["smoke", "quick", "paper"]
    assert sections["budgets"][1].endswith("50000 train / 10000 test images, precision fp32")


@pytest.mark.slow
def test_smoke_budget_end_to_end_from_the_cli(cifar_path, tmp_path):
    r = cli("run", "--budget", "smoke", "--defenses", "baseline,cutout,mixup,cutmix", "--data", str(cifar_path),
            "--out", str(tmp_path), "--no-progress")
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "LEADERBOARD.md").read_text()
    table = md.split("| Defense")[1].split("\n\n")[0]  # Table 4, up to the blank line after it
    rows = [line for line in table.splitlines()[2:] if line.startswith("| ")]
    names = [row.split("|")[1].split("`")[1] for row in rows]
    assert names[0] == "baseline" and sorted(names) == ["baseline", "cutmix", "cutout", "mixup"]
    r2 = cli("leaderboard", "--out", str(tmp_path))
    assert r2.returncode == 0 and (tmp_path / "LEADERBOARD.md").read_text() == md


def test_specs_convert_values_by_field_type():
    from benchmark.registry import THREAT_MODELS
    from benchmark.specs import build

    t = build(THREAT_MODELS, "pgd(steps=100, n_images=1000, random_start=false)")
    assert (t.config.steps, t.config.n_images, t.config.random_start) == (100, 1000, False)
    assert build(THREAT_MODELS, "pgd(n_images=none)").config.n_images is None
    assert t.label == "pgd(steps=100,random_start=False,n_images=1000)"
    with pytest.raises(ValueError, match="expected int, got 'many'"):
        build(THREAT_MODELS, "pgd(steps=many)")


def test_published_run_is_committed_per_job_and_resumes_on_a_fresh_machine(cifar, tiny_budget, tmp_path):
    """Each finished run becomes records/<run>.json + .pt in its own commit; a new output directory
    (a fresh clone) restores them, trains nothing again, and prunes the published baseline network."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for k, v in (("user.email", "t@example.org"), ("user.name", "t")):
        subprocess.run(["git", "-C", str(repo), "config", k, v], check=True)
    records = repo / "leaderboard" / "runs" / "smoke"
    cfg = RunConfig(budget=tiny_budget, defenses=("baseline", "cutout"), out=tmp_path / "a", seeds=(0,),
                    progress=False, records=records, commit=True, publish=True)
    run(cfg, data=cifar)
    board = repo / "leaderboard"
    assert "`cutout`" in (board / "LEADERBOARD.md").read_text()
    assert sorted(p.name for p in (board / "entries").iterdir()) == ["resnet20-smoke-baseline.json",
                                                                      "resnet20-smoke-cutout.json"]
    tracked = subprocess.run(["git", "-C", str(repo), "ls-files"], capture_output=True, text=True).stdout.split()
    assert "leaderboard/LEADERBOARD.md" in tracked and "leaderboard/entries/resnet20-smoke-cutout.json" in tracked
    log = subprocess.run(["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True).stdout
    assert log.split("\n")[:2] == ["published run: resnet20-smoke-s0-cutout",
                                   "published run: resnet20-smoke-s0-baseline"]
    assert sorted(p.name for p in records.iterdir()) == [
        "resnet20-smoke-s0-baseline.json", "resnet20-smoke-s0-baseline.pt",
        "resnet20-smoke-s0-cutout.json", "resnet20-smoke-s0-cutout.pt"]
    with ResultsStore(tmp_path / "a" / "results.sqlite") as store:
        first = store.results()

    fresh = dataclasses.replace(cfg, out=tmp_path / "b", defenses=("baseline", "cutout", "prune-layers"))
    run(fresh, data=cifar)
    assert not list((tmp_path / "b" / "checkpoints").glob("*-train-*.pt")), "nothing may be trained again"
    with ResultsStore(tmp_path / "b" / "results.sqlite") as store:
        again = store.results()
        runs = store.runs().set_index("defense")
    pd.testing.assert_frame_equal(again[again.defense != "prune-layers"].reset_index(drop=True), first)
    assert runs.loc["prune-layers", "params"] < runs.loc["baseline", "params"]
    assert runs.loc["prune-layers", "train_seconds"] > runs.loc["baseline", "train_seconds"]
    # the parent's 512 training images plus one fine-tuning epoch of 512 (1 iteration × 1 epoch)
    assert runs.loc["baseline", "train_images_seen"] == 512
    assert runs.loc["prune-layers", "train_images_seen"] == 1024
    assert runs.loc["prune-layers", "cpu"] == runs.loc["baseline", "cpu"] == cpu_kind()  # e.g. "AVX512"
    assert (records / "resnet20-smoke-s0-prune-layers.json").is_file()
    # what publishing wrote (entries, LEADERBOARD.md, index.html, figures) went into the same commits
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True).stdout
    assert status == "", status


def test_the_board_reads_its_runs_and_staging_record_folders_only(tmp_path):
    from benchmark.records import record_dirs

    for d in ("runs/quick", "runs/smoke", "staging/quick", "entries/x", "stylizers/quick"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "runs" / "notes.txt").write_text("a file, not a folder")
    assert [p.relative_to(tmp_path).as_posix() for p in record_dirs(tmp_path)] == [
        "runs/quick", "runs/smoke", "staging/quick"]


def test_threat_lists_mix_suites_and_threats_each_once():
    from attacks import SUITES
    from benchmark.job import resolve_threats

    assert resolve_threats("fgsm,paper") == ("fgsm", "clean", "occlusion", "semantic")  # first-seen order
    both = resolve_threats("paper,eps-sweep")
    assert both[:4] == SUITES["paper"] and both[4:] == SUITES["eps-sweep"] and len(both) == 4 + 7
    assert resolve_threats("full") == tuple(SUITES["full"])
