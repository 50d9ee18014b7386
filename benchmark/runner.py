"""The benchmark grid: for each architecture × seed × defense, train (or reuse), defend, evaluate, store.

Nothing is lost: checkpoints are written atomically every epoch and results as soon as a threat is
scored, so a re-run resumes an interrupted job and skips finished ones; a defense that fails is recorded
with its error and the grid goes on.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import logging
import os
import shutil
import socket
import subprocess
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from attacks import SUITES
from benchmark import checkpoint, specs
from benchmark.budgets import Budget
from benchmark.component import check_fields
from benchmark.data import Cifar10, load_cifar10, to_float
from benchmark.evaluator import evaluate
from benchmark.executors import Executor, LocalExecutor
from benchmark.masking import DIAGNOSTIC_THREATS, PGD, flag, masking_checks
from benchmark.models import build_model, conform_to_state_dict, count_flops, count_params, cpu_latency_ms
from benchmark.provenance import code_version, config_hash
from benchmark.registry import DEFENSES, THREAT_MODELS
from benchmark.results_store import ResultsStore, RunKey
from benchmark.specs import split_specs
from benchmark.submit import check_model
from benchmark.tables import render_leaderboard
from benchmark.trainer import PRECISION_ENV, Precision, cpu_kind, train
from defenses.base import ModelContext

log = logging.getLogger("defense_bench")
EVAL_SEED = 0  # every model sees the same random threats (occlusion positions), so deltas are paired


@dataclass(frozen=True)
class RunConfig:
    """One invocation of the benchmark grid."""

    budget: Budget
    defenses: tuple[str, ...] = ("baseline", "cutout", "mixup", "cutmix", "stylized", "shape-texture",
                                 "prune-filters", "prune-layers", "prune-both")
    threats: tuple[str, ...] = SUITES["paper"]
    out: Path = Path("runs")
    seeds: tuple[int, ...] | None = None  # None: the budget's seeds
    progress: bool = True
    records: Path | None = None  # also keep each finished run as JSON + checkpoint here (a published run)
    commit: bool = False  # git-commit each record as it is written (records must be inside a git work tree)
    publish: bool = False  # after each record, re-publish the board holding ``records`` (records/../..)

    def __post_init__(self) -> None:
        if self.seeds is not None:
            check_fields(self, "run", seeds="≥ 0")
            if not self.seeds:
                raise ValueError("run: no seeds given")
        if not self.defenses:
            raise ValueError("run: no defenses given")
        if not self.threats:
            raise ValueError("run: no threats given")

    @property
    def run_seeds(self) -> tuple[int, ...]:
        return self.seeds if self.seeds is not None else self.budget.seeds


def resolve_threats(text: str) -> tuple[str, ...]:
    """A suite name or a comma-separated list of threat specs → threat specs (validated)."""
    names = SUITES.get(text.strip()) or tuple(split_specs(text))
    for n in names:
        specs.build(THREAT_MODELS, n)
    return names


def resolve_defenses(text: str) -> tuple[str, ...]:
    """A comma-separated list of defense specs, e.g. ``baseline,prune-filters(criterion=l1)`` (validated)."""
    names = tuple(split_specs(text))
    for n in names:
        specs.build(DEFENSES, n)
    return names


@dataclass(frozen=True)
class ThreatRecord:
    """One scored threat of a job, as the driver stores it (picklable, crosses process boundaries)."""

    label: str
    accuracy: float
    n: int
    seconds: float
    config: dict
    correct: torch.Tensor
    parts: dict
    unavailable: str | None


@dataclass(frozen=True)
class JobOutcome:
    """What a job sends back to the driver: the numbers to store, or the error that stopped it."""

    key: RunKey
    info: dict
    results: tuple[ThreatRecord, ...] = ()
    error: str | None = None


class Job:
    """One (defense, architecture, seed) cell of the grid under one budget.

    A job trains (or reuses) its network and evaluates it, writing only checkpoints; the driver alone
    writes the results store, so jobs can run in other processes or on other machines (Ray).
    """

    def __init__(self, cfg: RunConfig, defense: str, arch: str, seed: int, data_sizes: tuple[int, int],
                 threats: tuple[str, ...] | None = None):
        self.cfg, self.spec, self.arch, self.seed = cfg, defense, arch, seed
        self.defense = specs.build(DEFENSES, defense)
        self.threats = cfg.threats if threats is None else threats
        self.key = RunKey(self.defense.label, arch, cfg.budget.name, seed)
        self.config = {"budget": cfg.budget.hashed(), "defense": self.defense.name,
                       "defense_config": self.defense.config_dict(), "arch": arch, "seed": seed,
                       "data": {"n_train": data_sizes[0], "n_test": data_sizes[1]}}
        self.hash = config_hash(self.config)
        self.ckpt_dir = cfg.out / "checkpoints"
        self.data_sizes = data_sizes

    @property
    def final_ckpt(self) -> Path:
        return self.ckpt_dir / f"{self.key.slug}-{self.hash[:8]}.pt"

    def _train_ckpt(self) -> Path:
        # Defenses that train like the baseline (pruning) share the baseline's trained network.
        train_name = "baseline" if self.defense.trains_like_baseline else self.defense.label
        train_cfg = {k: v for k, v in self.config.items() if k not in ("defense", "defense_config")}
        # Training does not depend on the pruning fields of the budget: changing them reuses the network.
        train_cfg["budget"] = {k: v for k, v in self.config["budget"].items() if not k.startswith("prune_")}
        train_cfg["precision"] = self.cfg.budget.precision  # a bf16 epoch checkpoint never resumes an fp32 run
        train_cfg["train"] = train_name if self.defense.trains_like_baseline else [train_name,
                                                                                   self.defense.config_dict()]
        return self.ckpt_dir / f"{self.arch}-{self.cfg.budget.name}-s{self.seed}-{train_name}-train-" \
                               f"{config_hash(train_cfg)[:8]}.pt"

    def _retrain_ckpt(self, tag: str) -> Path:
        """Checkpoint of one (re)training step of ``transform_model``. The fine-tunes after each pruning
        iteration (tags ``prune<i>``) do not depend on how many iterations follow, so runs that differ only
        in ``iterations`` share them: a dose–response curve trains each iteration once."""
        digest = self.hash
        if tag.startswith("prune") and "iterations" in self.config["defense_config"]:
            shared = {**self.config, "defense_config": {k: v for k, v in self.config["defense_config"].items()
                                                        if k != "iterations"}}
            digest = config_hash(shared)
        return self.ckpt_dir / f"{self.key.slug.split('(')[0]}-{digest[:8]}-{tag}.pt"

    def _published_parent(self) -> dict | None:
        """The baseline's final checkpoint, when this job trains like the baseline, its own training
        checkpoint is absent and the baseline's run was restored from published records."""
        if not self.defense.trains_like_baseline or self.spec == "baseline" or self._train_ckpt().is_file():
            return None
        base = Job(self.cfg, "baseline", self.arch, self.seed, self.data_sizes).final_ckpt
        return checkpoint.load(base) if base.is_file() else None

    def model(self, data: Cifar10) -> tuple[nn.Module, dict]:
        """The defended network and its facts (size, cost): from its final checkpoint, or made now."""
        torch.manual_seed(self.seed)
        model = build_model(self.arch)
        if self.final_ckpt.is_file():
            state = checkpoint.load(self.final_ckpt)
            conform_to_state_dict(model, state["model"])
            model.load_state_dict(state["model"])
            return model.eval(), dict(state.get("info", {}))
        initial = copy.deepcopy(model.state_dict())
        params0, flops0, latency0 = count_params(model), count_flops(model), cpu_latency_ms(model)
        b, precision = self.cfg.budget, Precision.for_budget(self.cfg.budget.precision)
        parent = self._published_parent()
        if parent is not None:  # pruning on a fresh machine: the baseline's published network is the parent
            model.load_state_dict(parent["model"])
            seconds, train_precision = parent["info"]["train_seconds"], parent["info"]["train_precision"]
            facts = {k: parent["info"][k] for k in ("train_images_seen",) if k in parent["info"]}
        else:
            rep = train(model, data.x_train, data.y_train, self.defense, b, self.seed,
                        ckpt_path=self._train_ckpt(), precision=precision, progress=self.cfg.progress,
                        desc=f"{self.key.slug}")
            seconds, train_precision = rep.seconds, rep.precision
            facts = {**rep.facts, "train_images_seen": rep.images_seen}

        def retrain(m: nn.Module, epochs: int, tag: str, budget=b) -> nn.Module:
            nonlocal seconds
            r = train(m, data.x_train, data.y_train, DEFENSES.create("baseline"), budget, self.seed,
                      epochs=epochs, ckpt_path=self._retrain_ckpt(tag),
                      precision=precision, progress=self.cfg.progress, desc=f"{self.key.slug} {tag}")
            seconds += r.seconds
            # pruning's fine-tuning counts as training compute (the parent's images are already in facts)
            facts["train_images_seen"] = facts.get("train_images_seen", 0) + r.images_seen
            return m

        def finetune(m: nn.Module, epochs: int, tag: str) -> nn.Module:
            return retrain(m, epochs, tag, b.finetuning())

        g = torch.Generator().manual_seed(self.seed)
        pick = torch.randperm(len(data.y_train), generator=g)[: b.prune_images]
        ctx = ModelContext(finetune=finetune, train=retrain, images=to_float(data.x_train[pick]),
                           labels=data.y_train[pick], epochs=b.epochs, iterations=b.prune_iterations,
                           finetune_epochs=b.prune_finetune_epochs, seed=self.seed, initial_state=initial)
        model = self.defense.transform_model(model, ctx).eval()
        model = model.float().to(memory_format=torch.contiguous_format).cpu()
        info = {"params": count_params(model), "flops": count_flops(model), "latency_ms": cpu_latency_ms(model),
                "params_parent": params0, "flops_parent": flops0, "latency_ms_parent": latency0,
                "train_seconds": seconds, "train_precision": train_precision, "train_epochs": b.epochs,
                "device": str(precision.device), "threads": torch.get_num_threads(), **facts}
        if precision.device.type == "cpu":
            info["cpu"] = cpu_kind()
        checkpoint.save_atomic({"model": model.state_dict(), "arch": self.arch, "config_hash": self.hash,
                                "info": info}, self.final_ckpt)
        return model, info

    def execute(self, data: Cifar10) -> JobOutcome:
        """Train or reuse, then evaluate the threats; never raises (the error is in the outcome)."""
        try:
            model, info = self.model(data)
            check_model(model, self.defense.label)
            todo = [specs.build(THREAT_MODELS, t) for t in self.threats]
            res = evaluate(model, todo, data.x_test, data.y_test, seed=EVAL_SEED, progress=self.cfg.progress)
            records = tuple(ThreatRecord(t.label, r.accuracy, r.n, r.seconds, t.config_dict(), r.correct, r.parts,
                                         r.unavailable) for t in todo for r in [res[t.label]])
            return JobOutcome(self.key, info, records)
        except Exception as e:  # one failing defense must not stop the grid
            log.debug("%s", traceback.format_exc())
            return JobOutcome(self.key, {}, error=f"{type(e).__name__}: {e}".splitlines()[0][:500])


