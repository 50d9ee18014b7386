"""defense-bench: one budget, one threat suite, one leaderboard for defenses of CIFAR-10 classifiers.

The Python API (:mod:`benchmark.api`) is importable from here: ``load_model``, ``evaluate_model``,
``run_grid``. It is loaded on first use, so ``import benchmark.cli`` stays light.
"""

from __future__ import annotations

__all__ = ["evaluate_model", "load_model", "run_grid"]


def __getattr__(name: str):
    if name in __all__:
        from benchmark import api

        return getattr(api, name)
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")
