import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from benchmark import checkpoint
from benchmark.budgets import get_budget
from benchmark.checkpoint import CheckpointError
from benchmark.models import build_model
from benchmark.precision import Precision
from benchmark.trainer import train
from defenses.baseline import Baseline
from tests.conftest import REPO


def fresh(seed=0):
    torch.manual_seed(seed)
    return build_model("resnet20")


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_interrupted_run_resumes_to_the_same_weights(cifar, tiny_budget, tmp_path):
    b = tiny_budget.__class__(**{**tiny_budget.__dict__, "epochs": 2})
    x, y = cifar.x_train[:512], cifar.y_train[:512]
    whole = fresh()
    train(whole, x, y, Baseline(), b, seed=0, progress=False)
    ck = tmp_path / "run.pt"
    part = fresh()
    train(part, x, y, Baseline(), b, seed=0, ckpt_path=ck, progress=False, stop_after_epoch=lambda e: e == 1)
    assert checkpoint.load(ck)["epoch"] == 1
    resumed = fresh()  # a new process would start from a fresh model
    rep = train(resumed, x, y, Baseline(), b, seed=0, ckpt_path=ck, progress=False)
    assert rep.resumed_from_epoch == 1
    assert states_equal(resumed.state_dict(), whole.state_dict())
    assert not states_equal(part.state_dict(), whole.state_dict())


