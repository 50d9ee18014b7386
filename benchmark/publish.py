"""The published leaderboard: run records → entry JSON files → ``LEADERBOARD.md`` + plots.

``LEADERBOARD.md`` is rendered from the entry files alone (:func:`render`), so what a reader sees is
exactly what the entries hold; :func:`publish` first re-exports the entries from the committed run
records (``leaderboard/runs/<budget>/*.json``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from benchmark import entries as E
from benchmark.board import render  # noqa: F401 - the renderer, re-exported for publish's users
from benchmark.budgets import get_budget
from benchmark.masking import entry_flags
from benchmark.results_store import ResultsStore, RunKey


class PrecisionError(ValueError):
    """Records of another arithmetic than their budget declares: one board holds one precision."""


def _foreign_precision(rec: dict) -> str | None:
    """The arithmetic of ``rec`` that its budget does not accept (training or fine-tuning), else None."""
    try:
        budget = get_budget(rec["key"]["budget"])
    except ValueError:  # a budget this code does not know: nothing declared to check against
        return None
    return budget.foreign_precision(rec.get("info", {}))


def publish(records_dirs: list[Path], entries_dir: Path, md_path: Path) -> list[Path]:
    """Re-export the entries from the run records, then render ``md_path`` (and its plots) from the entry
    files. Returns the entry paths written."""

    with tempfile.TemporaryDirectory() as tmp:
        with ResultsStore(Path(tmp) / "published.sqlite") as store:
            ckpts: dict[RunKey, str] = {}
            refused = []
            for d in records_dirs:
                for rec_path in sorted(Path(d).glob("*.json")):
                    rec = json.loads(rec_path.read_text())
                    if (foreign := _foreign_precision(rec)) is not None:
                        refused.append(f"{rec_path.name} ({foreign})")
                        continue
                    key = store.import_run(rec)
                    pt = rec_path.with_suffix(".pt")
                    if pt.is_file():
                        ckpts[key] = os.path.relpath(pt, entries_dir)
            if refused:
                raise PrecisionError(f"{len(refused)} records trained in another precision than their budget "
                                     f"declares, not published: {', '.join(refused)}")
            runs = store.runs()
            flags = entry_flags(store)
            paths = E.write_entries(E.build_entries(store, ckpts, flags), entries_dir)
            budgets = set(runs.budget) if len(runs) else set()
    # an entry of a published budget whose records are gone (withdrawn runs) is withdrawn with them
    for old in sorted(set(entries_dir.glob("*.json")) - set(paths)):
        if E.load_entry(old)["budget"]["name"] in budgets:
            old.unlink()
    _write_md(entries_dir, md_path)
    return paths


def _write_md(entries_dir: Path, md_path: Path) -> None:
    """LEADERBOARD.md, its plots and the web page ``index.html`` beside it, from the entries alone."""
    from benchmark.webpage import write_page

    text = render(E.load_entries(entries_dir), plot_dir=md_path.parent, md_dir=md_path.parent)
    tmp_md = md_path.with_suffix(".md.tmp")
    tmp_md.write_text(text)
    tmp_md.replace(md_path)
    write_page(entries_dir, md_path.parent / "index.html")


def render_board(board: Path) -> Path:
    """Re-render ``board/LEADERBOARD.md`` (and plots) from ``board/entries`` alone; returns its path."""
    if not (board / "entries").is_dir():
        raise FileNotFoundError(f"{board / 'entries'}: no entries to render")
    _write_md(board / "entries", board / "LEADERBOARD.md")
    return board / "LEADERBOARD.md"


def check_board(board: Path) -> list[str]:
    """Differences between ``board/LEADERBOARD.md`` + ``board/index.html`` and the rendering of
    ``board/entries`` (one line each; empty: they agree). Plots are drawn into a scratch folder: only the
    markdown and the page are compared."""
    import difflib

    from benchmark.webpage import render_page

    md = board / "LEADERBOARD.md"
    if not md.is_file():
        raise FileNotFoundError(f"{md}: no such file")
    entries = E.load_entries(board / "entries")
    with tempfile.TemporaryDirectory() as tmp:
        want = render(entries, plot_dir=Path(tmp), md_dir=Path(tmp))
    page = board / "index.html"
    out = []
    for path, expected in ((md, want), (page, render_page(entries, board / "entries"))):
        have = path.read_text() if path.is_file() else ""
        if not path.is_file():
            out.append(f"{path}: missing (defense-bench leaderboard --render writes it)")
        elif have != expected:
            diff = difflib.unified_diff(have.splitlines(), expected.splitlines(), "committed", "rendered", n=0,
                                        lineterm="")
            out += [f"{path}: {line[:300]}" for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    return out
