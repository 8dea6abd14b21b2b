"""The docs stay true: the README is a short front door that opens with the two commands, its links lead somewhere,
and the config tables of docs/configuration.md match the code."""
from __future__ import annotations

import re

from tests.conftest import ROOT

README_MAX_LINES = 200
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_readme_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```sh") + 1: lines.index("```sh") + 3]
    assert [line.split("#")[0].strip() for line in block] == ["make synth", "make test"]
    assert lines.index("```sh") < 5


def test_readme_is_a_front_door():
    """At most 200 lines; everything else is a page under docs/, and every page is linked from the README."""
    text = (ROOT / "README.md").read_text()
    pages = sorted(path.name for path in (ROOT / "docs").glob("*.md"))
    assert len(text.splitlines()) <= README_MAX_LINES
    assert pages and [page for page in pages if f"](docs/{page})" not in text] == []


def test_every_relative_link_in_the_docs_leads_to_a_file():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target, _anchor in LINK.findall(page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_config_tables_match_the_code():
    from tools.docs import PAGE, render

    assert render(PAGE.read_text()) == PAGE.read_text(), "stale config tables: run `make docs`"


def test_every_module_config_has_a_table():
    from tools.docs import PAGE, config_classes

    text = PAGE.read_text()
    configs = [name for name in config_classes() if name.endswith("Config")]
    assert configs and all(f"<!-- config:{name} -->" in text for name in configs)


def test_ci_runs_the_readme_commands():
    script = (ROOT / ".ci" / "run").read_text()
    assert "make synth" in script and "make test" in script
