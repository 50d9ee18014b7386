"""The benchmark grid: for each architecture × seed × defense, train (or reuse), defend, evaluate, store.

Nothing is lost: checkpoints are written atomically every epoch and results as soon as a threat is
scored, so a re-run resumes an interrupted job and skips finished ones; a defense that fails is recorded
with its error and the grid goes on.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark import entries as E
from benchmark import specs
from benchmark.board import render, run_notes
from benchmark.data import Cifar10, load_cifar10
from benchmark.executors import Executor, LocalExecutor
from benchmark.job import EVAL_SEED, Job, JobOutcome, RunConfig, resolve_defenses, resolve_threats  # noqa: F401
from benchmark.masking import entry_flags
from benchmark.precision import pinned_precision
from benchmark.provenance import code_version
from benchmark.records import commit_paths, keep_record, publish_board, restore_records  # noqa: F401
from benchmark.registry import THREAT_MODELS
from benchmark.results_store import ResultsStore, RunKey
from benchmark.webpage import write_page

log = logging.getLogger("defense_bench")


def record(store: ResultsStore, outcome: JobOutcome) -> None:
    """Write a job's outcome to the store (driver only)."""
    if outcome.info:
        store.update_info(outcome.key, **outcome.info)
    for r in outcome.results:
        store.add_result(outcome.key, r.label, r.accuracy, r.n, r.seconds, r.config, r.correct, r.parts,
                         r.unavailable, code_version())
    store.finish_run(outcome.key, error=outcome.error)
    if outcome.error:
        log.error("%s failed: %s", outcome.key.slug, outcome.error)
    else:
        log.info("%s: %s", outcome.key.slug,
                 ", ".join(f"{r.label} {100 * r.accuracy:.2f}" for r in outcome.results if r.unavailable is None))


def t_done(done: dict[str, str], label: str) -> dict | None:
    """The stored config of threat ``label`` (parsed), or None when it was not scored."""
    return json.loads(done[label]) if label in done else None


def plan(cfg: RunConfig, data_sizes: tuple[int, int], store: ResultsStore) -> list[Job]:
    """The jobs of the grid that still have work, each limited to its missing threats; marks them running."""
    jobs = []
    for arch in cfg.budget.archs:
        for seed in cfg.run_seeds:
            for spec in cfg.defenses:
                job = Job(cfg, spec, arch, seed, data_sizes)
                threats = [specs.build(THREAT_MODELS, t) for t in cfg.threats]  # labels of the specs
                status = store.run_status(job.key)
                done = store.threats_done(job.key, job.hash) if status else {}
                # compared as parsed JSON: a record restored from its file has its config's keys sorted
                todo = tuple(t for t, m in zip(cfg.threats, threats, strict=True)
                             if t_done(done, m.label) != json.loads(json.dumps(m.config_dict())))
                if status and status[0] == "done" and status[1] == job.hash and not todo:
                    log.info("%s: finished earlier, reused", job.key.slug)
                    continue
                store.start_run(job.key, job.config, job.hash, code_version())
                job.threats = todo
                jobs.append(job)
    return jobs


@dataclass(frozen=True)
class GridResult:
    """What one ``run`` command did: the leaderboard it wrote and the jobs of *this* command that failed
    (run slug → one-line error; runs that failed in earlier commands and were not retried are not here)."""

    path: Path
    failed: dict[str, str]
    ran: tuple[str, ...] = ()


class OutputInUse(ValueError):
    """Another ``defense-bench run`` holds the output directory."""


@contextlib.contextmanager
def hold(out: Path):
    """An exclusive lock on ``out`` for the whole grid: a second run on the same ``--out`` is refused at once
    (one line naming the holder) instead of training everything twice. The OS drops the lock when its holder
    dies, kill -9 included."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / ".defense-bench.lock"
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "unknown process"
        f.close()
        raise OutputInUse(f"{out} is in use by another defense-bench run ({holder}); wait for it to finish or "
                          "pass another --out") from None
    try:
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        f.flush()
        yield
    finally:
        f.truncate(0)
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def _check_writable(folder: Path) -> None:
    """Refuse a records folder that cannot be written before training, not after it (the run would be lost)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as e:
        raise ValueError(f"--records {folder}: cannot write there ({e.strerror or e})") from None


