"""The project's habits hold: one set of direct dependencies (pyproject's groups = requirements.txt, both under the
exact lock), ruff configured in one place and run the same way by make, CI and pre-commit."""

from __future__ import annotations

import ast
import re
import tomllib

from tests.conftest import ROOT


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_dependency_groups_are_requirements_txt_under_the_lock():
    groups = _pyproject()["dependency-groups"]
    assert {"synth", "test", "scan", "rehearsal", "diagrams"} <= set(groups)
    in_groups = _pins([item for items in groups.values() for item in items if isinstance(item, str)])
    required = _pins((ROOT / "requirements.txt").read_text().splitlines())
    locked = _pins((ROOT / "requirements.lock").read_text().splitlines())
    assert in_groups == required
    assert {name: locked.get(name) for name in required} == required


def test_ruff_is_pinned_and_configured_in_pyproject():
    ruff = _pyproject()["tool"]["ruff"]
    assert ruff["line-length"] == 120 and ruff["target-version"] == "py311"
    assert {"E", "F", "W", "I", "B", "UP"} <= set(ruff["lint"]["select"])
    assert _pins((ROOT / "requirements.txt").read_text().splitlines())["ruff"] == "0.14.0"


def test_make_ci_and_pre_commit_run_the_venv_s_ruff():
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile[makefile.index("\nlint:") :].split("\n\n")[0]
    assert "ruff check ." in lint and "ruff format --check ." in lint
    assert re.search(r"^phase lint make lint$", (ROOT / ".ci" / "run").read_text(), re.M)
    assert "run: make lint" in (ROOT / ".github" / "workflows" / "pull-request.yml").read_text()
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    assert re.findall(r"^\s+- repo: (\S+)", hooks, re.M) == ["local"]  # no hook repository to fetch
    assert re.findall(r"entry: (\S+)", hooks) == [".venv/bin/ruff", ".venv/bin/ruff"]


def test_no_function_in_environments_or_main_is_longer_than_60_lines():
    """tests/test_structure.py checks stacks/ and modules/; the config loader and the entry point keep the same
    limit."""
    sources = [*sorted((ROOT / "environments").glob("*.py")), ROOT / "main.py"]
    too_long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for path in sources
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60
    ]
    assert len(sources) >= 3 and too_long == []
