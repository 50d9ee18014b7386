"""Run records: each finished run as ``<run>.json`` + ``.pt`` (what a published run commits), restored on a
fresh clone; re-publishing the board that holds them; committing them as they land."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

from benchmark import checkpoint
from benchmark.budgets import Budget
from benchmark.publish import publish
from benchmark.results_store import ResultsStore, RunKey

log = logging.getLogger("defense_bench")


def restore_records(records: Path, store: ResultsStore, ckpt_dir: Path, budget: Budget | None = None) -> int:
    """Load the run records kept in ``records`` (and their checkpoints) into ``store``: a fresh machine
    continues a published run from what was committed. Records of ``budget`` trained in another precision
    than it declares are not restored (their runs are trained again). Returns how many runs were restored."""
    n = 0
    for path in sorted(records.glob("*.json")):
        rec = json.loads(path.read_text())
        key = RunKey(**rec["key"])
        made = budget.foreign_precision(rec.get("info", {})) if budget is not None and key.budget == budget.name \
            else None
        if made is not None:
            log.warning("%s: trained in %s, budget %s declares %s: not reused, trained again", path.name,
                        made, budget.name, budget.precision)
            continue
        status = store.run_status(key)
        if status and status == ("done", rec["config_hash"]):
            continue
        store.import_run(rec)
        ckpt = path.with_suffix(".pt")
        target = ckpt_dir / f"{key.slug}-{rec['config_hash'][:8]}.pt"
        if ckpt.is_file() and not target.is_file():
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ckpt, target)
        n += 1
    if n:
        log.info("restored %d runs from %s", n, records)
    return n


def keep_record(store: ResultsStore, key: RunKey, final_ckpt: Path, records: Path) -> list[Path]:
    """Write ``key``'s run as ``records/<slug>.json`` and its final checkpoint beside it (atomically)."""
    records.mkdir(parents=True, exist_ok=True)
    rec = store.export_run(key)
    target = records / f"{key.slug}.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    tmp.replace(target)
    paths = [target]
    if final_ckpt.is_file():
        state = checkpoint.load(final_ckpt)
        checkpoint.save_atomic({k: state[k] for k in ("model", "arch", "config_hash", "info") if k in state},
                               target.with_suffix(".pt"))
        paths.append(target.with_suffix(".pt"))
    return paths


# The board's record folders, each holding ``<budget>/<run>.json`` + ``.pt``: ``runs/`` (the first fp32 records)
# and ``staging/`` (the fp32 re-training, published where it landed: moving its checkpoints would put them in the
# repository's history twice).
RECORD_FOLDERS = ("runs", "staging")


def record_dirs(board: Path) -> list[Path]:
    """Every ``board/<folder>/<budget>`` folder of :data:`RECORD_FOLDERS` that exists."""
    return sorted(p for f in RECORD_FOLDERS for p in (board / f).glob("*") if p.is_dir())


def publish_board(board: Path) -> list[Path]:
    """Re-export ``board/entries`` from every record folder (:func:`record_dirs`) and re-render the board;
    returns what a commit of it must take: the entries folder (withdrawn entries are deleted files in it),
    ``LEADERBOARD.md``, ``index.html`` and every figure."""
    md = board / "LEADERBOARD.md"
    publish(record_dirs(board), board / "entries", md)
    return [board / "entries", md, board / "index.html", *sorted(board.glob("*.png"))]


def commit_paths(paths: list[Path], message: str) -> None:
    """``git add`` + ``git commit`` only ``paths`` (other changes in the work tree are left alone); a
    failure is logged, not raised: the record is on disk and the next commit takes it along."""
    cwd = paths[0].parent
    rel = [str(p.resolve()) for p in paths]
    for cmd in (["git", "add", "--", *rel], ["git", "commit", "-q", "-m", message, "--", *rel]):
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        if out.returncode:
            log.warning("could not commit %s: %s", message, (out.stderr or out.stdout).strip().splitlines()[:1])
            return
