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

# What decides a number: a change anywhere else (the run records, entries and board that a long run rewrites
# before committing them, the tests, the docs) leaves the code version clean.
CODE_PATHS = ("benchmark", "defenses", "attacks", "pyproject.toml")


def git_version(root: Path) -> str | None:
    """``git:<describe>`` of the checkout at ``root``, ``-dirty`` when a file under :data:`CODE_PATHS` differs
    from the commit (modified, staged, deleted or untracked and not ignored); None outside a git checkout."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)

    try:
        described = git("describe", "--always", "--abbrev=12")
        if described.returncode != 0 or not described.stdout.strip():
            return None
        status = git("status", "--porcelain", "--", *CODE_PATHS)
    except (OSError, subprocess.TimeoutExpired):
        return None
    dirty = status.returncode != 0 or bool(status.stdout.strip())
    return "git:" + described.stdout.strip() + ("-dirty" if dirty else "")


@functools.cache
def code_version() -> str:
    """``$DEFENSE_BENCH_CODE_VERSION`` if set (a copy of a commit's tree without its ``.git``, e.g. on a
    remote GPU machine, names the commit it was copied from), else :func:`git_version` of the source tree
    (``-dirty`` only if the code itself is modified), else the installed package version."""
    if os.environ.get("DEFENSE_BENCH_CODE_VERSION", "").strip():
        return os.environ["DEFENSE_BENCH_CODE_VERSION"].strip()
    described = git_version(Path(__file__).resolve().parent.parent)
    if described:
        return described
    try:
        return "defense-bench " + version("defense-bench")
    except PackageNotFoundError:
        return "unknown"


def config_hash(config: dict[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of ``config`` as canonical JSON."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
