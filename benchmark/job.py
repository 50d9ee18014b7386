"""One cell of the grid: its configuration (:class:`RunConfig`), and the :class:`Job` that obtains the
network (train, or reuse a checkpoint), applies the defense and evaluates the threats."""

from __future__ import annotations

import copy
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from attacks import SUITES
from benchmark import checkpoint, specs
from benchmark.budgets import Budget
from benchmark.component import check_fields
from benchmark.conformance import check_model
from benchmark.data import Cifar10, to_float
from benchmark.evaluator import EVAL_SEED, evaluate
from benchmark.models import build_model, conform_to_state_dict, count_flops, count_params, cpu_latency_ms
from benchmark.precision import Precision, cpu_kind
from benchmark.provenance import config_hash
from benchmark.registry import DEFENSES, THREAT_MODELS
from benchmark.results_store import RunKey
from benchmark.specs import split_specs
from benchmark.trainer import train
from defenses.base import ModelContext

log = logging.getLogger("defense_bench")


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
    """Suite names and threat specs, comma-separated (``paper,eps-sweep``, ``full``, ``fgsm,pgd(eps=4/255)``)
    → threat specs, each once in first-seen order (validated)."""
    names = tuple(dict.fromkeys(n for part in split_specs(text) for n in SUITES.get(part.strip(), (part,))))
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
        iteration (tags ``prune<i>``) are keyed by the defense's ``chain_config`` (not by ``iterations``,
        nor for pruning by the adjustment), so a dose–response curve trains each iteration once and
        Table 2's adjustments reuse the fine-tune row's chain."""
        digest = self.hash
        if tag.startswith("prune") and "iterations" in self.config["defense_config"]:
            digest = config_hash({**self.config, "defense_config": self.defense.chain_config()})
        return self.ckpt_dir / f"{self.key.slug.split('(')[0]}-{digest[:8]}-{tag}.pt"

    def _published_parent(self) -> dict | None:
        """The baseline's final checkpoint, when this job trains like the baseline, its own training
        checkpoint is absent and the baseline's run was restored from published records."""
        if not self.defense.trains_like_baseline or self.spec == "baseline" or self._train_ckpt().is_file():
            return None
        base = Job(self.cfg, "baseline", self.arch, self.seed, self.data_sizes).final_ckpt
        return checkpoint.load(base) if base.is_file() else None

    def defended_network(self, data: Cifar10) -> tuple[nn.Module, dict]:
        """The defended network and its facts (size, cost): its final checkpoint if this job finished before,
        else :meth:`obtain_network` then :meth:`apply_defense`, saved as the final checkpoint."""
        if self.final_ckpt.is_file():
            state = checkpoint.load(self.final_ckpt)
            model = build_model(self.arch)
            conform_to_state_dict(model, state["model"])
            model.load_state_dict(state["model"])
            return model.eval(), dict(state.get("info", {}))
        model, facts = self.obtain_network(data)
        model, facts = self.apply_defense(model, facts, data)
        checkpoint.save_atomic({"model": model.state_dict(), "arch": self.arch, "config_hash": self.hash,
                                "info": facts}, self.final_ckpt)
        return model, facts

    def obtain_network(self, data: Cifar10) -> tuple[nn.Module, dict]:
        """Step 1: the trained network the defense starts from — trained now with the defense's batches
        (resuming its epoch checkpoint), shared with the baseline when it trains like it, or the published
        baseline's network; with the facts of that training and of the untrained parent."""
        torch.manual_seed(self.seed)
        model = build_model(self.arch)
        facts = {"initial_state": copy.deepcopy(model.state_dict()), "params_parent": count_params(model),
                 "flops_parent": count_flops(model), "latency_ms_parent": cpu_latency_ms(model)}
        parent = self._published_parent()
        if parent is not None:  # pruning on a fresh machine: the baseline's published network is the parent
            model.load_state_dict(parent["model"])
            facts.update(train_seconds=parent["info"]["train_seconds"],
                         train_precision=parent["info"]["train_precision"],
                         **{k: parent["info"][k] for k in ("train_images_seen",) if k in parent["info"]})
            return model, facts
        b = self.cfg.budget
        rep = train(model, data.x_train, data.y_train, self.defense, b, self.seed, ckpt_path=self._train_ckpt(),
                    precision=Precision.for_budget(b.precision), progress=self.cfg.progress, desc=self.key.slug)
        facts.update(rep.facts, train_seconds=rep.seconds, train_precision=rep.precision,
                     train_images_seen=rep.images_seen)
        return model, facts

    def apply_defense(self, model: nn.Module, facts: dict, data: Cifar10) -> tuple[nn.Module, dict]:
        """Step 2: ``transform_model`` of the defense (pruning and its fine-tuning; the identity for data
        defenses), its training counted in the facts; the result in eval mode, fp32, on the CPU."""
        b, precision = self.cfg.budget, Precision.for_budget(self.cfg.budget.precision)
        facts = dict(facts)
        initial = facts.pop("initial_state")

        def retrain(m: nn.Module, epochs: int, tag: str, budget=b) -> nn.Module:
            r = train(m, data.x_train, data.y_train, DEFENSES.create("baseline"), budget, self.seed,
                      epochs=epochs, ckpt_path=self._retrain_ckpt(tag),
                      precision=precision, progress=self.cfg.progress, desc=f"{self.key.slug} {tag}")
            facts["train_seconds"] += r.seconds
            facts["finetune_precision"] = r.precision  # checked like train_precision: one arithmetic per board
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
        facts.update(params=count_params(model), flops=count_flops(model), latency_ms=cpu_latency_ms(model),
                     train_epochs=b.epochs, device=str(precision.device), threads=torch.get_num_threads())
        if precision.device.type == "cpu":
            facts["cpu"] = cpu_kind()
        return model, facts

    def execute(self, data: Cifar10) -> JobOutcome:
        """Train or reuse, then evaluate the threats; never raises (the error is in the outcome)."""
        try:
            model, info = self.defended_network(data)
            check_model(model, self.defense.label)
            todo = [specs.build(THREAT_MODELS, t) for t in self.threats]
            res = evaluate(model, todo, data.x_test, data.y_test, seed=EVAL_SEED, progress=self.cfg.progress,
                           device=Precision.for_budget(self.cfg.budget.precision).device)  # where it trained
            records = tuple(ThreatRecord(t.label, r.accuracy, r.n, r.seconds, t.config_dict(), r.correct, r.parts,
                                         r.unavailable) for t in todo for r in [res[t.label]])
            return JobOutcome(self.key, info, records)
        except Exception as e:  # one failing defense must not stop the grid
            log.debug("%s", traceback.format_exc())
            return JobOutcome(self.key, {}, error=f"{type(e).__name__}: {e}".splitlines()[0][:500])
