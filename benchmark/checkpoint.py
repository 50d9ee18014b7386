"""Atomic checkpoint files, loaded with ``weights_only=True`` (a checkpoint never executes code)."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A checkpoint could not be read; the message is one line naming the file and the problem."""


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over it.

    A crash (kill -9 included) leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint saved by :func:`save_atomic`, tensors and plain containers only."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a cut-off file loses its directory
        raise CheckpointError(f"{path}: not a complete checkpoint (truncated, or not written by torch.save)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: corrupt or unsafe checkpoint ({first_sentence(e)})") from None


def first_sentence(e: BaseException, limit: int = 200) -> str:
    """The first sentence of an exception's message (at most ``limit`` characters, cut at a word)."""
    text = " ".join(str(e).split()) or type(e).__name__
    end = text.find(". ")
    text = text[: end + 1] if 0 <= end < limit else text
    if len(text) > limit:
        text = text[: text.rfind(" ", 0, limit)].rstrip(",;:") + " …"
    return text
