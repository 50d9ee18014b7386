"""The board renderer: entries in, ``LEADERBOARD.md`` (Table 4 in the paper's layout, the pruning tables,
compute, the multiplicity note) and its plots out. It reads only entry dicts, so what a reader sees is
exactly what the entry files hold."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path

from attacks import SUITES
from benchmark import curves, study
from benchmark import entries as E
from benchmark.corruption_tables import corruption_tables
from benchmark.labels import THREAT_TITLES, threat_title  # noqa: F401 - re-exported
from benchmark.multiplicity import MARK, TABLE4_SUMMARY, holm, multiplicity_note  # noqa: F401 - re-exported
from benchmark.pruning_notes import pruning_table_notes
from benchmark.verdict import verdict


def run_notes(failed: list[tuple[str, str]], unavailable: list[tuple[str, str]]) -> str:
    """The local board's last sections: threats that could not be scored and runs that failed (name, why)."""
    parts = []
    if unavailable:
        parts += ["## Threats not evaluated", "", *sorted({f"- `{t}`: {why}" for t, why in unavailable}), ""]
    if failed:
        parts += ["## Failed runs", "", *(f"- `{k}`: {why}" for k, why in failed), ""]
    return "\n".join(parts)


def masking_cell(flag: str | None) -> str:
    """The Masking cell: the checks' verdict (``ok``, or ``⚠`` naming the failed ones), or "not checked" where
    the full suite was not run on the entry — never a bare dash."""
    return flag if flag and flag != "–" else "not checked"


def _pct(x: float | None, hw: float | None = None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{100 * x:.2f}" + (f" ± {100 * hw:.2f}" if hw is not None else "")


def _delta(d: dict | None) -> str:
    if not d:
        return "–"
    shown = round(100 * d["mean"], 2) + 0.0
    text = f"({'-' if shown < 0 else '+'}) {abs(shown):.2f}"
    if d["ci95"] is not None:
        text += f" ± {100 * d['ci95']:.2f}"
    return text + (f" {MARK}" if d["excludes_zero"] else "")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join([_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)])


def _order(entries: list[dict]) -> list[dict]:
    """Baseline first, then the data defenses, then pruning, each alphabetically."""
    return sorted(entries, key=lambda e: (e["name"] != E.BASELINE, e["defense"].startswith("prune"), e["name"]))


def _threats(entries: list[dict]) -> list[str]:
    seen = []
    for e in entries:
        seen += [t for t in e["threats"] if t not in seen]
    return (["clean"] if "clean" in seen else []) + [t for t in seen if t != "clean"]


def _interval_note(group: list[dict]) -> str:
    acc = sorted({t.get("method", "") for e in group for t in e["threats"].values()} - {""})
    methods = sorted({d["method"].split(" (")[0] for e in group for d in (e["deltas"] or {}).values()})
    return (f"accuracies: {'; '.join(acc) or 'none'}; deltas: "
            + ("; ".join(methods) if methods else "no baseline to compare with"))


def _qualifier(e: dict, group: list[dict] | None = None) -> str:
    """What a row's name does not say but a reader must know to compare it."""
    notes = [n] if group and (n := study.operating_note(e, group)) else []
    if e["defense"] == "cutout":
        fill = e["defense_config"].get("fill", "zero")  # entries from before the option filled with zeros
        notes.append("mean-colour hole" if fill == "mean" else "black hole = the occlusion threat's patch")
    if str(e["compute"].get("stylizer", "")).startswith("self-trained"):
        notes.append("self-trained CIFAR AdaIN")
    if e.get("extra_data"):
        notes.append("extra data")
    return f" ({'; '.join(notes)})" if notes else ""


