"""The board's curves, from entries alone: accuracy against ε (the ε sweep) and the pruning dose–response
(Δ against the compute-matched control as FLOPs are removed), each as a markdown table and a PNG."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

from benchmark import specs, study
from benchmark.registry import THREAT_MODELS

STRUCTURES = study.STRUCTURES


def eps_of(label: str) -> tuple[str, float, int | None] | None:
    """(attack, ε in /255, n_images) of an FGSM or PGD threat label, else None (PGD-100 diagnostics excluded)."""
    m = re.match(r"^(fgsm|pgd)\b", label)
    if not m:
        return None
    cfg = specs.build(THREAT_MODELS, label).config
    if m.group(1) == "pgd" and cfg.steps != 20:
        return None
    return m.group(1), round(cfg.eps * 255, 3), getattr(cfg, "n_images", None)


def sweep(entry: dict) -> dict[str, dict[float, dict]]:
    """attack → ε → the entry's threat summary, for the FGSM (all images) and PGD-20 (seeded 1k) points."""
    out: dict[str, dict[float, dict]] = defaultdict(dict)
    for label, t in entry["threats"].items():
        p = eps_of(label)
        if p and (p[0] == "fgsm" or p[2] == 1000):
            out[p[0]][p[1]] = t
    return out


SEEDS_NOTE = ("(s0), (s0,1): the cell holds only those seeds, where its row has more (a threat still being "
              "evaluated on the row's other seeds).")


def seeds_mark(t: dict, seeds: list[int]) -> str:
    """`` (s0)`` when threat summary ``t`` holds fewer seeds than its entry's ``seeds``, else ``""``."""
    have = sorted(int(s) for s in t.get("per_seed", {}))
    return f" (s{','.join(map(str, have))})" if have and have != sorted(seeds) else ""


def _cell(t: dict | None, seeds: list[int]) -> str:
    if not t:
        return "–"
    return (f"{100 * t['mean']:.2f}" + (f" ± {100 * t['ci95']:.2f}" if t.get("ci95") is not None else "")
            + seeds_mark(t, seeds))


def _savefig(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _figure(ncols: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.6), dpi=110, squeeze=False)


