"""Where the grid's jobs run: in this process (``local``) or as Ray tasks on a cluster (``ray``).

An executor only runs jobs and yields their outcomes as they finish; the driver writes the results
store (one writer) and decides what is missing, so re-running a grid runs only what is missing.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmark.data import Cifar10
    from benchmark.job import Job, JobOutcome

log = logging.getLogger("defense_bench")


class Executor(abc.ABC):
    @abc.abstractmethod
    def map(self, jobs: list[Job], data: Cifar10) -> Iterator[JobOutcome]:
        """Run every job; yield each outcome as soon as it is known."""


class LocalExecutor(Executor):
    """Jobs one after another in this process, in grid order (the baseline first if listed first)."""

    def map(self, jobs, data):
        for job in jobs:
            yield job.execute(data)


def _execute(job: Job, data: Cifar10, threads: int, *after: object) -> JobOutcome:
    """A Ray task's body: ``after`` holds outcomes this job waits for (its baseline's training)."""
    import torch

    torch.set_num_threads(threads)
    return job.execute(data)


class RayExecutor(Executor):
    """Every job a Ray task requesting ``cpus`` CPUs and ``gpus`` GPUs, retried if its worker dies.

    Jobs that reuse the baseline's trained network (pruning) wait for the baseline job of their
    architecture and seed, so that network is trained once. Checkpoints go to the run's output
    directory, which must be a path every node can read and write (a shared filesystem).

    Args:
        address: an existing cluster (``auto`` or ``ray://host:10001``); None starts a local instance.
        cpus / gpus: resources per job (GPU fractions allowed).
        max_retries: re-runs of a job whose worker process died.
        num_cpus: CPUs of the local instance (None: all).
    """

    def __init__(self, address: str | None = None, cpus: float = 1, gpus: float = 0, max_retries: int = 3,
                 num_cpus: int | None = None):
        self.address, self.cpus, self.gpus, self.max_retries, self.num_cpus = address, cpus, gpus, max_retries, num_cpus

    def map(self, jobs, data):
        import ray

        from benchmark.job import JobOutcome
        from benchmark.precision import PRECISION_ENV

        # workers compute in the driver's pinned precision (a grid on mixed CPUs stays comparable)
        env = {"env_vars": {PRECISION_ENV: os.environ[PRECISION_ENV]}} if PRECISION_ENV in os.environ else None
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False, runtime_env=env)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False, runtime_env=env)
        task = ray.remote(_execute).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.max_retries,
                                            retry_exceptions=False)
        data_ref = ray.put(data)
        threads = max(1, int(self.cpus))
        baseline: dict[tuple[str, int], object] = {}
        pending = {}
        for job in jobs:  # baselines first, so jobs that reuse their network can wait on them
            if job.defense.name == "baseline":
                ref = task.remote(job, data_ref, threads)
                baseline[(job.arch, job.seed)] = ref
                pending[ref] = job
        for job in jobs:
            if job.defense.name != "baseline":
                after = [baseline[(job.arch, job.seed)]] if (job.defense.trains_like_baseline and
                                                             (job.arch, job.seed) in baseline) else []
                pending[task.remote(job, data_ref, threads, *after)] = job
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                yield ray.get(done[0])
            except Exception as e:  # the worker died more than max_retries times, or Ray failed
                yield JobOutcome(job.key, {}, error=f"{type(e).__name__}: {str(e).splitlines()[0][:400]}")