TABLE4_NOTE = (
    "Row notes in parentheses: Cutout's hole colour (black is the occlusion threat's own patch, so such a row trained "
    "on a test threat); \"self-trained CIFAR AdaIN\": Stylized and Shape-Texture stylize with a small AdaIN "
    "network trained here on CIFAR-10, whose styles are other CIFAR-10 training images — not paintings, not an "
    "ImageNet VGG; \"extra data\": trained with data beyond CIFAR-10's training set. Jordao & Pedrini's own Table 4 "
    "gathered its rows from different papers, budgets and (for the competitors) ImageNet models, so its numbers are "
    "not comparable number for number with these. A pruning row quotes its structure's operating point: the "
    "dose–response point nearest 50% of FLOPs removed (chosen by size, never by accuracy; every point is in "
    "the dose–response section).")


def is_sweep(label: str) -> bool:
    """A point of the ε sweep (FGSM below 8/255 on all images, PGD-20 on the seeded 1k): its own table."""
    p = curves.eps_of(label)
    return bool(p) and label not in ("fgsm", "pgd") and (p[0] == "fgsm" or p[2] == 1000)


def suite_table(rows: list[dict]) -> str | None:
    """Every threat beyond the paper's four and the ε sweep (the `full` suite's), with its n; None if none ran."""
    threats = [t for t in _threats(rows) if t not in SUITES["paper"] and not is_sweep(t)]
    if not threats:
        return None
    n = {t: max(e["threats"][t].get("n") or 0 for e in rows if t in e["threats"]) for t in threats}
    body = [[f"`{e['name']}`", ",".join(map(str, e["seeds"]))]
            + [_pct(e["threats"][t]["mean"], e["threats"][t]["ci95"]) + curves.seeds_mark(e["threats"][t], e["seeds"])
               if t in e["threats"] else "–" for t in threats]
            + [masking_cell(e["masking"])] for e in _order(rows)]
    return _table(["Defense", "Seeds"] + [f"{threat_title(t)} (n={n[t]:,})" for t in threats] + ["Masking"], body) \
        + "\n\n" + curves.SEEDS_NOTE


def table4(group: list[dict], plot: str | None = None) -> str:
    shown = study.table4_entries(group)
    threats = [t for t in _threats(shown) if t in SUITES["paper"]]  # the paper's columns; the rest below
    header = (["Defense", "Seeds"] + [threat_title(t) for t in threats] + ["Robustness", "Generalization", "Average",
                                                                   "Params", "FLOPs", "Masking"])
    rows = []
    for e in _order(shown):
        d = e["deltas"] or {}
        accs = [_pct(e["threats"][t]["mean"], e["threats"][t]["ci95"]) if t in e["threats"] else "–"
                for t in threats]
        rows.append([f"`{e['name']}`{_qualifier(e, group)}", ",".join(map(str, e["seeds"]))] + accs
                    + [_delta(d.get(k)) for k in TABLE4_SUMMARY]
                    + [f"{e['params'] / 1e6:.3f} M", f"{e['flops'] / 1e6:.1f} M", masking_cell(e["masking"])])
    text = _table(header, rows) + "\n\n" + TABLE4_NOTE
    if plot:
        text += f"\n\n![Robustness vs generalization delta per defense, 95% intervals]({plot})"
    return text


def _paper_threats(group: list[dict]) -> list[str]:
    return [t for t in _threats(group) if t in SUITES["paper"] and t != "clean"]


def _pruning_rows(group: list[dict], pick) -> list[list[str]]:
    threats = _paper_threats(group)
    rows = []
    for e in _order(group):
        if not e["defense"].startswith("prune") or not pick(e):
            continue
        d = e["deltas"] or {}
        params = 1 - e["params"] / e["params_parent"] if e["params_parent"] else math.nan
        flops = 1 - e["flops"] / e["flops_parent"] if e["flops_parent"] else math.nan
        c = e.get("deltas_vs_control") or {}
        rows.append([f"`{e['name']}`", ",".join(map(str, e["seeds"])), f"{100 * params:.1f}%", f"{100 * flops:.1f}%",
                     _delta(d.get("clean"))]
                    + [_delta(d.get(t)) for t in threats] + [_delta(d.get("robustness"))]
                    + [_delta(c.get("clean")), _delta(c.get("robustness"))])
    return rows


