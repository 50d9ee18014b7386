"""Re-evaluate a published entry's stored checkpoints and compare with its numbers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark import checkpoint, specs
from benchmark.data import Cifar10
from benchmark.entries import load_entry
from benchmark.evaluator import evaluate
from benchmark.models import build_model, conform_to_state_dict
from benchmark.registry import THREAT_MODELS

TOLERANCE = 0.002  # 0.2 points: evaluation is deterministic on the same thread count; other counts may
# reduce in a different order and flip a handful of the 10,000 FGSM decisions


@dataclass(frozen=True)
class Check:
    seed: int
    threat: str
    expected: float
    measured: float
    ok: bool

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        return (f"{verdict}  seed {self.seed}  {self.threat:<16s} entry {100 * self.expected:6.2f}  "
                f"measured {100 * self.measured:6.2f}  Δ {round(100 * (self.measured - self.expected), 2) + 0.0:+.2f}")


def verify(entry_path: str | Path, data: Cifar10, tolerance: float = TOLERANCE, progress: bool = True) -> list[Check]:
    """One :class:`Check` per (seed, threat) of the entry whose checkpoint is stored with it."""
    from benchmark.runner import EVAL_SEED

    entry_path = Path(entry_path)
    entry = load_entry(entry_path)
    b = entry["budget"]
    if b.get("n_train") or b.get("n_test"):
        data = data.subset(b.get("n_train"), b.get("n_test"), seed=0)
    if not entry["checkpoints"]:
        raise FileNotFoundError(f"{entry_path}: the entry lists no checkpoints to verify")
    checks = []
    for seed, rel in sorted(entry["checkpoints"].items()):
        state = checkpoint.load(entry_path.parent / rel)
        model = build_model(entry["architecture"])
        conform_to_state_dict(model, state["model"])
        model.load_state_dict(state["model"])
        threats = [specs.build(THREAT_MODELS, t) for t in entry["threats"]]
        res = evaluate(model.eval(), threats, data.x_test, data.y_test, seed=EVAL_SEED, progress=progress)
        for t in threats:
            want = entry["threats"][t.label]["per_seed"][seed]
            got = res[t.label].accuracy
            checks.append(Check(int(seed), t.label, want, got, abs(got - want) <= tolerance))
    return checks
