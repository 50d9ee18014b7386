import argparse
import json

import torch


def test_perf_prints_both_pipelines_and_their_ratio(monkeypatch, capsys):
    """Known throughputs in (the two timings are replaced), the exact report out."""
    import benchmark.perf as perf
    from benchmark.data import Cifar10

    x, y = torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64)
    monkeypatch.setattr(perf, "load_cifar10", lambda path: Cifar10(x, y, x, y, "test"))
    monkeypatch.setattr(perf, "trainer_img_per_s", lambda x, y, steps: (1234.5, "cpu fp32 channels_last"))
    monkeypatch.setattr(perf, "conventional_img_per_s", lambda x, y, steps: 250.0)
    assert perf.main(argparse.Namespace(data="unused.npz", steps=2, json=True)) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[1] == "trainer (cpu fp32 channels_last, batch 256):   1234.5 img/s"
    assert out[2] == "conventional (PIL + DataLoader(2 workers), fp32, batch 128):    250.0 img/s"
    assert out[3] == "ratio: 4.94x (target >= 4)"  # 1234.5 / 250 = 4.938
    assert json.loads(out[-1]) == {"train_img_per_s": 1234.5, "conventional_img_per_s": 250.0, "ratio": 4.94,
                                   "precision": "cpu fp32 channels_last", "threads": torch.get_num_threads()}


def test_perf_measures_real_throughput_on_real_images(cifar_path, capsys):
    """Functional check: both pipelines really train (throughput targets live in `defense-bench perf`)."""
    from benchmark.perf import main

    assert main(argparse.Namespace(data=str(cifar_path), steps=2, json=True)) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["train_img_per_s"] > 0 and last["conventional_img_per_s"] > 0
