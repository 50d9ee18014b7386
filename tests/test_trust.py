"""What a reader must be able to trust: verify catches edited numbers, the committed board is the rendering of
its entries, submit and run neither crash nor write where they were not asked, bad input is one line."""

import dataclasses
import hashlib
import json
import logging
import re
import shutil

import pytest
import torch

from benchmark import checkpoint
from benchmark import entries as E
from benchmark.cli import main
from benchmark.publish import check_board, publish
from benchmark.registry import DEFENSES, THREAT_MODELS, RegistryError, register_defense
from benchmark.runner import OutputInUse, RunConfig, hold, run, run_grid
from benchmark.specs import build
from benchmark.verify import derived_checks
from defenses.base import Defense
from tests.conftest import REPO

BOARD = REPO / "leaderboard"


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 2. verify checks every number the board shows -------------------------------------------------------

def _entry(name, per_seed, base=None):
    """A hand-made entry: clean and FGSM accuracies per seed (3 seeds, 10,000 images)."""
    threats = {t: E.threat_summary({str(s): v for s, v in enumerate(vals)}, 10000) for t, vals in per_seed.items()}
    return {"name": name, "seeds": [0, 1, 2], "threats": threats, "deltas": None}


def test_derived_numbers_are_recomputed_and_an_edited_one_fails():
    base = _entry("baseline", {"clean": [0.90, 0.91, 0.92], "fgsm": [0.10, 0.12, 0.11]})
    cut = _entry("cutout", {"clean": [0.91, 0.93, 0.92], "fgsm": [0.14, 0.15, 0.16]})
    # the hand-computed deltas: clean +0.01 (per-seed differences 0.01, 0.02, 0.00: s = 0.01, t_{.975,2} = 4.3026527)
    cut["deltas"] = {
        "clean": {"mean": 0.01, "ci95": 4.3026527 * 0.01 / 3 ** 0.5, "method": "paired t over 3 seeds",
                  "excludes_zero": False},
        "fgsm": {"mean": 0.04, "ci95": 4.3026527 * 0.01 / 3 ** 0.5, "method": "paired t over 3 seeds",
                 "excludes_zero": True},
    }
    cut["deltas"]["robustness"] = dict(cut["deltas"]["fgsm"])
    cut["deltas"]["generalization"] = dict(cut["deltas"]["clean"])
    # average: per seed ((0.14-0.10)+(0.01))/2 = 0.025, ((0.15-0.12)+0.02)/2 = 0.025, ((0.16-0.11)+0)/2 = 0.025
    cut["deltas"]["average"] = {"mean": 0.025, "ci95": 0.0, "method": "paired t over 3 seeds", "excludes_zero": True}
    checks = derived_checks(cut, base)
    assert all(c.ok for c in checks), [str(c) for c in checks if not c.ok]
    assert len(checks) == 2 * 4 + 5 * 4  # 2 threats × (mean, ci95, method, n) + 5 deltas × 4 fields

    edited = json.loads(json.dumps(cut))
    edited["threats"]["fgsm"]["mean"] += 0.05  # what the board shows, raised by 5 points
    edited["deltas"]["robustness"]["mean"] += 0.05
    edited["deltas"]["clean"]["excludes_zero"] = True  # a ✱ that the interval does not support
    bad = [str(c) for c in derived_checks(edited, base) if not c.ok]
    assert bad == ["FAIL  threats.fgsm.mean: entry 0.2, recomputed 0.15",
                   "FAIL  deltas.clean.excludes_zero: entry True, recomputed False",
                   "FAIL  deltas.robustness.mean: entry 0.09, recomputed 0.04"]


def test_every_published_entry_is_the_rebuilding_of_its_run_records():
    """`verify --stored` on the whole board: every field of every entry, from the committed records."""
    from benchmark.verify import stored_checks

    for path in sorted((BOARD / "entries").glob("*.json")):
        checks = stored_checks(path)
        assert len(checks) > 50 and all(c.ok for c in checks), (path.name, [str(c) for c in checks if not c.ok][:5])


