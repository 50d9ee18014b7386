"""CIFAR-10-C on the board: accuracy by severity and by corruption, from the parts an entry keeps
(``threats.corruptions.parts``: ``"fog/3"`` → accuracy, mean over the entry's seeds)."""

from __future__ import annotations

import numpy as np

Table = tuple[str, list[str], list[list[str]]]  # caption, header, rows (the board renders them)


def corruption_tables(entries: list[dict]) -> list[Table]:
    """Two tables (rows in the order given): accuracy (%) at each severity, averaged over the corruptions,
    and per corruption, averaged over the severities; [] when no entry kept its parts."""
    rows = [(e, c["parts"]) for e in entries if "parts" in (c := e["threats"].get("corruptions", {}))]
    if not rows:
        return []
    split = [(k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1])) for _, p in rows for k in p]
    names, sevs = sorted({n for n, _ in split}), sorted({s for _, s in split})

    def mean(parts: dict[str, float], keys: list[str]) -> str:
        vals = [parts[k] for k in keys if k in parts]
        return f"{100 * np.mean(vals):.2f}" if vals else "–"

    def head(e: dict) -> list[str]:
        return [f"`{e['name']}`", ",".join(sorted(e["threats"]["corruptions"]["per_seed"]))]

    return [(f"CIFAR-10-C (Hendrycks & Dietterich 2019) by severity, mean over the {len(names)} corruptions:",
             ["Defense", "Seeds", *(f"Severity {s}" for s in sevs)],
             [head(e) + [mean(p, [f"{n}/{s}" for n in names]) for s in sevs] for e, p in rows]),
            (f"By corruption, mean over the {len(sevs)} severities:", ["Defense", *names],
             [head(e)[:1] + [mean(p, [f"{n}/{s}" for s in sevs]) for n in names] for e, p in rows])]
