"""The results store: one SQLite file per output directory, written by one process (the driver).

Tables: ``runs`` (one row per defense × architecture × budget × seed: config, status, size, cost) and
``results`` (one row per run × threat: accuracy, images, seconds, per-image outcomes). Every write is a
transaction, so an interrupted run leaves only whole rows, and a re-run skips what is already there.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    defense TEXT NOT NULL,
    arch TEXT NOT NULL,
    budget TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config_hash TEXT NOT NULL,
    config_json TEXT NOT NULL,
    code_version TEXT NOT NULL,
    status TEXT NOT NULL,           -- 'running', 'done' or 'failed'
    error TEXT,
    info_json TEXT NOT NULL DEFAULT '{}',  -- params, FLOPs, training cost: numbers stay numbers
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_key TEXT NOT NULL REFERENCES runs(key),
    threat TEXT NOT NULL,
    accuracy REAL,                  -- in [0, 1]; NULL when the threat was unavailable
    n INTEGER NOT NULL,
    seconds REAL NOT NULL,
    threat_config_json TEXT NOT NULL,
    correct BLOB,                   -- np.packbits of the per-image outcome
    parts_json TEXT NOT NULL DEFAULT '{}',  -- accuracies reported beside the main one
    unavailable TEXT,               -- why the threat could not run
    code_version TEXT,              -- the code that scored it (NULL: the run's own)
    PRIMARY KEY (run_key, threat)
);
"""
# Columns added after the first release, for stores written by an older version.
MIGRATIONS = {"results": {"parts_json": "TEXT NOT NULL DEFAULT '{}'", "unavailable": "TEXT", "code_version": "TEXT"}}


@dataclass(frozen=True)
class RunKey:
    defense: str
    arch: str
    budget: str
    seed: int

    def __str__(self) -> str:
        return f"{self.defense}|{self.arch}|{self.budget}|{self.seed}"

    @property
    def slug(self) -> str:
        return f"{self.arch}-{self.budget}-s{self.seed}-{self.defense}"


