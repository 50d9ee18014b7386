"""The verdict, in words: one paragraph per conclusion of Jordao & Pedrini (2021) — robustness rises,
generalization is preserved, pruning beats the augmentation defenses on the Average — each written from the
entries' own numbers and 95% intervals, so it stays true as seeds land (issue 19, part 6) — and a fourth
that asks whether any of Tables 2-3's criteria or adjustments (on >= 3 seeds) changes the first.

Decision rules (declared here, not chosen from the data): an effect is *supported* or *refuted* only where
every operating point's interval lies on one side of zero, else *not decided*; generalization counts as
preserved where the clean interval against the control excludes a loss larger than :data:`MARGIN`.
"""

from __future__ import annotations

from benchmark import study

MARGIN = 0.01  # a clean-accuracy loss of one point: the largest that "keeps accuracy" may hide
# The paper's Robustness gains for its pruned networks, +1.1 to +2.7 points, as issue 19 quotes them (the
# paper's own Table 4 text is not among this project's sources): a study excludes them where an interval's
# upper end lies below the smallest.
PAPER_GAINS = (0.011, 0.027)
Z80 = 0.841621  # the normal quantile of 80% power: a two-sided 5% test detects about (1.96 + 0.84) · SE
# Table 2: scratch-E, scratch-B, W-ticket; Table 3: l1, ExpectedABS, HRank, KL (beside the fine-tune / PLS row).
# Constants, not the registries: a criterion plugin installed where the board is rendered must not change the text.
VARIANTS = frozenset({("adjustment", "scratch-e"), ("adjustment", "scratch-b"), ("adjustment", "w-ticket"),
                      ("criterion", "l1"), ("criterion", "expected-abs"), ("criterion", "hrank"), ("criterion", "kl")})
DEFAULTS = {"adjustment": "fine-tune", "criterion": "pls"}
AUGMENTATIONS = ("cutout", "mixup", "cutmix", "stylized", "shape-texture")


def _iv(d: dict) -> str:
    return f"{100 * d['mean']:+.2f} ± {100 * (d.get('ci95') or 0):.2f}"


def _side(d: dict, at: float = 0.0) -> int:
    """+1 if the interval lies above ``at``, -1 if below, 0 if it contains it (or has no half-width)."""
    hw = d.get("ci95")
    if hw is None or hw != hw:
        return 0
    return 1 if d["mean"] - hw > at else -1 if d["mean"] + hw < at else 0


def _word(sides: list[int], up: str, down: str) -> str:
    if sides and all(s > 0 for s in sides):
        return up
    if sides and all(s < 0 for s in sides):
        return down
    return "**Not decided** at this budget"


def _variant(e: dict) -> tuple[str, str] | None:
    """The one Table-2/3 setting ``e`` changes from the fine-tune / PLS row, if it changes exactly one."""
    cfg = e["defense_config"]
    changed = [(k, cfg.get(k, d)) for k, d in DEFAULTS.items() if cfg.get(k, d) != d]
    return changed[0] if len(changed) == 1 else None


def _variants_paragraph(ready: list[dict]) -> str:
    """Paragraph 4: Tables 2-3's variants on >= 3 seeds. A criterion reads against the control; a retrained
    network (scratch-E, scratch-B, W-ticket) has no fine-tune control, so it reads against the baseline."""
    parts, sides = [], []
    for e in ready:
        d = (e.get("deltas_vs_control") or {}).get("robustness")
        ref = "control"
        if not d:
            d, ref = (e.get("deltas") or {}).get("robustness"), "baseline"
        if not d:
            continue
        sides.append(_side(d))
        k, v = _variant(e)
        parts.append(f"{k} `{v}` ({100 * study.flops_removed(e):.1f}% FLOPs removed, seeds "
                     f"{','.join(map(str, e['seeds']))}) {_iv(d)} vs the {ref}")
    return (f"4. *Another criterion or adjustment raises robustness* (Tables 2 and 3, at the filters' operating "
            f"point). {_word(sides, '**Supported**', '**Refuted**')}: Robustness Δ " + "; ".join(parts)
            + f". Of these {len(sides)} intervals, {sum(s < 0 for s in sides)} lie below zero and "
            f"{sum(s > 0 for s in sides)} above.")