def record(store: ResultsStore, outcome: JobOutcome) -> None:
    """Write a job's outcome to the store (driver only)."""
    if outcome.info:
        store.update_info(outcome.key, **outcome.info)
    for r in outcome.results:
        store.add_result(outcome.key, r.label, r.accuracy, r.n, r.seconds, r.config, r.correct, r.parts,
                         r.unavailable)
    store.finish_run(outcome.key, error=outcome.error)
    if outcome.error:
        log.error("%s failed: %s", outcome.key.slug, outcome.error)
    else:
        log.info("%s: %s", outcome.key.slug,
                 ", ".join(f"{r.label} {100 * r.accuracy:.2f}" for r in outcome.results if r.unavailable is None))


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
                todo = tuple(t for t, m in zip(cfg.threats, threats, strict=True)
                             if done.get(m.label) != json.dumps(m.config_dict()))
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


@contextlib.contextmanager
def pinned_precision(precision: str):
    """``$DEFENSE_BENCH_PRECISION`` set to a budget's declared precision while its grid runs (the stylizer
    and Ray workers read it there), restored afterwards."""
    old = os.environ.get(PRECISION_ENV)
    if precision != "auto":
        os.environ[PRECISION_ENV] = precision
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PRECISION_ENV, None)
        else:
            os.environ[PRECISION_ENV] = old


