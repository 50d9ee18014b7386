"""Where a number came from: the code version and a hash of the configuration that produced it."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


@functools.cache
def code_version() -> str:
    """``$DEFENSE_BENCH_CODE_VERSION`` if set (a copy of a commit's tree without its ``.git``, e.g. on a
    remote GPU machine, names the commit it was copied from), else ``git describe`` of the source tree
    (``-dirty`` if modified), else the installed package version."""
    if os.environ.get("DEFENSE_BENCH_CODE_VERSION", "").strip():
        return os.environ["DEFENSE_BENCH_CODE_VERSION"].strip()
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=root,
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return "git:" + out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        return "defense-bench " + version("defense-bench")
    except PackageNotFoundError:
        return "unknown"


def config_hash(config: dict[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of ``config`` as canonical JSON."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
