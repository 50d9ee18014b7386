import sqlite3

import torch

from benchmark.results_store import ResultsStore, RunKey

V0_RESULTS = """CREATE TABLE results (run_key TEXT NOT NULL, threat TEXT NOT NULL, accuracy REAL NOT NULL,
    n INTEGER NOT NULL, seconds REAL NOT NULL, threat_config_json TEXT NOT NULL, correct BLOB,
    PRIMARY KEY (run_key, threat))"""


def test_an_old_store_is_migrated_and_keeps_its_results(tmp_path):
    db = sqlite3.connect(tmp_path / "results.sqlite")
    db.execute(V0_RESULTS)
    db.execute("INSERT INTO results VALUES ('b|r|q|0', 'clean', 0.9, 10, 1.0, '{}', NULL)")
    db.commit()
    db.close()
    key = RunKey("b", "r", "q", 0)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        store.start_run(key, {}, "h", "v")
        store.add_result(key, "shape-bias", float("nan"), 0, 0.1, {}, torch.zeros(0, dtype=torch.bool),
                         unavailable="needs a stylizer")
        store.finish_run(key)
        r = store.results(include_unavailable=True).set_index("threat")
    assert r.loc["clean", "accuracy"] == 0.9 and r.loc["shape-bias", "unavailable"] == "needs a stylizer"
