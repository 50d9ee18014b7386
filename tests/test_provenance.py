"""The code version names the commit, and says -dirty only when the code itself differs from it."""

import subprocess

from benchmark.provenance import git_version


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_code_version_is_dirty_for_a_code_change_and_clean_for_a_rewritten_record(tmp_path):
    """A long run rewrites its records and board before committing them: that left `-dirty` on seven published
    records scored by an unmodified commit. Only a change under benchmark/, defenses/, attacks/ or
    pyproject.toml (modified, deleted or new) marks the version."""
    _git(tmp_path, "init", "-q")
    for f in ("benchmark/a.py", "defenses/d.py", "leaderboard/runs/r.json", "README.md", "pyproject.toml"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert git_version(tmp_path) == f"git:{sha}"
    (tmp_path / "leaderboard/runs/r.json").write_text("{}\n")  # a record rewritten in place
    (tmp_path / "leaderboard/runs/new.json").write_text("{}\n")
    (tmp_path / "README.md").write_text("edited\n")
    assert git_version(tmp_path) == f"git:{sha}"
    (tmp_path / "benchmark/a.py").write_text("x = 2\n")
    assert git_version(tmp_path) == f"git:{sha}-dirty"
    _git(tmp_path, "checkout", "-q", "--", "benchmark/a.py")
    (tmp_path / "defenses/new.py").write_text("y = 1\n")  # an untracked module a run could import
    assert git_version(tmp_path) == f"git:{sha}-dirty"
    (tmp_path / "defenses/new.py").unlink()
    (tmp_path / "pyproject.toml").unlink()
    assert git_version(tmp_path) == f"git:{sha}-dirty"


def test_code_version_outside_a_git_checkout_is_none(tmp_path):
    assert git_version(tmp_path) is None
