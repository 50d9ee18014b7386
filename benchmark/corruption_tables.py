"""CIFAR-10-C on the board: accuracy by severity and by corruption, from the parts an entry keeps
(``threats.corruptions.parts``: ``"fog/3"`` → accuracy, mean over the entry's seeds)."""

from __future__ import annotations

import numpy as np


def _md(header: list[str], rows: list[list[str]]) -> str:
    line = lambda cells: "| " + " | ".join(cells) + " |"  # noqa: E731
    return "\n".join([line(header), line(["---"] * len(header)), *(line(r) for r in rows)])


def corruption_tables(entries: list[dict]) -> str | None:
    """Two markdown tables (rows in the order given): accuracy (%) at each severity, averaged over the
    corruptions, and per corruption, averaged over the severities; None when no entry kept its parts."""
    rows = [(e, c["parts"]) for e in entries if "parts" in (c := e["threats"].get("corruptions", {}))]
    if not rows:
        return None
    split = [(k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1])) for _, p in rows for k in p]
    names, sevs = sorted({n for n, _ in split}), sorted({s for _, s in split})

    def mean(parts: dict[str, float], keys: list[str]) -> str:
        vals = [parts[k] for k in keys if k in parts]
        return f"{100 * np.mean(vals):.2f}" if vals else "–"

    def head(e: dict) -> list[str]:
        return [f"`{e['name']}`", ",".join(sorted(e["threats"]["corruptions"]["per_seed"]))]

    by_sev = _md(["Defense", "Seeds", *(f"Severity {s}" for s in sevs)],
                 [head(e) + [mean(p, [f"{n}/{s}" for n in names]) for s in sevs] for e, p in rows])
    by_name = _md(["Defense", *names], [head(e)[:1] + [mean(p, [f"{n}/{s}" for s in sevs]) for n in names]
                                        for e, p in rows])
    return (f"CIFAR-10-C (Hendrycks & Dietterich 2019) by severity, mean over the {len(names)} corruptions:\n\n"
            f"{by_sev}\n\nBy corruption, mean over the {len(sevs)} severities:\n\n{by_name}")