def eps_section(group: list[dict], order: list[dict], plot_path: Path | None) -> tuple[str, Path | None]:
    """The ε-sweep table (accuracy %, mean ± 95% half-width) and plot; empty where no entry has a sweep."""
    sweeps = {e["name"]: sweep(e) for e in order}
    eps = {a: sorted({x for s in sweeps.values() for x in s.get(a, {})}) for a in ("fgsm", "pgd")}
    if sum(len(s.get("pgd", {})) + len(s.get("fgsm", {})) > 2 for s in sweeps.values()) == 0:
        return "", None
    header = ["Defense"] + [f"{a.upper()} {x:g}/255" for a in ("fgsm", "pgd") for x in eps[a]]
    seeds = {e["name"]: e["seeds"] for e in order}
    rows = [[f"`{n}`"] + [_cell(s.get(a, {}).get(x), seeds[n]) for a in ("fgsm", "pgd") for x in eps[a]]
            for n, s in sweeps.items()]
    text = "\n".join(["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |",
                      *("| " + " | ".join(r) + " |" for r in rows)])
    text += "\n\nFGSM on every test image; PGD-20 (step ε/4) on the seeded 1,000. " + SEEDS_NOTE
    if plot_path is None:
        return text, None
    fig, axes = _figure(2)
    for ax, attack in zip(axes[0], ("fgsm", "pgd"), strict=True):
        for n, s in sweeps.items():
            pts = sorted(s.get(attack, {}).items())
            if pts:
                ax.errorbar([x for x, _ in pts], [100 * t["mean"] for _, t in pts],
                            yerr=[100 * (t.get("ci95") or 0) for _, t in pts], marker="o", ms=3, capsize=2, label=n)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("ε (/255)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(attack.upper(), fontsize=9)
    axes[0][1].legend(fontsize=6)
    return text, _savefig(fig, plot_path)


def _iterations(e: dict) -> int | None:
    return e["defense_config"].get("iterations")


def dose_response(group: list[dict]) -> dict[str, list[dict]]:
    """structure → its pruning entries with a stated ``iterations`` and a control, by FLOPs removed."""
    out: dict[str, list[dict]] = defaultdict(list)
    for e in group:
        if e["defense"] in STRUCTURES and study.is_point(e) and e.get("deltas_vs_control"):
            out[e["defense"]].append(e)
    return {k: sorted(v, key=lambda e: _iterations(e)) for k, v in out.items()}


def _latency(e: dict) -> str:
    if e.get("latency_ms") is None:
        return "–"
    parent = f" of {e['latency_ms_parent']:.2f}" if e.get("latency_ms_parent") else ""
    return f"{e['latency_ms']:.2f}{parent}"


def dose_section(group: list[dict], plot_path: Path | None) -> tuple[str, Path | None]:
    """Per structure: iterations, params and FLOPs removed, clean and robustness Δ vs the control (95%)."""
    curves = dose_response(group)
    if not curves:
        return "", None
    header = ["Structure", "Iterations", "Seeds", "Params ↓", "FLOPs ↓", "CPU latency (ms)", "Clean Δ vs control",
              "Robustness Δ vs control"]

    def delta(d: dict | None) -> str:
        if not d:
            return "–"
        return f"{100 * d['mean']:+.2f}" + (f" ± {100 * d['ci95']:.2f}" if d.get("ci95") is not None else "")

    ops = study.operating_points(group)
    rows = [[STRUCTURES[k], str(_iterations(e)) + (" ◆" if e is ops.get(k) else ""), ",".join(map(str, e["seeds"])),
             f"{100 * study.removed(e, 'params'):.1f}%",
             f"{100 * study.removed(e, 'flops'):.1f}%", _latency(e), delta(e["deltas_vs_control"].get("clean")),
             delta(e["deltas_vs_control"].get("robustness"))] for k, es in curves.items() for e in es]
    text = "\n".join(["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |",
                      *("| " + " | ".join(r) + " |" for r in rows)])
    text += ("\n\n◆ the operating point quoted in Tables 4 and 1 (nearest 50% of FLOPs removed). Δ vs the "
             "`finetune-only` control at the same fine-tuning, paired by seed, 95% intervals as in Table 4 (a "
             "point's seeds set its interval: with 2 seeds the t quantile is 12.7, with 5 it is 2.8). Latency: "
             "one image (batch 1, fp32) on the CPU of the machine that ran the point, median over the point's "
             "seeds of each seed's fastest of 30 timings (the median of 30 in records made before 2026-11-28 "
             "11:20 UTC): compare points run alike (on a shared many-core machine, as for points trained on a "
             "GPU, one unpruned network measured from 1.3 to 1.95 ms across the control's points: there latency "
             "does not resolve the pruning's effect).")
    if plot_path is None:
        return text, None
    fig, axes = _figure(len(curves))
    for ax, (k, es) in zip(axes[0], curves.items(), strict=True):
        x = [100 * study.removed(e, "flops") for e in es]
        for key, color in (("robustness", "tab:red"), ("clean", "tab:blue")):
            ds = [e["deltas_vs_control"].get(key) or {"mean": math.nan, "ci95": None} for e in es]
            y = [100 * d["mean"] for d in ds]
            hw = [100 * (d.get("ci95") or 0) for d in ds]
            ax.plot(x, y, marker="o", ms=3, color=color, label=f"Δ {key} vs control")
            ax.fill_between(x, [a - b for a, b in zip(y, hw, strict=True)], [a + b for a, b in zip(y, hw, strict=True)],
                            color=color, alpha=0.2)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel("FLOPs removed (%)")
        ax.set_ylabel("points")
        ax.set_title(STRUCTURES[k], fontsize=9)
    axes[0][0].legend(fontsize=7)
    return text, _savefig(fig, plot_path)
