"""What a run record beside a checkpoint (``NAME.json`` beside ``NAME.pt``) says about it: its per-image outcomes
and where it was made. Only JSON is read: nothing in a record is executed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np


def stored_outcomes(ckpt: Path) -> dict[str, np.ndarray]:
    """Threat → the per-image outcomes (bool) that the run record beside checkpoint ``ckpt`` stores; {} when
    there is no readable record. Only JSON is read: nothing in a record is executed."""
    try:
        rec = json.loads(ckpt.with_suffix(".json").read_text())
        return {r["threat"]: record_bits(r) for r in rec.get("results", []) if r.get("correct") and r.get("n")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def record_bits(result: dict) -> np.ndarray:
    """The per-image outcomes (bool) of one result of a run record: base64 of the packed bits."""
    packed = np.frombuffer(base64.b64decode(result["correct"]), dtype=np.uint8)
    return np.unpackbits(packed)[: result["n"]].astype(bool)


def made_on(ckpt: Path) -> str:
    """", made on cuda, 4 threads" from the run record beside ``ckpt`` (JSON only); "" without one."""
    try:
        info = json.loads(ckpt.with_suffix(".json").read_text())["info"]
        return f", made on {info['device']}, {info['threads']} threads"
    except (OSError, ValueError, KeyError, TypeError):
        return ""
