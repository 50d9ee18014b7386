"""The Python API, the `evaluate` command, albumentations pipelines as defenses, and the pull-request workflow."""

from __future__ import annotations

import re
import shlex

import albumentations as A
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import benchmark as db
from benchmark import entries as E
from benchmark.cli import build_parser, main
from benchmark.data import ENV_VAR
from benchmark.registry import DEFENSES
from benchmark.verify import TOLERANCE
from defenses.albumentations_pipeline import EXAMPLE, AlbumentationsConfig, AlbumentationsPipeline
from tests.conftest import REPO

BOARD = REPO / "leaderboard"


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _readme_block(heading: str) -> str:
    section = (REPO / "README.md").read_text().split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)\n```", section, re.S).group(1)


# --- the Python API --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_readme_api_example_runs_verbatim(cifar_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, str(cifar_path))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_readme_block("Python API"), "README.md", "exec"), scope)
    out = capsys.readouterr().out
    df, grid = scope["df"], scope["grid"]
    # cutout seed 0 on the first 1,000 of the seeded test permutation: 874 clean, 67 under FGSM (measured)
    assert df.loc["clean", "n"] == 1000 and df.loc["clean", "accuracy"] == pytest.approx(0.874)
    assert df.loc["fgsm", "accuracy"] == pytest.approx(0.067)
    assert df.attrs["masking"] == {} and "{}" in out
    assert sorted(grid.defense) == ["baseline", "cutout"] and set(grid.threat) == {"clean"}
    assert (grid.n == 512).all() and grid.accuracy.between(0.1, 1).all()  # smoke: 512 test images
    assert (tmp_path / "runs" / "api" / "LEADERBOARD.md").is_file()


@pytest.mark.slow
def test_evaluate_model_on_a_published_checkpoint_reproduces_its_entry(cifar):
    entry = E.load_entry(BOARD / "entries" / "resnet20-quick-prune-layers_iterations=4_finetune_epochs=1.json")
    model = db.load_model("prune-layers", seed=1)
    df = db.evaluate_model(model, threats="paper", data=cifar)
    assert list(df.index) == ["clean", "fgsm", "occlusion", "semantic"]
    # Known answer: the entry's per-seed accuracies, within verify's tolerance (0.2 points). Exact on the CPU
    # kind that made the record; another kind (AVX2 vs AVX-512 kernels) sums convolutions in another order and
    # flips a handful of FGSM decisions: measured 6.13 vs 6.11 (2 of 10,000 images) on an AVX2-only CPU.
    for threat in df.index:
        assert abs(df.loc[threat, "accuracy"] - entry["threats"][threat]["per_seed"]["1"]) <= TOLERANCE, threat
        assert df.loc[threat, "n"] == 10000
    assert (df.ci95_low < df.accuracy).all() and (df.accuracy < df.ci95_high).all()


def test_accuracy_interval_is_the_wilson_interval(cifar):
    """Known answer: 8 of 10 correct → Wilson 95% interval [0.4902, 0.9433]."""

    class Constant(torch.nn.Module):  # always predicts class 0; the labels are set to 8 zeros, a 1 and a 2
        def forward(self, x):
            return torch.zeros(len(x), 10).index_fill_(1, torch.tensor([0]), 1.0) + 0 * x.sum()

    data = cifar.subset(None, 10, seed=0)
    data = type(data)(data.x_train, data.y_train, data.x_test, torch.tensor([0] * 8 + [1, 2]))
    df = db.evaluate_model(Constant(), threats=["clean"], data=data)
    assert df.loc["clean", "accuracy"] == pytest.approx(0.8)
    assert df.loc["clean", "ci95_low"] == pytest.approx(0.4902, abs=1e-4)
    assert df.loc["clean", "ci95_high"] == pytest.approx(0.9433, abs=1e-4)


def test_load_model_lists_the_published_names_for_an_unknown_one():
    with pytest.raises(ValueError) as e:
        db.load_model("dropout")
    rows = "baseline, cutmix, cutout, mixup, prune-both, prune-filters, prune-layers, shape-texture, stylized"
    assert str(e.value).startswith(f"no published resnet20 quick entry 'dropout'; published: {rows}, "
                                   "finetune-only(iterations=1,finetune_epochs=1), ")
    assert str(e.value).count("(iterations=") == 39  # the dose-response points: 12 + 12 + 6 + 9
    # then the Tables 2-3 variants by their full names, after the last curve point (not among Table 4's rows)
    assert "prune-layers(iterations=6,finetune_epochs=1), prune-filters(adjustment=scratch-b," in str(e.value)
    with pytest.raises(ValueError, match=r"'cutout' has no published seed 7; seeds: 0, 1, 2"):
        db.load_model("cutout", seed=7)


def test_a_structure_name_loads_its_operating_point_and_a_point_its_full_name():
    entries = {e["name"]: e for e in E.load_entries(BOARD / "entries")}
    op = next(n for n, e in entries.items() if e["defense"] == "prune-filters" and "operating point" in
              (BOARD / "LEADERBOARD.md").read_text().split(f"`{n}` (", 1)[-1].split(")", 1)[0])
    a, b = db.load_model("prune-filters", seed=1), db.load_model(op, seed=1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    one = db.load_model("prune-filters(iterations=1,finetune_epochs=1)", seed=1)
    assert sum(p.numel() for p in one.parameters()) > sum(p.numel() for p in a.parameters())


def test_loaded_model_is_in_eval_mode_and_normalises_inside():
    model = db.load_model("prune-filters", seed=0)
    assert not model.training
    op = BOARD / "entries" / "resnet20-quick-prune-filters_iterations=6_finetune_epochs=1.json"  # as the board says
    ckpt = BOARD / "entries" / E.load_entry(op)["checkpoints"]["0"]
    state = torch.load(ckpt, weights_only=True)["model"]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # pruned shapes included
    assert any("mean" in k for k in state)  # the normalisation is a buffer of the network


_FACTORIES = {
    "nan": "    return Net(lambda z: z * float('nan'))",
    "shape": "    return Net(lambda z: z[:, :5])",
    "random": "    return Net(lambda z: z + torch.rand_like(z))",
    "raises": "    raise OSError('weights.bin missing')",
}
_MESSAGES = {
    "nan": "defense-bench: error: Net: the model's outputs contain NaN or inf",
    "shape": "defense-bench: error: Net: the model returns (16, 5) for 16 images; expected (N, 10) logits",
    "random": "defense-bench: error: Net: the forward pass is not deterministic in eval mode (two calls differ)",
    "raises": "defense-bench: error: {f}:make: calling it raised OSError: weights.bin missing",
}


@pytest.mark.parametrize("case", sorted(_FACTORIES))
def test_evaluate_refuses_a_nonconforming_model_with_one_line(tmp_path, capsys, cifar_path, case):
    f = tmp_path / "net.py"
    f.write_text("import torch\n\nclass Net(torch.nn.Module):\n    def __init__(self, post):\n"
                 "        super().__init__()\n        self.fc, self.post = torch.nn.Linear(3072, 10), post\n\n"
                 "    def forward(self, x):\n        return self.post(self.fc(x.flatten(1)))\n\n"
                 f"def make():\n{_FACTORIES[case]}\n")
    assert main(["evaluate", f"{f}:make", "--threats", "clean", "--data", str(cifar_path)]) == 2
    assert _one_line_error(capsys) == _MESSAGES[case].format(f=f)


def test_evaluate_cli_scores_a_published_checkpoint_and_writes_json(tmp_path, capsys, cifar_path):
    ckpt = BOARD / "staging" / "quick" / "resnet20-quick-s0-cutout.pt"
    out = tmp_path / "r.json"
    assert main(["evaluate", "resnet20", "--checkpoint", str(ckpt), "--threats", "clean", "--n", "1000",
                 "--data", str(cifar_path), "--json", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| clean    |      87.40 | 1000 |" in text  # measured: 874 of the first 1,000
    assert "gradient-masking checks: not checked" in text
    import json

    rec = json.loads(out.read_text())
    assert rec["threats"][0]["threat"] == "clean" and rec["threats"][0]["accuracy"] == pytest.approx(0.874)


def test_evaluate_refuses_a_checkpoint_of_another_network(tmp_path, capsys, cifar_path):
    ckpt = BOARD / "staging" / "quick" / "resnet20-quick-s0-cutout.pt"
    assert main(["evaluate", "mobilenetv2", "--checkpoint", str(ckpt), "--data", str(cifar_path)]) == 2
    assert _one_line_error(capsys).startswith(f"defense-bench: error: {ckpt} does not fit mobilenetv2: ")


# --- albumentations pipelines ----------------------------------------------------------------------------

def _batch(n: int = 96) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8).float() / 255


def test_pipeline_images_do_not_depend_on_the_thread_count():
    x, y = _batch(), torch.zeros(96, dtype=torch.long)
    outs = [AlbumentationsPipeline(workers=w).transform_batch(x, y, torch.Generator().manual_seed(5))[0]
            for w in (1, 2, 3)]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    assert not torch.equal(outs[0], x)  # every image gets two operations
    again = AlbumentationsPipeline().transform_batch(x, y, torch.Generator().manual_seed(6))[0]
    assert not torch.equal(outs[0], again)
    assert ((outs[0] * 255).round() == outs[0] * 255).all()  # uint8 images, exactly


def test_a_pipeline_is_applied_as_albumentations_applies_it(tmp_path):
    """One HorizontalFlip(p=1): the batch comes back mirrored, exactly."""
    path = tmp_path / "flip.yaml"
    A.save(A.Compose([A.HorizontalFlip(p=1.0)]), str(path), data_format="yaml")
    d = AlbumentationsPipeline(AlbumentationsConfig(pipeline=str(path)))
    x = _batch(40)
    out, y = d.transform_batch(x, torch.arange(40) % 10, torch.Generator().manual_seed(0))
    assert torch.equal(out, x.flip(-1)) and torch.equal(y, torch.arange(40) % 10)
    assert d.label.startswith("albumentations(pipeline=") and len(d.label) == len("albumentations(pipeline=)") + 8


@pytest.mark.parametrize("text, message", [
    ("transform: [", "not an albumentations pipeline (ParserError: while parsing a flow node)"),
    ("transform: {__class_fullname__: NoSuchTransform}", "not an albumentations pipeline"),
])
def test_a_bad_pipeline_file_is_one_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        AlbumentationsConfig(pipeline=str(path))
    assert str(e.value).startswith(f"{path}: {message}") and "\n" not in str(e.value)


def test_a_pipeline_that_changes_the_image_size_is_refused(tmp_path):
    path = tmp_path / "resize.yaml"
    A.save(A.Compose([A.Resize(16, 16)]), str(path), data_format="yaml")
    with pytest.raises(ValueError, match=r"returned an image of shape \(16, 16, 3\).*must keep \(32, 32, 3\) uint8"):
        AlbumentationsPipeline(AlbumentationsConfig(pipeline=str(path))).transform_batch(
            _batch(4), torch.zeros(4, dtype=torch.long), torch.Generator())


@pytest.mark.slow
def test_a_yaml_pipeline_trains_at_the_smoke_budget_and_its_entry_rebuilds_it(cifar_path, tmp_path):
    path = tmp_path / "randaug.yaml"
    path.write_text(EXAMPLE.read_text())
    try:
        assert main(["submit", str(path), "--budget", "smoke", "--seed", "0", "--threats", "clean", "--data",
                     str(cifar_path), "--out", str(tmp_path / "w"), "--no-progress"]) == 0
    finally:
        DEFENSES.unregister("randaug")
    entry = E.load_entry(tmp_path / "w" / "board" / "entries" / "resnet20-smoke-randaug.json")
    assert entry["defense"] == "randaug" and 0.1 < entry["threats"]["clean"]["mean"] < 1
    rebuilt = A.from_dict(entry["defense_config"]["pipeline"])
    assert A.to_dict(rebuilt) == A.to_dict(A.load(str(path), data_format="yaml"))
    # the same seed gives the same images from the file and from the entry
    x, y = _batch(64), torch.zeros(64, dtype=torch.long)
    a = AlbumentationsPipeline(AlbumentationsConfig(pipeline=str(path))).transform_batch(x, y, torch.Generator())
    b = AlbumentationsPipeline(AlbumentationsConfig(pipeline=entry["defense_config"]["pipeline"])).transform_batch(
        x, y, torch.Generator())
    assert torch.equal(a[0], b[0])


# --- the pull-request workflow ---------------------------------------------------------------------------

def _workflow_commands() -> list[list[str]]:
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "verify-entries.yml").read_text())
    runs = [step.get("run", "") for job in wf["jobs"].values() for step in job["steps"]]
    lines = [ln.strip() for run in runs for ln in run.splitlines()]
    return [shlex.split(ln.split("||")[0].replace('"$f"', "leaderboard/entries/resnet20-quick-cutout.json"))
            for ln in lines if ln.startswith("defense-bench ")]


def test_the_pull_request_workflow_runs_real_cli_commands():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "verify-entries.yml").read_text())
    assert "leaderboard/entries/**" in wf[True]["pull_request"]["paths"]  # yaml reads the key `on` as True
    commands = _workflow_commands()
    assert [c[1] for c in commands] == ["verify", "verify", "leaderboard"]
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv[1:])  # SystemExit on an unknown command or option
        assert callable(args.func)
    assert parser.parse_args(commands[0][1:]).stored and not parser.parse_args(commands[1][1:]).stored
    assert parser.parse_args(commands[2][1:]).check
    assert (REPO / commands[1][2]).is_file()


def test_the_pull_request_template_names_the_files_an_entry_needs():
    text = (REPO / ".github" / "PULL_REQUEST_TEMPLATE.md").read_text()
    for needed in ("leaderboard/entries/", "leaderboard/runs/", "LEADERBOARD.md", "defense-bench verify",
                   "defense-bench leaderboard --check", "--board published"):
        assert needed in text, needed
    for line in re.findall(r"^defense-bench .*$", text, re.M):
        argv = shlex.split(line.split("#")[0])
        assert build_parser().parse_args(argv[1:]).command == "submit"


def test_run_grid_result_is_a_dataframe_of_the_requested_runs(cifar, tmp_path, tiny8):
    from benchmark.budgets import BUDGETS

    BUDGETS["tiny8-api"] = type(tiny8)(**{**tiny8.__dict__, "name": "tiny8-api"})
    try:
        df = db.run_grid(["baseline"], budget="tiny8-api", seeds=[0], threats=["clean"], out=tmp_path, data=cifar,
                         progress=False)
    finally:
        del BUDGETS["tiny8-api"]
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["defense", "arch", "budget", "seed", "threat", "accuracy", "n"]
    assert df[["defense", "arch", "seed", "threat", "n"]].values.tolist() == [["baseline", "resnet8", 0, "clean", 256]]
    assert df.attrs["failed"] == {} and df.attrs["leaderboard"].endswith("LEADERBOARD.md")
    assert np.isfinite(df.accuracy).all()
