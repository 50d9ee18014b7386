import re

from tests.conftest import REPO


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    assert blocks[:2] == ['pip install -e ".[dev]" && defense-bench run', 'pip install -e ".[dev]" && pytest']
    ci = [ln for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith("#")]
    assert blocks[1] in ci


def test_readme_lists_every_registered_defense_and_threat():
    from benchmark.registry import DEFENSES, THREAT_MODELS

    readme = (REPO / "README.md").read_text()
    for name in DEFENSES.names() + THREAT_MODELS.names():
        assert f"`{name}`" in readme, name
