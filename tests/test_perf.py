import argparse
import json


def test_perf_prints_both_pipelines_and_their_ratio(cifar_path, capsys):
    """Functional check only: throughput targets live in `defense-bench perf`, not in timed tests."""
    from benchmark.perf import main

    assert main(argparse.Namespace(data=str(cifar_path), steps=2, json=True)) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["train_img_per_s"] > 0 and last["conventional_img_per_s"] > 0
    assert abs(last["ratio"] - last["train_img_per_s"] / last["conventional_img_per_s"]) < 0.01