def _edited(value):
    """A leaf changed by the smallest edit a reader would not notice: one part in a million, a character."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * (1 + 1e-6) + 1e-6
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, 0]
    return 0 if value is None else {"x": 0}


def _leaves(tree, path=()):
    """(path of keys, leaf) for every leaf of nested dicts; threat names hold dots, so keys stay apart."""
    if isinstance(tree, dict) and tree:
        for k, v in tree.items():
            yield from _leaves(v, (*path, k))
    else:
        yield path, tree


def _set(tree, path, value):
    for k in path[:-1]:
        tree = tree[k]
    tree[path[-1]] = value


def test_stored_verify_catches_an_edit_of_any_single_field_of_a_published_entry():
    """Every leaf of a full-suite entry (numbers, intervals, flags, labels, hashes, checkpoint paths), edited
    once, fails its own check against the rebuilding from the run records; nothing is left unchecked."""
    from benchmark.verify import _flatten, field_checks, rebuild

    path = BOARD / "entries" / "resnet20-quick-mixup.json"
    entry = json.loads(path.read_text())
    checks, rebuilt = rebuild(path)
    assert all(c.ok for c in checks) and all(c.ok for c in field_checks(entry, rebuilt))
    leaves = list(_leaves(entry))
    assert len(leaves) == len(_flatten(entry)) > 250
    assert {("checkpoints", "1"), ("compute", "train_flops_estimate"), ("masking",)} <= {p for p, _ in leaves}
    missed = []
    for path, value in leaves:
        edited = json.loads(json.dumps(entry))
        _set(edited, path, _edited(value))
        if all(c.ok for c in field_checks(edited, rebuilt) if c.what == ".".join(path)):
            missed.append(".".join(path))
    assert missed == []


def test_stored_verify_fails_an_edited_swapped_or_missing_checkpoint(tmp_path):
    """The checkpoints an entry names are where its records are: a path edited to another file name (whose
    record the old code still found), two seeds swapped, a checkpoint deleted — each fails."""
    from benchmark.verify import stored_checks

    board = tmp_path / "leaderboard"
    names = ["resnet20-quick-mixup.json", "resnet20-quick-baseline.json"]
    for name in names:
        entry = json.loads((BOARD / "entries" / name).read_text())
        (board / "entries").mkdir(parents=True, exist_ok=True)
        shutil.copy(BOARD / "entries" / name, board / "entries" / name)
        for rel in entry["checkpoints"].values():
            src, dst = BOARD / "entries" / rel, board / "entries" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
            dst.symlink_to(src.resolve())
    path = board / "entries" / names[0]
    original = json.loads(path.read_text())
    assert all(c.ok for c in stored_checks(path))

    def failing(entry):
        path.write_text(json.dumps(entry))
        return [c.what for c in stored_checks(path) if not c.ok]

    edited = json.loads(json.dumps(original))
    edited["checkpoints"]["1"] = edited["checkpoints"]["1"].removesuffix(".pt") + ".ptx"  # same record found
    assert failing(edited) == ["checkpoints.1"]
    edited = json.loads(json.dumps(original))
    edited["checkpoints"]["1"], edited["checkpoints"]["2"] = original["checkpoints"]["2"], original["checkpoints"]["1"]
    assert failing(edited) == ["checkpoints.1", "checkpoints.2"]
    (board / "entries" / original["checkpoints"]["2"]).unlink()
    assert failing(original) == ["checkpoints.2"]


def test_verify_cli_fails_an_entry_whose_mean_or_delta_was_edited(cifar, cifar_path, tiny8, tmp_path, capsys):
    board = tmp_path / "board"
    run(RunConfig(budget=tiny8, defenses=("baseline", "cutout"), threats=("clean", "fgsm"), out=tmp_path / "w",
                  seeds=(0,), progress=False, records=board / "runs" / "smoke"), data=cifar)
    paths = publish([board / "runs" / "smoke"], board / "entries", board / "LEADERBOARD.md")
    cut = next(p for p in paths if p.name.endswith("cutout.json"))
    args = ["verify", str(cut), "--data", str(cifar_path), "--no-progress"]
    assert main(args) == 0
    # 36: the 34 re-evaluated and recomputed numbers, and the 2 stored outcome sets (clean, FGSM)
    assert capsys.readouterr().out.splitlines()[-1].startswith("PASS: 36/36 numbers reproduced")
    stored = ["verify", "--stored", str(cut), str(board / "entries" / "resnet8-smoke-baseline.json")]
    assert main(stored) == 0
    assert [ln.split(": ")[-1] for ln in capsys.readouterr().out.splitlines()] == [
        "77/77 fields equal to their rebuilding from the run records",  # 75 fields + 2 records' accuracies
        "57/57 fields equal to their rebuilding from the run records"]
    original = cut.read_text()
    entry = json.loads(original)
    entry["threats"]["clean"]["mean"] += 0.05
    entry["deltas"]["fgsm"]["mean"] -= 0.05
    entry["flops"] *= 0.5
    cut.write_text(json.dumps(entry))
    assert main(args) == 1
    fails = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("FAIL")]
    assert [f.split(":")[0] for f in fails] == ["FAIL  threats.clean.mean", "FAIL  deltas.fgsm.mean", "FAIL  flops",
                                                "FAIL"]
    # the fast check catches the same three, and edits below the re-evaluation's tolerance too: one image of
    # 512 in a per-seed accuracy, the masking cell, a training time
    assert main(stored) == 1
    fails = [ln.split("FAIL  ")[1].split(":")[0] for ln in capsys.readouterr().out.splitlines() if "FAIL  " in ln]
    assert fails == ["deltas.fgsm.mean", "flops", "threats.clean.mean"]
    entry = json.loads(original)
    entry["threats"]["fgsm"]["per_seed"]["0"] += 1 / 512
    entry["masking"] = "passed"
    entry["compute"]["train_seconds"] += 1.0
    cut.write_text(json.dumps(entry))
    assert main(stored) == 1
    fails = [ln.split("FAIL  ")[1].split(":")[0] for ln in capsys.readouterr().out.splitlines() if "FAIL  " in ln]
    assert fails == ["compute.train_seconds", "masking", "threats.fgsm.per_seed.0"]
    # a record whose accuracy was edited with the entry: its stored per-image outcomes disagree
    cut.write_text(original)
    rec_path = (cut.parent / json.loads(original)["checkpoints"]["0"]).with_suffix(".json")
    rec = json.loads(rec_path.read_text())
    clean = next(r for r in rec["results"] if r["threat"] == "clean")
    clean["accuracy"] += 1 / 512
    rec_path.write_text(json.dumps(rec))
    entry = json.loads(original)
    entry["threats"]["clean"]["per_seed"]["0"] = round(clean["accuracy"], 6)
    cut.write_text(json.dumps(entry))
    assert main(stored) == 1
    fails = [ln.split("FAIL  ")[1].split(":")[0] for ln in capsys.readouterr().out.splitlines() if "FAIL  " in ln]
    assert fails[0] == "record cutout seed 0 clean"


def test_leaderboard_check_passes_the_published_board_and_fails_an_edited_entry(tmp_path, capsys):
    assert main(["leaderboard", "--check", "--board", str(BOARD)]) == 0
    board = tmp_path / "board"
    shutil.copytree(BOARD / "entries", board / "entries")
    shutil.copy(BOARD / "LEADERBOARD.md", board / "LEADERBOARD.md")
    assert check_board(board) == [f"{board / 'index.html'}: missing (defense-bench leaderboard --render writes it)"]
    from benchmark.webpage import write_page

    write_page(board / "entries", board / "index.html")
    assert check_board(board) == []
    path = board / "entries" / "resnet20-quick-cutout.json"
    entry = json.loads(path.read_text())
    entry["threats"]["fgsm"]["mean"] += 0.05
    path.write_text(json.dumps(entry))
    capsys.readouterr()
    assert main(["leaderboard", "--check", "--board", str(board)]) == 1
    out = capsys.readouterr().out.splitlines()
    # Table 4's row and the ε table's row (its 8/255 column is the paper's FGSM), each - and +
    assert len([ln for ln in out if ln.startswith(f"{board / 'LEADERBOARD.md'}: ")]) == 4
    assert len([ln for ln in out if ln.startswith(f"{board / 'index.html'}: ")]) == 4  # both tables' rows
    assert out[-1].startswith("FAIL:")


# --- 3. submit ----------------------------------------------------------------------------------------------

def _readme_example() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Submit a defense", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.slow
def test_readme_example_submits_verbatim_to_a_scratch_board(cifar_path, tmp_path, monkeypatch, capsys):
    """The README's code block, pasted as is, trains at the smoke budget; run from another directory, the
    entry lands on a scratch board under --out and the published board is untouched."""
    (tmp_path / "noise.py").write_text(_readme_example())
    published = {p: _digest(p) for p in [BOARD / "LEADERBOARD.md", *sorted((BOARD / "entries").glob("*.json"))]}
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["submit", "noise.py:GaussianNoise", "--budget", "smoke", "--seed", "0", "--data",
                     str(cifar_path), "--out", "work", "--no-progress"]) == 0
    finally:
        DEFENSES.unregister("gaussian-noise")
    entry = E.load_entry(tmp_path / "work" / "board" / "entries" / "resnet20-smoke-gaussian-noise.json")
    assert entry["seeds"] == [0] and entry["deltas"]["generalization"]["mean"] is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.py", "work"]  # no leaderboard/ in the cwd
    assert {p: _digest(p) for p in published} == published
    assert not (BOARD / "runs" / "smoke").exists()


def test_smoke_budget_never_goes_on_the_published_board(cifar_path, capsys):
    assert main(["submit", "examples/label_smoothing.py:LabelSmoothing", "--budget", "smoke", "--board",
                 "published", "--data", str(cifar_path)]) == 2
    assert _one_line_error(capsys) == ("defense-bench: error: budget 'smoke' (auto) never goes on the published "
                                       "board; leave out --board for a scratch board")


@pytest.mark.parametrize("hook, body, message", [
    ("transform_batch", "    def transform_batch(self, x, y, generator):\n        return x + torch.zeros(1), y\n",
     "gaussian: transform_batch raised NameError: name 'torch' is not defined"),
    ("transform_model", "    def transform_model(self, model, ctx):\n        raise KeyError('layer4')\n",
     "gaussian: transform_model raised KeyError: 'layer4'"),
])
def test_an_exception_in_a_user_hook_is_one_line(cifar_path, tmp_path, capsys, hook, body, message):
    f = tmp_path / "user.py"
    f.write_text("from defenses.base import Defense\n\nclass Gaussian(Defense):\n" + body)
    try:
        assert main(["submit", f"{f}:Gaussian", "--budget", "smoke", "--data", str(cifar_path),
                     "--out", str(tmp_path / "w")]) == 2
    finally:
        DEFENSES.unregister("gaussian")
    assert _one_line_error(capsys) == f"defense-bench: error: {message}"


def test_name_is_honoured_for_a_registered_class_and_a_taken_name_refused(cifar_path, tmp_path, capsys):
    from benchmark.submit import register_submission

    @register_defense("test-registered")
    class Registered(Defense):
        pass

    try:
        assert register_submission(Registered, None) == "test-registered"
        assert register_submission(Registered, "test-renamed") == "test-renamed"
        renamed = DEFENSES.get("test-renamed")
        assert issubclass(renamed, Registered) and renamed.name == "test-renamed"
        assert Registered.name == "test-registered" and DEFENSES.get("test-registered") is Registered
        assert main(["submit", "test-registered", "--name", "cutout", "--budget", "smoke", "--data",
                     str(cifar_path), "--out", str(tmp_path)]) == 2
        assert _one_line_error(capsys) == ("defense-bench: error: defense name 'cutout' is taken by defenses.cutout; "
                                           "pass --name with a name that `defense-bench list` does not show")
    finally:
        DEFENSES.unregister("test-registered")
        DEFENSES.unregister("test-renamed")


# --- 4. run -------------------------------------------------------------------------------------------------

def test_run_exits_nonzero_when_a_job_fails_and_zero_once_it_succeeds(cifar_path, tiny8, tmp_path, monkeypatch,
                                                                     capsys):
    import benchmark.cli as cli

    flag = tmp_path / "broken"
    flag.write_text("yes")

    @register_defense("test-sometimes")
    class Sometimes(Defense):
        def transform_batch(self, x, y, generator):
            if flag.exists():
                raise RuntimeError("broken today")
            return x, y

    monkeypatch.setattr(cli, "get_budget", lambda name: tiny8)
    args = ["run", "--defenses", "baseline,test-sometimes", "--threats", "clean", "--seed", "0", "--data",
            str(cifar_path), "--out", str(tmp_path / "out"), "--no-progress"]
    try:
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "run resnet8-smoke-s0-test-sometimes failed: RuntimeError: broken today" in err
        assert "1 of 2 runs failed (exit 1)" in err
        assert "## Failed runs" in (tmp_path / "out" / "LEADERBOARD.md").read_text()
        flag.unlink()
        assert main(args) == 0
        assert "## Failed runs" not in (tmp_path / "out" / "LEADERBOARD.md").read_text()
    finally:
        DEFENSES.unregister("test-sometimes")


def test_a_second_run_on_the_same_out_is_refused_naming_the_holder(tmp_path, cifar_path, capsys):
    import os

    with hold(tmp_path):
        with pytest.raises(OutputInUse, match=rf"in use by another defense-bench run \(pid {os.getpid()} on "):
            with hold(tmp_path):
                pass
        assert main(["run", "--budget", "smoke", "--out", str(tmp_path), "--data", str(cifar_path)]) == 2
        assert f"is in use by another defense-bench run (pid {os.getpid()}" in _one_line_error(capsys)
    with hold(tmp_path):  # released: the next run goes ahead
        pass


def test_resumed_training_says_so(cifar, tiny8, tmp_path, caplog):
    from benchmark.models import build_model
    from benchmark.trainer import train
    from defenses.baseline import Baseline

    b = dataclasses.replace(tiny8, epochs=2)
    ckpt = tmp_path / "t.pt"
    train(build_model("resnet8"), cifar.x_train[:256], cifar.y_train[:256], Baseline(), b, 0, ckpt_path=ckpt,
          progress=False, stop_after_epoch=lambda e: e == 1, desc="resnet8-smoke-s0-baseline")
    with caplog.at_level(logging.INFO, logger="defense_bench"):
        train(build_model("resnet8"), cifar.x_train[:256], cifar.y_train[:256], Baseline(), b, 0, ckpt_path=ckpt,
              progress=False, desc="resnet8-smoke-s0-baseline")
    assert f"resuming resnet8-smoke-s0-baseline at epoch 2 of 2 ({ckpt})" in caplog.messages


@pytest.mark.parametrize("spec, message", [
    ("fgsm(eps=-1)", "'fgsm(eps=-1)': fgsm: eps must be ≥ 0, got -1.0"),
    ("pgd(steps=0)", "'pgd(steps=0)': pgd: steps must be > 0, got 0"),
    ("occlusion(size=-16)", "'occlusion(size=-16)': occlusion: size must be > 0, got -16"),
    ("autoattack(n_images=0)", "'autoattack(n_images=0)': autoattack: n_images must be > 0, got 0"),
    ("corruptions(n_images=0)", "'corruptions(n_images=0)': corruptions: n_images must be > 0, got 0"),
])
def test_bad_threat_fields_are_refused(spec, message):
    with pytest.raises(RegistryError) as e:
        build(THREAT_MODELS, spec)
    assert str(e.value) == message


@pytest.mark.parametrize("spec, message", [
    ("cutmix(prob=1.5)", "cutmix: prob must be in [0, 1], got 1.5"),
    ("mixup(alpha=0)", "mixup: alpha must be > 0, got 0.0"),
    ("cutout(size=0)", "cutout: size must be > 0, got 0"),
    ("prune-filters(fraction=1)", "pruning: fraction must be in [0, 1), got 1.0"),
    ("prune-layers(blocks_per_iteration=0)", "pruning: blocks_per_iteration must be > 0, got 0"),
    ("stylized(fraction=2)", "stylized: fraction must be in [0, 1], got 2.0"),
])
def test_bad_defense_fields_are_refused(spec, message):
    with pytest.raises(RegistryError, match=re.escape(message)):
        build(DEFENSES, spec)


def test_bad_seeds_and_budget_fields_are_one_line_errors(capsys, tiny_budget):
    assert pytest.raises(SystemExit, main, ["run", "--seed", "-1"]).value.code == 2
    assert "--seed takes seeds ≥ 0, got '-1'" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"run: seeds must be ≥ 0, got \(0, -2\)"):
        RunConfig(budget=tiny_budget, seeds=(0, -2))
    with pytest.raises(ValueError, match="budget smoke: epochs must be > 0, got 0"):
        dataclasses.replace(tiny_budget, epochs=0)
    with pytest.raises(ValueError, match="budget smoke: n_test must be > 0, got -5"):
        dataclasses.replace(tiny_budget, n_test=-5)


def test_a_text_file_as_data_is_not_an_npz_archive(tmp_path, capsys):
    f = tmp_path / "cifar.npz"
    f.write_text("not numbers\n")
    assert main(["run", "--budget", "smoke", "--data", str(f), "--out", str(tmp_path / "o")]) == 2
    assert _one_line_error(capsys) == (f"defense-bench: error: {f}: not an .npz archive (expected numpy.savez "
                                       "output with x_train, y_train, x_test, y_test)")


def test_a_truncated_checkpoint_is_named_in_one_whole_sentence(tmp_path):
    path = tmp_path / "model.pt"
    checkpoint.save_atomic({"w": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(checkpoint.CheckpointError) as e:
        checkpoint.load(path)
    assert str(e.value) == f"{path}: not a complete checkpoint (truncated, or not written by torch.save)"


def test_first_sentence_never_cuts_a_word():
    from benchmark.checkpoint import first_sentence

    assert first_sentence(ValueError("It broke. Then more text follows.")) == "It broke."
    long = ValueError("word " * 100)
    text = first_sentence(long, limit=50)
    assert text.endswith("word …") and len(text) <= 52


def test_unexpected_exceptions_are_one_line(monkeypatch, capsys):
    import benchmark.cli as cli

    def boom(args):
        raise KeyError("something internal")

    monkeypatch.setattr(cli, "cmd_list", boom)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), "list", boom))
    assert main(["list"]) == 2
    assert _one_line_error(capsys) == ("defense-bench: error: KeyError: 'something internal' (-v shows the "
                                       "traceback)")


def _with_func(parser, command, func):
    for action in parser._subparsers._group_actions:
        action.choices[command].set_defaults(func=func)
    return parser


def test_run_grid_reports_what_this_command_ran(cifar, tiny8, tmp_path):
    cfg = RunConfig(budget=tiny8, defenses=("baseline",), threats=("clean",), out=tmp_path, seeds=(0,),
                    progress=False)
    first = run_grid(cfg, data=cifar)
    assert first.ran == ("resnet8-smoke-s0-baseline",) and first.failed == {}
    assert run_grid(cfg, data=cifar).ran == ()  # finished earlier: nothing to run


def test_a_budget_declares_its_precision_and_another_is_keyed_apart(tmp_path, caplog):
    from benchmark.budgets import get_budget
    from benchmark.job import Job
    from benchmark.records import restore_records
    from benchmark.results_store import ResultsStore

    q = get_budget("quick")
    assert q.precision == "fp32" and get_budget("smoke").precision == "auto"
    assert q.accepts("cpu fp32 channels_last") and not q.accepts("cpu bfloat16 channels_last")
    assert q.with_precision("fp32") is q
    bf = q.with_precision("bf16")
    assert (bf.name, bf.precision) == ("quick-bf16", "bf16") and get_budget("quick-bf16") == bf
    # precision is checked from the records, not hashed: the committed seed-1 cutmix record (fp32) keeps its hash
    job = Job(RunConfig(budget=q, out=tmp_path), "cutmix", "resnet20", 1, (50000, 10000))
    assert job.hash == "03a2d5fd07aafe93"
    records = tmp_path / "records"
    records.mkdir()
    rec = json.loads((BOARD / "runs" / "quick" / "resnet20-quick-s1-cutmix.json").read_text())
    (records / "resnet20-quick-s1-cutmix.json").write_text(json.dumps(rec))
    rec["key"]["seed"], rec["info"]["train_precision"] = 7, "cpu bfloat16 channels_last"
    (records / "resnet20-quick-s7-cutmix.json").write_text(json.dumps(rec))
    with ResultsStore(tmp_path / "r.sqlite") as store, caplog.at_level(logging.WARNING, logger="defense_bench"):
        assert restore_records(records, store, tmp_path / "ckpt", q) == 1
        assert list(store.runs().seed) == [1]
    assert caplog.messages == ["resnet20-quick-s7-cutmix.json: trained in cpu bfloat16 channels_last, budget quick "
                               "declares fp32: not reused, trained again"]


def test_a_restored_record_with_multi_field_threat_configs_is_reused_not_re_evaluated(tmp_path):
    """A record file stores each threat's config with sorted keys; PGD's (eps, alpha, steps, random_start,
    n_images) must still match the spec's own order, or every resumed run re-attacks (a GPU record once was
    re-scored on the CPU that way, moving PGD at 2/255 by one image)."""
    from benchmark.budgets import get_budget
    from benchmark.job import resolve_threats
    from benchmark.records import restore_records
    from benchmark.results_store import ResultsStore
    from benchmark.runner import plan

    src = next(p for d in ("runs", "staging") for p in (BOARD / d / "quick").glob("resnet20-quick-s3-baseline.json"))
    records = tmp_path / "records"
    records.mkdir()
    (records / src.name).write_text(src.read_text())
    q = get_budget("quick")
    threats = resolve_threats("paper,eps-sweep")
    assert sum(t.startswith("pgd(") for t in threats) == 4
    cfg = RunConfig(budget=q, defenses=("baseline",), threats=threats, out=tmp_path, seeds=(3,))
    with ResultsStore(tmp_path / "r.sqlite") as store:
        assert restore_records(records, store, tmp_path / "ckpt", q) == 1
        assert plan(cfg, (50000, 10000), store) == []  # nothing left to do
        more = RunConfig(budget=q, defenses=("baseline",), threats=(*threats, "pgd(eps=0.0625)"), out=tmp_path,
                         seeds=(3,))
        [job] = plan(more, (50000, 10000), store)
        assert job.threats == ("pgd(eps=0.0625)",)  # only the threat it lacks


@pytest.mark.parametrize("argv, message", [
    (["verify", "nowhere.json"], "nowhere.json: no such entry"),
    (["submit", "nowhere.py:Defense"], "nowhere.py: no such file"),
    (["submit", "no-such-defense"], "unknown defense 'no-such-defense'"),
])
def test_a_mistyped_entry_or_defense_is_named_before_any_data_is_loaded(argv, message, monkeypatch, capsys,
                                                                        tmp_path):
    """Without --data the loader downloads CIFAR-10; a typo must not be reported as a failed download."""
    import benchmark.data

    def no_data(*a, **k):
        raise AssertionError("data loaded before the input was checked")

    monkeypatch.setattr(benchmark.data, "load_cifar10", no_data)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert _one_line_error(capsys).startswith(f"defense-bench: error: {message}")


@pytest.mark.parametrize("argv, message", [
    (["stylize", "--n-images", "-3"], "argument --n-images: expected a number > 0, got '-3'"),
    (["evaluate", "resnet20", "--n", "0"], "argument --n: expected a number > 0, got '0'"),
    (["verify", "x.json", "--tolerance", "nan"], "argument --tolerance: expected a number ≥ 0, got 'nan'"),
    (["run", "--cpus-per-job", "0"], "argument --cpus-per-job: expected a number > 0, got '0'"),
    (["run", "--gpus-per-job", "-1"], "argument --gpus-per-job: expected a number ≥ 0, got '-1'"),
    (["perf", "--steps", "2.5"], "argument --steps: expected an integer, got '2.5'"),
])
def test_counts_and_tolerances_out_of_range_are_refused_by_the_parser(argv, message, capsys):
    assert pytest.raises(SystemExit, main, argv).value.code == 2
    assert message in capsys.readouterr().err


def test_a_records_folder_that_cannot_be_written_is_refused_before_any_training(tmp_path, capsys, monkeypatch):
    import benchmark.runner

    monkeypatch.setattr(benchmark.runner, "load_cifar10", lambda *a: pytest.fail("training set loaded"))
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    assert main(["run", "--budget", "smoke", "--records", str(blocked / "rec"), "--out", str(tmp_path / "o")]) == 2
    assert _one_line_error(capsys).startswith(f"defense-bench: error: --records {blocked / 'rec'}: cannot write there")
    assert not (tmp_path / "o").exists()


def test_publishing_from_a_missing_or_empty_records_folder_is_refused_and_writes_no_board(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for rec, why in [(tmp_path / "nowhere", "no such folder"), (tmp_path / "empty", "no run records (*.json) in it")]:
        assert main(["leaderboard", "--publish", "--records", str(rec), "--board", str(tmp_path / "b")]) == 2
        assert _one_line_error(capsys) == f"defense-bench: error: --records {rec}: {why}"
    assert not (tmp_path / "b").exists()