def _run_grid(cfg: RunConfig, data: Cifar10 | None, data_path: str | None, executor: Executor | None) -> GridResult:
    t0 = time.perf_counter()
    b = cfg.budget
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


def restore_records(records: Path, store: ResultsStore, ckpt_dir: Path, budget: Budget | None = None) -> int:
    """Load the run records kept in ``records`` (and their checkpoints) into ``store``: a fresh machine
    continues a published run from what was committed. Records of ``budget`` trained in another precision
    than it declares are not restored (their runs are trained again). Returns how many runs were restored."""
    n = 0
    for path in sorted(records.glob("*.json")):
        rec = json.loads(path.read_text())
        key = RunKey(**rec["key"])
        made = rec.get("info", {}).get("train_precision", "")
        if budget is not None and key.budget == budget.name and not budget.accepts(made):
            log.warning("%s: trained in %s, budget %s declares %s: not reused, trained again", path.name,
                        made or "an unrecorded precision", budget.name, budget.precision)
            continue
        status = store.run_status(key)
        if status and status == ("done", rec["config_hash"]):
            continue
        store.import_run(rec)
        ckpt = path.with_suffix(".pt")
        target = ckpt_dir / f"{key.slug}-{rec['config_hash'][:8]}.pt"
        if ckpt.is_file() and not target.is_file():
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ckpt, target)
        n += 1
    if n:
        log.info("restored %d runs from %s", n, records)
    return n


