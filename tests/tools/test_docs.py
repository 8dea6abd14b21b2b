"""The docs stay true: the README is a short front door that opens with the two commands, its links lead somewhere,
and the config tables of docs/configuration.md match the code."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

README_MAX_LINES = 200
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_readme_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```sh") + 1 : lines.index("```sh") + 3]
    assert [line.split("#")[0].strip() for line in block] == ["make synth", "make test"]
    assert lines.index("```sh") < 5


def test_readme_is_a_front_door():
    """At most 200 lines; everything else is a page under docs/, and every page is linked from the README."""
    text = (ROOT / "README.md").read_text()
    pages = sorted(path.name for path in (ROOT / "docs").glob("*.md"))
    assert len(text.splitlines()) <= README_MAX_LINES
    assert pages and [page for page in pages if f"](docs/{page})" not in text] == []


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_relative_link_in_the_docs_leads_to_a_file_and_heading():
    broken, checked = [], 0
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target, anchor in LINK.findall(page.read_text()):
            if "://" in target:
                continue
            linked = page.parent / target
            checked += 1
            if not linked.exists() or anchor and linked.suffix == ".md" and anchor[1:] not in _anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target}{anchor}")
    assert checked > 30 and broken == []


def test_config_tables_match_the_code():
    from tools.docs import PAGE, render

    assert render(PAGE.read_text()) == PAGE.read_text(), "stale config tables: run `make docs`"


def test_every_config_class_has_a_table():
    from tools.docs import PAGE, config_classes

    text = PAGE.read_text()
    configs = config_classes()
    assert {"Environment", "StateBackendConfig", "DatabaseConfig", "ApiClient"} <= set(configs)
    assert [name for name in configs if f"<!-- config:{name} -->" not in text] == []


def test_every_config_field_says_what_it_means():
    """The meaning is declared beside the field's limits (`Doc` in its `Annotated[...]`), not in a comment."""
    from tools.docs import config_classes

    undocumented = [f"{name}.{row[0]}" for name, rows in config_classes().items() for row in rows if not row[4]]
    assert undocumented == []


def test_a_field_shows_its_type_default_limits_and_meaning():
    from tools.docs import config_classes

    rows = {row[0]: row for row in config_classes()["DatabaseConfig"]}
    assert rows["backup_retention_days"] == (
        "backup_retention_days",
        "int",
        "30",
        "0-35 days",
        "automated backups and point-in-time recovery window",
    )
    assert rows["engine_version"][2] == "'15'"  # the value, not the constant's name
    clients = {row[0]: row for row in config_classes()["ApiConfig"]}["clients"]
    assert clients[1:3] == ("tuple[ApiClient, ...]", "(ApiClient(name='web'),)")


def test_ci_runs_the_readme_commands():
    script = (ROOT / ".ci" / "run").read_text()
    assert "make synth" in script and "make test" in script
