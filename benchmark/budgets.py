"""Declared training budgets: every defense under one budget gets the same architecture, data and schedule."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from benchmark.component import check_fields

PRECISIONS = ("fp32", "bf16", "auto")

@dataclass(frozen=True)
class Budget:
    """One common training and evaluation budget.

    Attributes:
        name: the budget's name as the CLI takes it.
        archs: architectures trained under this budget (one leaderboard per architecture).
        epochs: training epochs of every defense (pruning fine-tunes on top, see ``prune_*``).
        batch_size: images per SGD step.
        lr: peak learning rate (one-cycle) or initial learning rate (multistep).
        momentum: Nesterov momentum.
        weight_decay: L2 penalty on every parameter.
        schedule: ``"onecycle"`` (linear warm-up over ``warmup`` of training, then linear decay to 0,
            Smith & Topin 2019) or ``"multistep"`` (÷10 at each of ``milestones``, He et al. 2016).
        warmup: fraction of the steps spent warming up (one-cycle only).
        milestones: fractions of the run at which multistep divides the learning rate by 10
            (the paper's epochs 100 and 150 of 200 are 0.5 and 0.75), so fine-tuning runs scale too.
        n_train / n_test: seeded subsets of the training / test images (``None``: all of them).
        seeds: training seeds of a published run.
        prune_iterations: pruning iterations (each removes a fraction and fine-tunes).
        prune_finetune_epochs: fine-tuning epochs after each pruning iteration.
        prune_finetune_lr: fine-tuning learning rate, decayed linearly to 0 without warm-up (default: a
            tenth of ``lr``: fine-tuning adjusts a trained network rather than retraining it).
        prune_images: clean training images used to score filters and layers.
        precision: the arithmetic every run of this budget trains in: ``"fp32"`` (every CPU runs it; a GPU
            runs it with TF32 off), ``"bf16"`` (autocast) or ``"auto"`` (bf16 only where it is fast: a local
            speed option, never a published board). Records of another precision are refused on its board;
            ``with_precision`` makes a differently named budget for them.
    """

    name: str
    archs: tuple[str, ...]
    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup: float = 0.25
    milestones: tuple[float, ...] = ()
    n_train: int | None = None
    n_test: int | None = None
    seeds: tuple[int, ...] = (0,)
    prune_iterations: int = 1
    prune_finetune_epochs: int = 1
    prune_finetune_lr: float | None = None
    prune_images: int = 1000
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.schedule not in ("onecycle", "multistep"):
            raise ValueError(f"budget {self.name}: unknown schedule {self.schedule!r}")
        check_fields(self, f"budget {self.name}", epochs="> 0", batch_size="> 0", lr="> 0", momentum="in [0, 1)",
                     weight_decay="≥ 0", warmup="in [0, 1)", milestones="in (0, 1]", n_train="> 0", n_test="> 0",
                     seeds="≥ 0", prune_iterations="≥ 0", prune_finetune_epochs="≥ 0", prune_finetune_lr="> 0",
                     prune_images="> 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"budget {self.name}: precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")

    def with_precision(self, precision: str | None) -> Budget:
        """This budget, or (for another precision) a copy named ``<name>-<precision>``: records made in
        another arithmetic never land on this budget's board."""
        if precision is None or precision == self.precision:
            return self
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        return dataclasses.replace(self, name=f"{self.name}-{precision}", precision=precision)

    def accepts(self, train_precision: str) -> bool:
        """Whether a run that trained in ``train_precision`` (e.g. ``"cpu fp32 channels_last"``, as the
        trainer records it) belongs on this budget's board."""
        if self.precision == "auto":
            return True
        words = train_precision.split()
        return ({"fp32": "fp32", "bfloat16": "bf16"}.get(words[1]) if len(words) > 1 else None) == self.precision

    def foreign_precision(self, info: dict) -> str | None:
        """The first arithmetic a run record's ``info`` names (its training's, then its fine-tuning's, as a
        pruned network's own fine-tuning may run elsewhere than its parent's training) that this budget does not
        accept; None when all belong on its board."""
        for field in ("train_precision", "finetune_precision"):
            made = info.get(field)
            if (made is not None or field == "train_precision") and not self.accepts(made or ""):
                return made or f"no {field}"
        return None

    def hashed(self) -> dict:
        """The fields that enter a run's config hash. ``precision`` is left out: it is checked from what
        each record measured (``accepts``), so records of one configuration made before budgets declared a
        precision keep their hash, and a record of the wrong arithmetic is refused rather than renamed."""
        d = dataclasses.asdict(self)
        d.pop("precision")
        return d

    def lr_at(self, step: int, steps_per_epoch: int, epochs: int | None = None) -> float:
        """Learning rate at optimisation ``step`` of a run of ``epochs`` (default: the budget's)."""
        epochs = epochs or self.epochs
        total = max(1, steps_per_epoch * epochs)
        t = step / total
        if self.schedule == "multistep":
            return self.lr * 0.1 ** sum(t >= m for m in self.milestones)
        if t < self.warmup:
            return self.lr * t / self.warmup
        return self.lr * max(0.0, (1 - t) / (1 - self.warmup))

    def finetuning(self) -> Budget:
        """This budget with the fine-tuning schedule: linear decay from ``prune_finetune_lr`` to 0."""
        lr = self.prune_finetune_lr if self.prune_finetune_lr is not None else self.lr / 10
        return dataclasses.replace(self, lr=lr, schedule="onecycle", warmup=0.0)

    def describe(self) -> str:
        """One line stating the budget, printed with every result."""
        data = f"{self.n_train or 50000} train / {self.n_test or 10000} test images"
        sched = (f"one-cycle (warm-up {self.warmup:.0%})" if self.schedule == "onecycle"
                 else "lr ÷10 at " + ", ".join(f"epoch {round(m * self.epochs)}" for m in self.milestones))
        return (f"budget `{self.name}`: {'/'.join(self.archs)}, {self.epochs} epochs, batch {self.batch_size}, "
                f"SGD-Nesterov lr {self.lr} momentum {self.momentum} wd {self.weight_decay}, {sched}, {data}, "
                f"precision {self.precision}")


BUDGETS: dict[str, Budget] = {
    b.name: b
    for b in (
        # Seconds to a minute on 2 CPU cores: tests and first looks, numbers are not meaningful.
        Budget("smoke", ("resnet20",), epochs=2, batch_size=128, lr=0.1, n_train=4096, n_test=512,
               prune_iterations=1, prune_finetune_epochs=1, prune_images=256, precision="auto"),
        # ResNet-20 on all of CIFAR-10, sized for ~8 minutes of training on 2 CPU cores.
        Budget("quick", ("resnet20",), epochs=12, batch_size=256, lr=0.4, weight_decay=5e-4,
               seeds=(0, 1, 2), prune_iterations=2, prune_finetune_epochs=2, prune_images=2000),
        # The paper's (Jordao & Pedrini 2021) schedule; GPU-sized.
        Budget("paper", ("resnet56", "mobilenetv2"), epochs=200, batch_size=128, lr=0.1, weight_decay=5e-4,
               schedule="multistep", milestones=(0.5, 0.75), seeds=(0,), prune_iterations=5,
               prune_finetune_epochs=20, prune_images=5000),
    )
}


def get_budget(name: str, **overrides: object) -> Budget:
    """A registered budget, optionally with fields replaced (``dataclasses.replace``)."""
    if name not in BUDGETS:
        base, _, precision = name.rpartition("-")
        if base in BUDGETS and precision in PRECISIONS:  # e.g. quick-bf16: a budget with its precision overridden
            return get_budget(base, **overrides).with_precision(precision)
        raise ValueError(f"unknown budget {name!r}; available: {', '.join(BUDGETS)}")
    return dataclasses.replace(BUDGETS[name], **overrides) if overrides else BUDGETS[name]
