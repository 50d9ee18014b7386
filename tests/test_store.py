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


def test_a_resumed_run_keeps_the_code_that_trained_it_and_each_result_names_its_own(tmp_path):
    """Adding threats to a finished run (``run --threats … full`` on a published record) used to overwrite the
    run's code version with the evaluating one: the code that trained the network was lost."""
    key = RunKey("mixup", "resnet20", "quick", 0)
    ok = torch.ones(4, dtype=torch.bool)
    with ResultsStore(tmp_path / "a.sqlite") as store:
        store.start_run(key, {}, "h", "git:train")
        store.add_result(key, "clean", 1.0, 4, 0.1, {}, ok, code_version="git:train")
        store.finish_run(key)
        store.start_run(key, {}, "h", "git:later")  # same config: resumed for a new threat
        store.add_result(key, "pgd", 1.0, 4, 0.1, {}, ok, code_version="git:later")
        store.finish_run(key)
        record = store.export_run(key)
        versions = dict(zip(store.results().threat, store.results().code_version, strict=True))
        store.start_run(key, {}, "h2", "git:new")  # a changed config starts over under the new code
        restarted = store.export_run(key)["code_version"]
    assert record["code_version"] == "git:train" and versions == {"clean": "git:train", "pgd": "git:later"}
    # a result names its code only where it differs from the run's, so records written before stay byte-identical
    assert ["code_version" in r for r in record["results"]] == [False, True]
    assert record["results"][1]["code_version"] == "git:later" and restarted == "git:new"
    with ResultsStore(tmp_path / "b.sqlite") as store:
        store.import_run(record)
        assert store.export_run(key) == record