@pytest.mark.slow
def test_kill_9_mid_training_resumes_from_last_checkpoint(cifar_path, tmp_path):
    """A process killed with SIGKILL after its first epoch checkpoint resumes to the uninterrupted result."""
    ck = tmp_path / "killed.pt"
    script = textwrap.dedent(f"""
        import dataclasses, sys, torch
        from benchmark.budgets import get_budget
        from benchmark.data import load_npz
        from benchmark.models import build_model
        from benchmark.trainer import train
        from defenses.baseline import Baseline
        d = load_npz({str(cifar_path)!r})
        b = dataclasses.replace(get_budget("smoke"), epochs=int(sys.argv[1]), batch_size=64)
        torch.manual_seed(0)
        m = build_model("resnet20")
        train(m, d.x_train[:512], d.y_train[:512], Baseline(), b, 0, ckpt_path=sys.argv[2], progress=False)
        torch.save(m.state_dict(), sys.argv[3])
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    epochs = "6"
    proc = subprocess.Popen([sys.executable, "-c", script, epochs, str(ck), str(tmp_path / "never.pt")], env=env)
    deadline = time.time() + 120
    while not ck.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ck.exists(), "no checkpoint within 120 s"
    done = checkpoint.load(ck)["epoch"]
    assert 1 <= done < 6 and not (tmp_path / "never.pt").exists()
    # Resume in a new process, and compare with an uninterrupted run.
    subprocess.run([sys.executable, "-c", script, epochs, str(ck), str(tmp_path / "resumed.pt")],
                   env=env, check=True)
    subprocess.run([sys.executable, "-c", script, epochs, str(tmp_path / "clean.pt"),
                    str(tmp_path / "whole.pt")], env=env, check=True)
    a = torch.load(tmp_path / "resumed.pt", weights_only=True)
    b = torch.load(tmp_path / "whole.pt", weights_only=True)
    assert states_equal(a, b)


def test_finished_checkpoint_is_reused_without_training(cifar, tiny_budget, tmp_path):
    ck = tmp_path / "done.pt"
    m = fresh()
    train(m, cifar.x_train[:512], cifar.y_train[:512], Baseline(), tiny_budget, 0, ckpt_path=ck, progress=False)
    again = fresh(seed=5)
    rep = train(again, cifar.x_train[:512], cifar.y_train[:512], Baseline(), tiny_budget, 0, ckpt_path=ck,
                progress=False)
    assert rep.images == 0 and states_equal(again.state_dict(), m.state_dict())
    assert rep.seconds == pytest.approx(checkpoint.load(ck)["seconds"], abs=0.5) and rep.seconds > 0


def test_checkpoint_round_trip_and_corrupt_file(tmp_path):
    m = fresh()
    checkpoint.save_atomic({"model": m.state_dict(), "epoch": 3}, tmp_path / "a.pt")
    back = checkpoint.load(tmp_path / "a.pt")
    assert back["epoch"] == 3 and states_equal(back["model"], m.state_dict())
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "bad.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError) as e:
        checkpoint.load(tmp_path / "bad.pt")
    assert str(e.value) == f"{tmp_path / 'bad.pt'}: not a complete checkpoint (truncated, or not written by torch.save)"


def test_checkpoint_loading_refuses_pickled_code(tmp_path):
    torch.save({"model": build_model("resnet20")}, tmp_path / "module.pt")  # a pickled nn.Module: code
    with pytest.raises(CheckpointError, match="unsafe"):
        checkpoint.load(tmp_path / "module.pt")


def test_schedules():
    q = get_budget("quick")
    assert q.lr_at(0, 100) == 0.0
    assert q.lr_at(int(0.25 * 1200), 100) == pytest.approx(q.lr)
    assert q.lr_at(1200, 100) == 0.0
    p = get_budget("paper")
    lrs = [p.lr_at(e * 10, 10) for e in (0, 99, 100, 149, 150, 199)]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert "lr ÷10 at epoch 100, epoch 150" in p.describe()
    ft = q.finetuning()  # fine-tuning: a tenth of the peak, decayed linearly from the first step
    assert ft.lr_at(0, 100, 2) == pytest.approx(0.04) and ft.lr_at(100, 100, 2) == pytest.approx(0.02)
    assert ft.lr_at(200, 100, 2) == 0.0


def test_precision_is_bf16_only_with_amx_unless_pinned(monkeypatch):
    import benchmark.precision as trainer
    from benchmark.precision import PRECISION_ENV

    monkeypatch.delenv(PRECISION_ENV, raising=False)
    monkeypatch.setattr(trainer, "cpu_has_amx", lambda: True)
    assert Precision.auto("cpu").amp_dtype == torch.bfloat16
    monkeypatch.setattr(trainer, "cpu_has_amx", lambda: False)  # AVX-512-BF16 alone or AVX2: fp32
    assert Precision.auto("cpu").amp_dtype is None
    monkeypatch.setenv(PRECISION_ENV, "bf16")
    assert Precision.auto("cpu").describe() == "cpu bfloat16 channels_last"
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert Precision.auto("cpu").describe() == "cpu fp32 channels_last"
    monkeypatch.setenv(PRECISION_ENV, "fp16")
    with pytest.raises(ValueError, match=r"\$DEFENSE_BENCH_PRECISION='fp16': expected one of auto, bf16, fp32"):
        Precision.auto("cpu")


def test_cli_precision_flag_pins_the_environment(monkeypatch):
    from benchmark.cli import main
    from benchmark.precision import PRECISION_ENV

    monkeypatch.delenv(PRECISION_ENV, raising=False)
    assert main(["--precision", "fp32", "list"]) == 0
    assert os.environ.pop(PRECISION_ENV) == "fp32"


@pytest.mark.slow
def test_training_learns_on_real_images(cifar, tiny_budget):
    """Known answer: a few epochs on 2k real images beat chance (10%) by a wide margin."""
    from benchmark.data import to_float

    b = tiny_budget.__class__(**{**tiny_budget.__dict__, "epochs": 4, "lr": 0.2})
    m = fresh()
    train(m, cifar.x_train[:2048], cifar.y_train[:2048], Baseline(), b, 0, progress=False)
    with torch.no_grad():
        acc = (m(to_float(cifar.x_test[:1000])).argmax(1) == cifar.y_test[:1000]).float().mean()
    assert acc > 0.25
