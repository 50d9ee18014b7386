"""An entry's training-compute and latency fields, from the run rows of its seeds (device, CPU kind,
precision and threads per seed where seeds ran differently)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def latency(rows) -> dict:
    """Measured CPU latency (ms per image, batch 1, this run's machine) of the defended network and its parent,
    median over seeds, where the runs recorded it: one seed timed beside another process (672 ms for a network
    that takes 2) must not move the point as a mean would."""
    out = {}
    for k in ("latency_ms", "latency_ms_parent"):
        if k in rows and rows[k].notna().any():
            out[k] = float(rows[k].median())
    return out


def compute(rows) -> dict:
    def mean(col: str) -> float | None:
        # a zero is "not recorded" (a network trained by an older version, reused from its checkpoint)
        vals = [v for r in rows.itertuples() if col in rows and (v := getattr(r, col)) == v and v]
        return float(np.mean(vals)) if vals else None

    first = rows.iloc[0]
    seen = mean("train_images_seen")
    flops_parent = float(first.flops_parent)
    out = {"epochs": int(first.train_epochs), "train_seconds": mean("train_seconds"),
           "train_images_seen": seen,
           # forward + backward ≈ 3 forward passes per image (Kaplan et al. 2020); the stylizer's passes are
           # in train_seconds, not in this estimate
           "train_flops_estimate": 3 * flops_parent * seen if seen else None,
           # where seeds ran differently (a CPU seed beside GPU seeds, a fine-tune on another machine than its
           # parent's training) each of these says which seed ran how
           "device": _by_seed(rows, "device"), "threads": _threads(rows),
           "precision": _by_seed(rows, "train_precision")}
    for col in ("finetune_precision", "cpu"):  # the CPU kind of each seed: its times depend on it
        if col in rows and (by_seed := _by_seed(rows, col)):
            out[col] = by_seed
    if "stylizer" in rows and isinstance(first.stylizer, str):
        out |= {"stylizer": first.stylizer, "stylizer_seconds": float(first.stylizer_seconds)}
    return out


def _threads(rows) -> int | str | None:
    """The CPU threads of the runs: one number when every seed used as many, else by seed."""
    if "threads" not in rows or rows["threads"].isna().all():
        return None
    vals = {int(v) for v in rows["threads"].dropna()}
    if len(vals) == 1 and rows["threads"].notna().all():
        return vals.pop()
    return _by_seed(rows.assign(threads=[str(int(v)) if v == v else None for v in rows["threads"]]), "threads")


def _by_seed(rows, col: str) -> str:
    """The recorded values of `col`: one value shared by every seed as is, else `a (s0, s1); b (s2)` (seeds
    that did not record it left out) so that a reader sees which seed ran where and how."""
    seeds: dict[str, list[int]] = defaultdict(list)
    for r in rows.itertuples():
        if isinstance(v := getattr(r, col), str):
            seeds[v].append(int(r.seed))
    if not seeds:
        return ""
    if len(seeds) == 1 and len(next(iter(seeds.values()))) == len(rows):  # every seed alike
        return next(iter(seeds))
    ordered = sorted(seeds.items(), key=lambda kv: min(kv[1]))
    return "; ".join(f"{v} ({', '.join(f's{x}' for x in sorted(ss))})" for v, ss in ordered)
