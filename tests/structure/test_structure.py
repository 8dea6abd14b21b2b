"""The code keeps its shape: short functions in stacks/ and modules/, and no hidden inputs there."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

MAX_FUNCTION_LINES = 60
SOURCES = sorted([*(ROOT / "stacks").glob("*.py"), *(ROOT / "modules").glob("*.py")])


def parsed() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in SOURCES]


def test_no_function_in_stacks_or_modules_is_longer_than_60_lines():
    too_long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for path, tree in parsed()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert SOURCES and not too_long, too_long


def test_nothing_in_stacks_or_modules_reads_the_process_environment():
    """Everything a stack depends on arrives as arguments (main.py reads the environment)."""
    readers = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in parsed()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("environ", "getenv", "environb")
        or isinstance(node, ast.alias)
        and node.name in ("environ", "getenv")
    ]
    assert not readers, readers


def test_nothing_the_synth_runs_relies_on_assert_or_debug():
    """`python main.py` runs as `python -O main.py` (main._optimized), which drops `assert` statements and
    `if __debug__:` blocks: none may carry a check of this project's synth."""
    synth_sources = [
        *SOURCES,
        ROOT / "main.py",
        *(ROOT / "environments").glob("*.py"),
        *(ROOT / "fast_bindings").glob("*.py"),
    ]
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in synth_sources
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Assert) or isinstance(node, ast.Name) and node.id == "__debug__"
    ]
    assert len(synth_sources) > len(SOURCES) and not found, found


def test_install_writes_optimized_bytecode_for_the_synth_s_imports():
    """`make install` compiles, with -O, the bindings' distribution and what it requires (tools/perf/bytecode.py):
    every package `python -O main.py` imports from the venv."""
    from tools.perf.bytecode import closure, top_levels

    names = {path.name for distribution in closure() for path in top_levels(distribution)}
    assert {
        "cdktf_cdktf_provider_aws",
        "cdktf",
        "constructs",
        "jsii",
        "typeguard",
        "cattrs",
        "attrs",
        "publication.py",
        "typing_extensions.py",
        "dateutil",
    } <= names, names
    assert "checkov" not in names and "moto" not in names  # test tools are not the synth's