def keep_record(store: ResultsStore, key: RunKey, final_ckpt: Path, records: Path) -> list[Path]:
    """Write ``key``'s run as ``records/<slug>.json`` and its final checkpoint beside it (atomically)."""
    records.mkdir(parents=True, exist_ok=True)
    rec = store.export_run(key)
    target = records / f"{key.slug}.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    tmp.replace(target)
    paths = [target]
    if final_ckpt.is_file():
        state = checkpoint.load(final_ckpt)
        checkpoint.save_atomic({k: state[k] for k in ("model", "arch", "config_hash", "info") if k in state},
                               target.with_suffix(".pt"))
        paths.append(target.with_suffix(".pt"))
    return paths


def publish_board(board: Path) -> list[Path]:
    """Re-export ``board/entries`` from every ``board/runs/*`` and re-render ``board/LEADERBOARD.md``;
    returns the files written (entries, markdown, plots)."""
    from benchmark.publish import publish

    md = board / "LEADERBOARD.md"
    entries = publish(sorted(p for p in (board / "runs").glob("*") if p.is_dir()), board / "entries", md)
    return [*entries, md, *board.glob("plot-*.png")]


def commit_paths(paths: list[Path], message: str) -> None:
    """``git add`` + ``git commit`` only ``paths`` (other changes in the work tree are left alone); a
    failure is logged, not raised: the record is on disk and the next commit takes it along."""
    cwd = paths[0].parent
    rel = [str(p.resolve()) for p in paths]
    for cmd in (["git", "add", "--", *rel], ["git", "commit", "-q", "-m", message, "--", *rel]):
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        if out.returncode:
            log.warning("could not commit %s: %s", message, (out.stderr or out.stdout).strip().splitlines()[:1])
            return


def masking_flags(store: ResultsStore, runs, results) -> list[str]:
    """The gradient-masking flag of every run (``–`` where the full suite was not run)."""
    flags = []
    for r in runs.itertuples():
        rows = results[(results.defense == r.defense) & (results.arch == r.arch) & (results.budget == r.budget)
                       & (results.seed == r.seed)]
        acc = dict(zip(rows.threat, rows.accuracy, strict=True))
        n = dict(zip(rows.threat, rows.n, strict=True))
        key = RunKey(r.defense, r.arch, r.budget, int(r.seed))
        pgd = store.correct(key, PGD) if PGD in acc else None
        checks = masking_checks(acc, n, {PGD: pgd} if pgd is not None else None, n.get("clean"), EVAL_SEED)
        flags.append(flag(checks))
    return flags


def write_leaderboard(out: Path, store: ResultsStore, threats: list[str] | None = None) -> Path:
    runs, results = store.runs(), store.results()
    if len(runs):
        runs["masking"] = masking_flags(store, runs, results)
    failed = runs[runs["status"] == "failed"] if len(runs) else None
    if threats is not None:
        threats = [t for t in threats if t not in DIAGNOSTIC_THREATS]
    everything = store.results(include_unavailable=True)
    text = render_leaderboard(results[~results.threat.isin(DIAGNOSTIC_THREATS)], runs, threats, failed,
                              unavailable=everything[everything.unavailable.notna()])
    path = out / "LEADERBOARD.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
