"""Precision: where and in which arithmetic training and stylizing compute (device, bf16 policy, CPU kind).

The bottom floor of the harness: the trainer, the runner and the stylizing defenses take a
:class:`Precision` (or a flag derived from it) as an argument; only the CLI and the grid driver read
``$DEFENSE_BENCH_PRECISION``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch


def cpu_has_amx() -> bool:
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_kind() -> str:
    """The CPU's vector capability as PyTorch dispatches on it, and whether it has AMX (what sets the
    speed of a CPU run: the quick baseline took 8 minutes with AMX, 19 without, on 2 cores)."""
    return f"{torch.backends.cpu.get_cpu_capability()}{' + AMX' if cpu_has_amx() else ''}"


@dataclass(frozen=True)
class Precision:
    """Where and how the trainer computes: device, autocast dtype (or None) and memory format."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool

    @classmethod
    def auto(cls, device: str | torch.device | None = None) -> Precision:
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.type == "cuda":
            return cls(device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16, True)
        return cls(device, torch.bfloat16 if cpu_has_fast_bf16() else None, True)

    @classmethod
    def for_budget(cls, precision: str, device: str | torch.device | None = None) -> Precision:
        """The precision a budget declares: ``fp32`` (on CUDA with TF32 off, so a GPU computes what a CPU
        does), ``bf16`` autocast, or ``auto``."""
        if precision == "auto":
            return cls.auto(device)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.type == "cuda" and precision == "fp32":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.deterministic = True  # the same seed retrains the same network on that GPU
            torch.backends.cudnn.benchmark = False
        return cls(device, torch.bfloat16 if precision == "bf16" else None, True)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def describe(self) -> str:
        amp = str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "fp32"
        return f"{self.device.type} {amp}{' channels_last' if self.channels_last else ''}"


PRECISION_ENV = "DEFENSE_BENCH_PRECISION"  # auto | bf16 | fp32: pins the CPU precision (trainer and stylizer)
PRECISIONS = ("auto", "bf16", "fp32")


def cpu_has_fast_bf16() -> bool:
    """Whether CPU training and stylizing use bf16 autocast: ``$DEFENSE_BENCH_PRECISION`` if it says bf16 or
    fp32, else (auto) only on CPUs with AMX tiles. Measured on ResNet-20, batch 256, channels_last: with AMX
    bf16 roughly doubles fp32's speed; with AVX-512-BF16 alone it is slower than fp32 (551 vs 636 img/s on
    2 cores), so ``auto`` keeps fp32 there."""
    mode = os.environ.get(PRECISION_ENV, "auto").strip().lower() or "auto"
    if mode not in PRECISIONS:
        raise ValueError(f"${PRECISION_ENV}={mode!r}: expected one of {', '.join(PRECISIONS)}")
    return mode == "bf16" if mode != "auto" else cpu_has_amx()


@contextlib.contextmanager
def pinned_precision(precision: str):
    """``$DEFENSE_BENCH_PRECISION`` set to a budget's declared precision while its grid runs (the stylizer
    and Ray workers read it there), restored afterwards."""
    old = os.environ.get(PRECISION_ENV)
    if precision != "auto":
        os.environ[PRECISION_ENV] = precision
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PRECISION_ENV, None)
        else:
            os.environ[PRECISION_ENV] = old
