"""The README stays true: it opens with the two commands, and its config tables match the code."""
from __future__ import annotations

from tests.conftest import ROOT


def test_readme_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```sh") + 1: lines.index("```sh") + 3]
    assert [line.split("#")[0].strip() for line in block] == ["make synth", "make test"]
    assert lines.index("```sh") < 5


def test_readme_config_tables_match_the_code():
    from tools.docs import README, render

    assert render(README.read_text()) == README.read_text(), "stale config tables: run `make docs`"


def test_every_module_config_has_a_readme_table():
    from tools.docs import config_classes

    text = (ROOT / "README.md").read_text()
    configs = [name for name in config_classes() if name.endswith("Config")]
    assert configs and all(f"<!-- config:{name} -->" in text for name in configs)


def test_ci_runs_the_readme_commands():
    script = (ROOT / ".ci" / "run").read_text()
    assert "make synth" in script and "make test" in script