def pruning_tables(group: list[dict]) -> list[str]:
    """The paper's Tables 1–3 from the pruning entries: by kind (filters/layers/both, default options),
    by adjustment (Table 2) and by criterion (Table 3); each where such entries exist."""
    threats = _paper_threats(group)
    header = (["Method", "Seeds", "Params ↓", "FLOPs ↓", "Clean Δ"] + [f"{threat_title(t)} Δ" for t in threats]
              + ["Robustness", "Clean Δ vs control", "Robustness vs control"])
    found = study.operating_points(group)
    ops, filters = {id(e) for e in found.values()}, id(found.get("prune-filters"))
    specs = [  # Tables 2 and 3 vary the filters' operating point, which is their fine-tune / PLS row
        ("Table 1 — structural pruning vs its unpruned parent", lambda e: e["name"] == e["defense"] or id(e) in ops),
        ("Table 2 — after pruning: fine-tune vs retrain from scratch vs winning ticket",
         lambda e: "adjustment" in e["name"] or (id(e) == filters and any("adjustment" in x["name"] for x in group))),
        ("Table 3 — filter-importance criteria",
         lambda e: "criterion" in e["name"] or (id(e) == filters and any("criterion" in x["name"] for x in group))),
    ]
    out = []
    for title, pick in specs:
        rows = _pruning_rows(group, pick)
        out.append(f"### {title}\n\n" + (_table(header, rows) if rows else "_No such runs in this budget._"))
    for i, note in enumerate(pruning_table_notes(group)):  # Table 1's always, Tables 2-3's under their rows
        if i == 0 or "| `" in out[i]:
            out[i] += "\n\n" + note
    return out


def compute_table(group: list[dict]) -> str:
    header = ["Defense", "Epochs", "Train time / seed", "Images seen", "Est. train FLOPs", "Stylizer build",
              "Device", "CPU", "Precision", "Fine-tune precision", "Threads", "Code"]
    rows = []
    for e in _order(group):
        c = e["compute"]
        secs = c.get("train_seconds")
        flops = c.get("train_flops_estimate")
        rows.append([f"`{e['name']}`", str(c["epochs"]), "–" if secs is None else f"{secs / 60:.1f} min",
                     "–" if not c.get("train_images_seen") else f"{c['train_images_seen'] / 1e6:.2f} M",
                     "–" if not flops else f"{flops / 1e12:.1f} T",
                     f"{c['stylizer']} ({c['stylizer_seconds'] / 60:.1f} min, once)" if c.get("stylizer") else "–",
                     c["device"] or "–", c.get("cpu") or "–", c.get("precision") or "–",
                     c.get("finetune_precision") or "–", str(c.get("threads") or "–"),
                     ", ".join(e["code_versions"])])
    return _table(header, rows) + (
        "\n\nTrain time: wall-clock mean over the seeds that recorded it, on the machine that ran each seed "
        "(device, CPU kind, precision and threads shown per seed where they differ; a pruned network's precision "
        "is its parent's training, the fine-tune precision its own): compare rows run alike. Code: every version "
        "that trained a seed or scored one of its threats (each run record names both).")


