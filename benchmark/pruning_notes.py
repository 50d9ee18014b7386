"""The notes under the board's pruning Tables 1–3: what their deltas are read against and what they do not show."""

from __future__ import annotations


def pruning_table_notes(group: list[dict]) -> tuple[str, str, str]:
    """Tables 1–3's notes; Table 3's quotes the filter fraction per iteration that the group's ``prune-filters``
    entries declare (one value), else refers the reader to each entry's own."""
    declared = {e["defense_config"].get("fraction") for e in group if e["defense"] == "prune-filters"}
    one = len(declared) == 1 and None not in declared
    share = f"{100 * float(declared.pop()):g}%" if one else "the fraction its entry declares"
    return (
        # Table 1
        "Deltas vs the baseline, then vs the compute-matched control `finetune-only` (the baseline through the same "
        "fine-tuning, nothing removed; – where it has not been run): a pruned network has seen more training than "
        "its parent, so the verdict on pruning reads from the control columns.",
        # Table 2
        "scratch-E, scratch-B and W-ticket train the pruned network again (from random or from the parent's initial "
        "weights) instead of fine-tuning it, so no fine-tune control matches them (–): read them against the "
        "baseline and the fine-tune row. A row on one seed carries only the test images' noise in its interval, not "
        "the seeds'.",
        # Table 3
        f"The PLS row (`prune-filters`, the authors' criterion) removes {share} of the filters per iteration by one "
        f"VIP threshold over all layers, as the authors do; ℓ1, ExpectedABS, HRank and KL remove {share} of each "
        "layer's filters. The share of filters is alike, the FLOPs removed differ with the layers that lose them: "
        "read each row with its FLOPs ↓.",
    )