class ResultsStore:
    """Read and write runs and results in ``path`` (created with its schema if absent)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.executescript(SCHEMA)
        info = {row[1]: row for row in self._db.execute("PRAGMA table_info(results)")}
        if info["accuracy"][3]:  # stores before 0.1 had accuracy NOT NULL: rebuild the table without it
            keep = ", ".join(info)
            self._db.executescript(
                f"ALTER TABLE results RENAME TO results_v0; {SCHEMA}"
                f" INSERT INTO results ({keep}) SELECT {keep} FROM results_v0; DROP TABLE results_v0;")
        for table, columns in MIGRATIONS.items():
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, decl in columns.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(self, key: RunKey, config: dict[str, Any], config_hash: str, code_version: str) -> None:
        """Record (or restart) a run; results of an earlier config under the same key are dropped. A run
        resumed under its own config keeps the code version that started it (the one that trained its
        network); each result names the code that scored it (:meth:`add_result`)."""
        with self._db:
            old = self._db.execute("SELECT config_hash FROM runs WHERE key=?", (str(key),)).fetchone()
            if old and old[0] != config_hash:
                self._db.execute("DELETE FROM results WHERE run_key=?", (str(key),))
            self._db.execute(
                "INSERT INTO runs (key, defense, arch, budget, seed, config_hash, config_json, code_version,"
                " status, error, updated) VALUES (?,?,?,?,?,?,?,?, 'running', NULL, ?)"
                " ON CONFLICT(key) DO UPDATE SET config_hash=excluded.config_hash,"
                " config_json=excluded.config_json, status='running',"
                " code_version=CASE WHEN runs.config_hash=excluded.config_hash THEN runs.code_version"
                " ELSE excluded.code_version END,"
                " error=NULL, updated=excluded.updated",
                (str(key), key.defense, key.arch, key.budget, key.seed, config_hash, json.dumps(config),
                 code_version, time.time()),
            )

    def update_info(self, key: RunKey, **info: Any) -> None:
        with self._db:
            row = self._db.execute("SELECT info_json FROM runs WHERE key=?", (str(key),)).fetchone()
            merged = {**json.loads(row[0]), **info} if row else info
            self._db.execute("UPDATE runs SET info_json=?, updated=? WHERE key=?",
                             (json.dumps(merged), time.time(), str(key)))

    def finish_run(self, key: RunKey, error: str | None = None) -> None:
        with self._db:
            self._db.execute("UPDATE runs SET status=?, error=?, updated=? WHERE key=?",
                             ("failed" if error else "done", error, time.time(), str(key)))

    def add_result(self, key: RunKey, threat: str, accuracy: float, n: int, seconds: float,
                   threat_config: dict[str, Any], correct: torch.Tensor | None = None,
                   parts: dict[str, float] | None = None, unavailable: str | None = None,
                   code_version: str | None = None) -> None:
        packable = correct is not None and len(correct) and correct.dtype == torch.bool
        blob = np.packbits(correct.numpy()).tobytes() if packable else None
        acc = None if unavailable or accuracy != accuracy else float(accuracy)  # NaN → NULL
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO results (run_key, threat, accuracy, n, seconds, threat_config_json, correct,"
                " parts_json, unavailable, code_version) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (str(key), threat, acc, int(n), float(seconds), json.dumps(threat_config), blob,
                 json.dumps(parts or {}), unavailable, code_version),
            )

    def run_status(self, key: RunKey) -> tuple[str, str] | None:
        """(status, config_hash) of a run, or None."""
        row = self._db.execute("SELECT status, config_hash FROM runs WHERE key=?", (str(key),)).fetchone()
        return (row[0], row[1]) if row else None

    def threats_done(self, key: RunKey, config_hash: str) -> dict[str, str]:
        """Threat → threat-config JSON of results stored for ``key`` under ``config_hash``."""
        rows = self._db.execute(
            "SELECT r.threat, r.threat_config_json FROM results r JOIN runs u ON r.run_key = u.key"
            " WHERE u.key=? AND u.config_hash=?", (str(key), config_hash)).fetchall()
        return dict(rows)

    def correct(self, key: RunKey, threat: str) -> np.ndarray | None:
        row = self._db.execute("SELECT correct, n FROM results WHERE run_key=? AND threat=?",
                               (str(key), threat)).fetchone()
        if not row or row[0] is None:
            return None
        return np.unpackbits(np.frombuffer(row[0], dtype=np.uint8))[: row[1]].astype(bool)

    def runs(self) -> pd.DataFrame:
        df = pd.read_sql_query("SELECT * FROM runs ORDER BY key", self._db)
        info = df.pop("info_json").map(json.loads)
        return pd.concat([df, pd.DataFrame(list(info), index=df.index)], axis=1) if len(df) else df

    def results(self, include_unavailable: bool = False) -> pd.DataFrame:
        """One row per (defense, arch, budget, seed, threat) of finished runs (scored threats only,
        unless ``include_unavailable``)."""
        where = "" if include_unavailable else " AND r.accuracy IS NOT NULL"
        return pd.read_sql_query(
            "SELECT u.defense, u.arch, u.budget, u.seed, r.threat, r.accuracy, r.n, r.seconds, r.parts_json,"
            " r.unavailable, u.config_hash, COALESCE(r.code_version, u.code_version) AS code_version"
            " FROM results r JOIN runs u ON r.run_key = u.key"
            f" WHERE u.status = 'done'{where} ORDER BY u.defense, u.arch, u.seed, r.threat", self._db)

    def export_run(self, key: RunKey) -> dict[str, Any]:
        """One finished run and its results as plain JSON (per-image outcomes base64-packed): a record that
        :meth:`import_run` restores exactly, so a published run can live in a repository as text."""
        row = self._db.execute("SELECT config_hash, config_json, code_version, status, error, info_json, updated"
                               " FROM runs WHERE key=?", (str(key),)).fetchone()
        if row is None:
            raise KeyError(f"no run {key}")
        results = []
        for r in self._db.execute("SELECT threat, accuracy, n, seconds, threat_config_json, correct, parts_json,"
                                  " unavailable, code_version FROM results WHERE run_key=? ORDER BY threat",
                                  (str(key),)):
            results.append({"threat": r[0], "accuracy": r[1], "n": r[2], "seconds": r[3],
                            "threat_config": json.loads(r[4]),
                            "correct": base64.b64encode(r[5]).decode() if r[5] is not None else None,
                            "parts": json.loads(r[6]), "unavailable": r[7],
                            # named only where it differs from the run's: older records stay byte-identical
                            **({"code_version": r[8]} if r[8] and r[8] != row[2] else {})})
        return {"format": "defense-bench-run/1", "key": dataclasses.asdict(key), "config_hash": row[0],
                "config": json.loads(row[1]), "code_version": row[2], "status": row[3], "error": row[4],
                "info": json.loads(row[5]), "updated": row[6], "results": results}

    def import_run(self, record: dict[str, Any]) -> RunKey:
        """Restore a run written by :meth:`export_run` (replacing the run under the same key)."""
        if record.get("format") != "defense-bench-run/1":
            raise ValueError(f"not a defense-bench run record (format {record.get('format')!r})")
        key = RunKey(**record["key"])
        with self._db:
            self._db.execute("DELETE FROM results WHERE run_key=?", (str(key),))
            self._db.execute(
                "INSERT OR REPLACE INTO runs (key, defense, arch, budget, seed, config_hash, config_json,"
                " code_version, status, error, info_json, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (str(key), key.defense, key.arch, key.budget, key.seed, record["config_hash"],
                 json.dumps(record["config"]), record["code_version"], record["status"], record["error"],
                 json.dumps(record["info"]), record["updated"]))
            for r in record["results"]:
                blob = base64.b64decode(r["correct"]) if r["correct"] is not None else None
                self._db.execute(
                    "INSERT INTO results (run_key, threat, accuracy, n, seconds, threat_config_json, correct,"
                    " parts_json, unavailable, code_version) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (str(key), r["threat"], r["accuracy"], r["n"], r["seconds"], json.dumps(r["threat_config"]),
                     blob, json.dumps(r["parts"]), r["unavailable"], r.get("code_version")))
        return key