def plot(group: list[dict], path: Path) -> Path | None:
    """Robustness delta vs generalization delta per defense with 95% interval bars (matplotlib PNG)."""
    pts = [e for e in _order(group) if e["deltas"] and "robustness" in e["deltas"] and "generalization" in e["deltas"]]
    if not pts:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    names: dict[tuple[float, float], list[str]] = defaultdict(list)  # coincident points share one label
    for e in pts:
        names[(round(e["deltas"]["generalization"]["mean"], 6), round(e["deltas"]["robustness"]["mean"], 6))].append(
            e["name"])
    for e in pts:
        g, r = e["deltas"]["generalization"], e["deltas"]["robustness"]
        label = names.pop((round(g["mean"], 6), round(r["mean"], 6)), None)
        xerr = 100 * g["ci95"] if g["ci95"] is not None else None
        yerr = 100 * r["ci95"] if r["ci95"] is not None else None
        color = "tab:red" if e["defense"].startswith("prune") else "tab:blue"
        ax.errorbar(100 * g["mean"], 100 * r["mean"], xerr=xerr, yerr=yerr, fmt="o", color=color, capsize=3)
        if label:
            ax.annotate(" = ".join(label), (100 * g["mean"], 100 * r["mean"]), textcoords="offset points",
                        xytext=(5, 4), fontsize=8)
    first = pts[0]
    ax.set_xlabel("Generalization Δ: clean accuracy vs baseline (points)")
    ax.set_ylabel("Robustness Δ: mean over threats vs baseline (points)")
    seeds = sorted({s for e in pts for s in e["seeds"]})
    ax.set_title(f"{first['architecture']}, budget {first['budget']['name']}, seeds "
                 f"{','.join(map(str, seeds))} (95% intervals)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def render(entries: list[dict], plot_dir: Path | None = None, md_dir: Path | None = None) -> str:
    """``LEADERBOARD.md`` from entries alone; with ``plot_dir`` also one PNG per (architecture, budget)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in entries:
        groups[(e["architecture"], e["budget"]["name"])].append(e)
    parts = ["# defense-bench leaderboard", "",
             "Generated from the entry files beside it (`entries/*.json`) only, by `defense-bench run` or "
             "`leaderboard --publish`. "
             "Accuracies (%): mean ± 95% confidence half-width over seeds. Deltas vs the baseline "
             "(percentage points, signed as Jordao & Pedrini's Table 4) are paired by seed; their intervals are "
             "named under each table: \"seeds and test images\" carries both training noise (the seed-to-seed "
             "spread) and test-set sampling noise (the per-image outcomes, shared by all seeds) as variance "
             "components, t quantile over the seeds; \"paired t\" carries the seed spread alone (boards published "
             "before); one seed: a paired bootstrap over test images. "
             f"{MARK} marks an interval that excludes zero. "
             "Robustness = mean delta over the paper's non-clean threats (FGSM, occlusion, semantic) where all three "
             "were run, else over every non-clean threat; Generalization = clean delta; "
             "Average = their mean. Every number is traceable to its entry's config hashes and code version."]
    for (arch, budget), group in sorted(groups.items()):
        seeds = sorted({s for e in group for s in e["seeds"]})
        parts += ["", f"## {arch}, budget `{budget}` — seeds {', '.join(map(str, seeds))}", "",
                  group[0]["budget"]["description"], "", f"Intervals: {_interval_note(group)}.", "",
                  "### Table 4 — defenses compared", ""]
        png, shown = None, study.table4_entries(group)
        if plot_dir is not None:
            p = plot(shown, plot_dir / f"plot-{arch}-{budget}.png")
            if p is not None:
                png = os.path.relpath(p, md_dir) if md_dir else str(p)
        parts += [table4(group, png), "", multiplicity_note(shown), ""]
        if (full := suite_table(shown)) is not None:
            parts += ["### The full threat suite", "", full, "",
                      "Accuracy (%), mean ± 95% half-width over seeds, on the n test images named (the seeded "
                      "subset where n < 10,000); Masking: the gradient-masking checks of the suite.", ""]
            parts += [f"{cap}\n\n{_table(head, rows)}\n" for cap, head, rows in corruption_tables(_order(shown))]
        for t in pruning_tables(group):
            parts += [t, ""]
        for title, (text, fig) in (
                ("Accuracy against ε", curves.eps_section(group, _order(shown), plot_dir and plot_dir / f"eps-{arch}-"
                                                                                                f"{budget}.png")),
                ("Pruning dose–response against the control", curves.dose_section(
                    group, plot_dir and plot_dir / f"dose-{arch}-{budget}.png"))):
            if text:
                rel = fig and (os.path.relpath(fig, md_dir) if md_dir else str(fig))
                parts += [f"### {title}", "", text, "", *([f"![{title}]({rel})", ""] if rel else [])]
        if text := verdict(group):
            parts += ["### The verdict at this budget", "", text, ""]
        parts += ["### Training compute", "", compute_table(group)]
    return "\n".join(parts).rstrip() + "\n"
