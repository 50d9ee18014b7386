"""The notes under the board's pruning Tables 1–3: what their deltas are read against and what they do not show."""

PRUNING_TABLE_NOTES = (
    # Table 1
    "Deltas vs the baseline, then vs the compute-matched control `finetune-only` (the baseline through the same "
    "fine-tuning, nothing removed; – where it has not been run): a pruned network has seen more training than its "
    "parent, so the verdict on pruning reads from the control columns.",
    # Table 2
    "scratch-E, scratch-B and W-ticket train the pruned network again (from random or from the parent's initial "
    "weights) instead of fine-tuning it, so no fine-tune control matches them (–): read them against the baseline "
    "and the fine-tune row. A row on one seed carries only the test images' noise in its interval, not the seeds'.",
    # Table 3
    "The PLS row (`prune-filters`, the authors' criterion) removes 10% of the filters per iteration by one VIP "
    "threshold over all layers, as the authors do; ℓ1, ExpectedABS, HRank and KL remove 10% of each layer's filters. "
    "The share of filters is alike, the FLOPs removed differ with the layers that lose them: read each row with its "
    "FLOPs ↓.",
)