def verdict(group: list[dict]) -> str:
    """The verdict paragraphs for one (architecture, budget) group; empty without operating points."""
    ops = {k: e for k, e in study.operating_points(group).items() if e.get("deltas_vs_control")}
    if not ops:
        return ""
    seeds = sorted({s for e in ops.values() for s in e["seeds"]})
    where = {k: f"{study.STRUCTURES[k]} ({e['defense_config']['iterations']} iterations, "
                f"{100 * study.flops_removed(e):.1f}% FLOPs removed)" for k, e in ops.items()}
    rob = {k: e["deltas_vs_control"]["robustness"] for k, e in ops.items()}
    cln = {k: e["deltas_vs_control"]["clean"] for k, e in ops.items()}
    points = [e for e in group if e["defense"] in study.STRUCTURES and study.is_point(e)
              and (e.get("deltas_vs_control") or {}).get("robustness")]
    below = sum(_side(e["deltas_vs_control"]["robustness"]) < 0 for e in points)
    above = sum(_side(e["deltas_vs_control"]["robustness"]) > 0 for e in points)
    few = min(len(e["seeds"]) for e in ops.values()) < 2
    per = {study.STRUCTURES[k]: ", ".join(map(str, e["seeds"])) for k, e in ops.items()}
    read = (f"Read from {len(seeds)} seed(s) ({', '.join(map(str, seeds))}) at each structure's operating point; "
            if len(set(per.values())) == 1 else  # rows still landing: each structure's own seeds
            "Read at each structure's operating point from seeds " + "; ".join(f"{v} ({k})" for k, v in per.items())
            + "; ")
    out = [read + "Δ in points, 95% intervals as in Table 4."
           + (" **Provisional**: with one seed an interval carries test-image noise only, not the seed-to-seed "
              "spread of training, so these words may change as the study's 5 seeds land." if few else ""), ""]
    rises = _word([_side(d) for d in rob.values()], "**Supported**", "**Refuted**")
    vs_control = "; ".join(f"{where[k]} {_iv(d)}" for k, d in rob.items())
    vs_base = "; ".join(f"{study.STRUCTURES[k]} {_iv(e['deltas']['robustness'])}" for k, e in ops.items()
                        if (e.get("deltas") or {}).get("robustness"))
    excluded = sum(d["mean"] + (d.get("ci95") or float("inf")) < PAPER_GAINS[0] for d in rob.values())
    mde = sorted((1 + Z80 / 1.959964) * d["ci95"] for d in rob.values() if d.get("ci95"))
    out.append(f"1. *Pruning raises robustness.* {rises}: Robustness Δ vs the compute-matched control {vs_control} "
               f"(vs the unpruned baseline: {vs_base}). Over all {len(points)} curve points, {below} intervals lie "
               f"below zero and {above} above. The paper's gains (+{100 * PAPER_GAINS[0]:g} to "
               f"+{100 * PAPER_GAINS[1]:g}) lie above the interval at {excluded} of {len(rob)} operating points"
               + (f"; an effect of about {100 * mde[len(mde) // 2]:.2f} points (median over them) is the smallest "
                  "these intervals detect with 80% power (normal approximation)." if mde else "."))
    keep = [1 if _side(d, -MARGIN) > 0 else -1 if _side(d, -MARGIN) < 0 else 0 for d in cln.values()]
    out.append(f"2. *Pruning preserves generalization* (a clean loss under {100 * MARGIN:g} point vs the control). "
               f"{_word(keep, '**Supported**', '**Refuted**')}: Clean Δ vs control "
               + "; ".join(f"{where[k]} {_iv(d)}" for k, d in cln.items()) + ".")
    augs = {e["name"]: e["deltas"]["average"] for e in group
            if e["defense"] in AUGMENTATIONS and (e.get("deltas") or {}).get("average")}
    if augs:
        cmp = []
        for k, e in ops.items():
            a = e["deltas"]["average"]
            hi, lo = (a["mean"] + (a.get("ci95") or 0), a["mean"] - (a.get("ci95") or 0))
            n_below = sum(hi < b["mean"] - (b.get("ci95") or 0) for b in augs.values())
            n_above = sum(lo > b["mean"] + (b.get("ci95") or 0) for b in augs.values())
            cmp.append((k, a, n_below, n_above))
        word = _word([1 if na == len(augs) else -1 if nb == len(augs) else 0 for _, _, nb, na in cmp],
                     "**Supported**", "**Refuted**")
        out.append(f"3. *Pruning beats the augmentation defenses on the Average.* {word}: "
                   + "; ".join(f"{where[k]} Average Δ {_iv(a)}, below {nb} and above {na} of the {len(augs)} "
                               "augmentation rows with disjoint intervals" for k, a, nb, na in cmp)
                   + " (" + ", ".join(f"`{n}` {_iv(d)}" for n, d in sorted(augs.items())) + ").")
    at = (ops.get("prune-filters") or {}).get("defense_config", {}).get("iterations")  # Tables 2-3's point
    variants = [e for e in group if e["defense"] == "prune-filters" and _variant(e) in VARIANTS
                and e["defense_config"].get("iterations") == at]
    n_seeds = sorted({len(e["seeds"]) for e in variants})
    t23 = ("the other criteria and adjustments at the operating point (Tables 2 and 3)" if not variants else
           f"Tables 2 and 3 in full ({len({_variant(e) for e in variants})} of their {len(VARIANTS)} variants have "
           f"run, on {'–'.join(map(str, dict.fromkeys((n_seeds[0], n_seeds[-1]))))} seed(s) each; a row is read "
           "from 3)")
    done = {_variant(e) for e in variants if len(e["seeds"]) >= 3} == VARIANTS  # complete: no longer untested
    ready = sorted((e for e in variants if len(e["seeds"]) >= 3), key=lambda e: (_variant(e), e["name"]))
    if ready:
        out.append(_variants_paragraph(ready))
    out.append("Untested here: the paper's budget (ResNet-56 and MobileNetV2, 200 epochs, 5 pruning iterations of "
               f"20 fine-tuning epochs; no record yet){'' if done else ', ' + t23}, and attacks beyond those listed; "
               "a verdict at this budget does not transfer to that one.")
    return "\n".join(out)
