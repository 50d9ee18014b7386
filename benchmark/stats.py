"""95% confidence intervals for accuracies and for deltas vs the baseline.

With k ≥ 2 seeds: Student's t-interval over seeds (``scipy.stats.t``), the defense and the baseline
paired by seed (the same seed draws the same initialisation and batch order for both). With one seed:
a paired bootstrap over test images (the per-image outcomes of the defense and the baseline are
resampled together), which captures test-set sampling noise only, not training noise — tables say so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """``mean`` ± ``half_width`` (NaN half-width: no interval), and how it was computed."""

    mean: float
    half_width: float
    method: str

    @property
    def excludes_zero(self) -> bool:
        return bool(not math.isnan(self.half_width) and abs(self.mean) > self.half_width)

    def as_dict(self) -> dict:
        hw = None if math.isnan(self.half_width) else self.half_width
        return {"mean": self.mean, "ci95": hw, "method": self.method, "excludes_zero": self.excludes_zero}


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean ± t_{(1+level)/2, k−1} · s / √k over ``values`` (k ≥ 2; one value has no interval)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return Interval(math.nan, math.nan, "none")
    if len(v) == 1:
        return Interval(float(v[0]), math.nan, "single seed")
    hw = stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return Interval(float(v.mean()), float(hw), f"t over {len(v)} seeds")


def paired_t(defense: Sequence[float], baseline: Sequence[float], level: float = LEVEL) -> Interval:
    """Interval of the mean difference defense − baseline, paired by seed."""
    d = np.asarray(defense, dtype=float) - np.asarray(baseline, dtype=float)
    i = t_interval(d, level)
    return Interval(i.mean, i.half_width, f"paired t over {len(d)} seeds")


def paired_bootstrap(defense: Sequence[np.ndarray], baseline: Sequence[np.ndarray], resamples: int = 2000,
                     seed: int = 0, level: float = LEVEL) -> Interval:
    """Mean over threats of the accuracy difference, with a percentile bootstrap over test images.

    ``defense[i]`` and ``baseline[i]`` are the per-image outcomes (bool) of threat i on the same images;
    each resample draws images with replacement, independently per threat, jointly for the pair.
    The half-width is half the width of the percentile interval (it is nearly symmetric here).
    """
    rng = np.random.default_rng(seed)
    diffs = [np.asarray(a, dtype=float) - np.asarray(b, dtype=float) for a, b in zip(defense, baseline, strict=True)]
    point = float(np.mean([d.mean() for d in diffs]))
    boot = np.zeros(resamples)
    for d in diffs:
        idx = rng.integers(0, len(d), (resamples, len(d)))
        boot += d[idx].mean(1)
    boot /= len(diffs)
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Interval(point, float(hi - lo) / 2, f"paired bootstrap over test images ({resamples} resamples)")
