"""The Ray executor on a local 2-CPU instance: same numbers as the local executor, survives a dead worker
and a failing defense."""

import dataclasses
import os

import pytest
import torch

from benchmark.registry import DEFENSES, register_defense
from benchmark.results_store import ResultsStore
from benchmark.runner import RunConfig, run
from defenses.base import Defense

ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def grid(cfg, cifar, executor=None):
    run(cfg, data=cifar, executor=executor)
    with ResultsStore(cfg.out / "results.sqlite") as store:
        return store.results().drop(columns=["seconds", "code_version"]), store.runs().set_index("defense")


@pytest.mark.slow
def test_ray_grid_equals_local_grid(cifar, tiny_budget, tmp_path, ray_instance):
    from benchmark.executors import RayExecutor

    cfg = RunConfig(budget=tiny_budget, defenses=("baseline", "cutout"), seeds=(0, 1), progress=False,
                    out=tmp_path / "local")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a Ray job with one CPU computes on one thread: same arithmetic
    try:
        local, _ = grid(cfg, cifar)
    finally:
        torch.set_num_threads(threads)
    remote, _ = grid(dataclasses.replace(cfg, out=tmp_path / "ray"), cifar, RayExecutor(cpus=1))
    assert len(local) == 4 * 4  # 2 defenses × 2 seeds × 4 threats
    assert local.equals(remote)
    md_local = without_timings((tmp_path / "local" / "LEADERBOARD.md").read_text())
    md_ray = without_timings((tmp_path / "ray" / "LEADERBOARD.md").read_text())
    assert md_local == md_ray
    rows = [ln for ln in md_local if ln.startswith("| `baseline`") or ln.startswith("| `cutout`")]
    assert len(rows) >= 2  # the table rows are compared, not dropped


TIMING_COLUMNS = {"Train time / seed"}  # wall-clock measurements differ between any two runs


def without_timings(md: str) -> list[str]:
    """The markdown's lines with every timing column cut out of its tables (all other cells kept)."""
    out, drop = [], []
    for line in md.splitlines():
        if not line.startswith("|"):
            drop = []
            out.append(line)
            continue
        cells = line.split("|")
        if not drop and any(c.strip() in TIMING_COLUMNS for c in cells):  # a table's header row
            drop = [i for i, c in enumerate(cells) if c.strip() in TIMING_COLUMNS]
        out.append("|".join(c for i, c in enumerate(cells) if i not in drop))
    return out


@pytest.mark.slow
def test_ray_grid_survives_a_killed_worker_and_a_failing_defense(cifar, tiny_budget, tmp_path, ray_instance):
    from benchmark.executors import RayExecutor

    marker = tmp_path / "killed-once"

    @register_defense("test-dies-once")
    class DiesOnce(Defense):
        """Kills its own worker process (SIGKILL) the first time it trains."""

        def transform_batch(self, x, y, generator):
            if not marker.exists():
                marker.write_text("killed")
                os.kill(os.getpid(), 9)
            return x, y

    @register_defense("test-raises")
    class Raises(Defense):
        def transform_batch(self, x, y, generator):
            raise ValueError("this defense is broken")

    try:
        cfg = RunConfig(budget=tiny_budget, defenses=("baseline", "test-dies-once", "test-raises"), seeds=(0,),
                        progress=False, out=tmp_path)
        results, runs = grid(cfg, cifar, RayExecutor(cpus=1, max_retries=2))
    finally:
        DEFENSES.unregister("test-dies-once")
        DEFENSES.unregister("test-raises")
    assert marker.exists()  # the worker really died once
    assert runs.loc["baseline", "status"] == "done" and runs.loc["test-dies-once", "status"] == "done"
    assert runs.loc["test-raises", "status"] == "failed"
    assert "ValueError: this defense is broken" in runs.loc["test-raises", "error"]
    assert set(results.defense) == {"baseline", "test-dies-once"} and len(results) == 8
