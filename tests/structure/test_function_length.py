"""Short functions in the tools, the fast bindings and the tests too (tests/structure/test_structure.py keeps
stacks/ and modules/ to the same limit)."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

MAX_FUNCTION_LINES = 60
ROOMS = ("tools", "fast_bindings", "tests")


def test_no_function_in_the_tools_fast_bindings_or_tests_is_longer_than_60_lines():
    sources = sorted(path for room in ROOMS for path in (ROOT / room).rglob("*.py"))
    too_long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for path in sources
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert len(sources) > 50 and not too_long, too_long