def run(cfg: RunConfig, data: Cifar10 | None = None, data_path: str | None = None,
        executor: Executor | None = None) -> Path:
    """Run the grid of ``cfg`` and write ``cfg.out/LEADERBOARD.md``; returns its path."""
    return run_grid(cfg, data, data_path, executor).path


def run_grid(cfg: RunConfig, data: Cifar10 | None = None, data_path: str | None = None,
             executor: Executor | None = None) -> GridResult:
    """Run the grid of ``cfg`` (holding ``cfg.out``), write ``cfg.out/LEADERBOARD.md`` and say which of
    this command's jobs failed."""
    with pinned_precision(cfg.budget.precision):
        return _run_grid(cfg, data, data_path, executor)


def _run_grid(cfg: RunConfig, data: Cifar10 | None, data_path: str | None, executor: Executor | None) -> GridResult:
    t0 = time.perf_counter()
    b = cfg.budget
    if cfg.records:
        _check_writable(cfg.records)
    data = data or load_cifar10(data_path)
    if b.n_train or b.n_test:
        data = data.subset(b.n_train, b.n_test, seed=0)
    executor = executor or LocalExecutor()
    failed: dict[str, str] = {}
    with hold(cfg.out), ResultsStore(cfg.out / "results.sqlite") as store:
        if cfg.records:
            restore_records(cfg.records, store, cfg.out / "checkpoints", b)
        jobs = plan(cfg, (len(data.y_train), len(data.y_test)), store)
        by_key = {j.key: j for j in jobs}
        for outcome in executor.map(jobs, data):
            record(store, outcome)
            if outcome.error:
                failed[outcome.key.slug] = outcome.error
            if cfg.records and not outcome.error:
                paths = keep_record(store, outcome.key, by_key[outcome.key].final_ckpt, cfg.records)
                if cfg.publish:
                    try:
                        paths += publish_board(cfg.records.parent.parent)
                    except ValueError as e:  # e.g. records of another precision still on the board
                        log.error("board not re-published: %s", e)
                if cfg.commit:
                    commit_paths(paths, f"published run: {outcome.key.slug}")
        path = write_leaderboard(cfg.out, store, list(cfg.threats))
    log.info("grid finished in %.1f s; leaderboard: %s", time.perf_counter() - t0, path)
    return GridResult(path, failed, tuple(j.key.slug for j in jobs))

def write_leaderboard(out: Path, store: ResultsStore, threats: list[str] | None = None) -> Path:
    """The local board, by the published board's path: store → ``out/entries/*.json`` → ``out/LEADERBOARD.md``
    (+ plots) and ``out/index.html``, plus the threats that could not be scored and the runs that failed."""
    entries = E.build_entries(store, _checkpoints(store, out), entry_flags(store))
    entries_dir = out / "entries"
    written = set(E.write_entries(entries, entries_dir)) if entries else set()
    for stale in set(entries_dir.glob("*.json")) - written:
        stale.unlink()
    runs = store.runs()
    failed = [(r.key, r.error) for r in runs.itertuples() if r.status == "failed"] if len(runs) else []
    everything = store.results(include_unavailable=True)
    unavailable = [(r.threat, r.unavailable) for r in everything.itertuples() if isinstance(r.unavailable, str)]
    text = render(entries, plot_dir=out, md_dir=out) if entries else "# defense-bench leaderboard\n\n" \
        "_No finished runs yet._\n"
    notes = run_notes(failed, unavailable)
    path = out / "LEADERBOARD.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text + ("\n" + notes if notes else ""))
    tmp.replace(path)
    if entries:
        write_page(entries_dir, out / "index.html")
    return path


def _checkpoints(store: ResultsStore, out: Path) -> dict[RunKey, str]:
    """Each finished run's final checkpoint under ``out/checkpoints``, relative to ``out/entries``."""
    runs = store.runs()
    found = {}
    for r in runs.itertuples() if len(runs) else []:
        key = RunKey(r.defense, r.arch, r.budget, int(r.seed))
        path = out / "checkpoints" / f"{key.slug}-{r.config_hash[:8]}.pt"
        if path.is_file():
            found[key] = os.path.relpath(path, out / "entries")
    return found
