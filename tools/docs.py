#!/usr/bin/env python3
"""Keeps the config tables of docs/configuration.md true: one table per config dataclass, from the source.

    python -m tools.docs          # rewrite the tables in docs/configuration.md
    python -m tools.docs --check  # exit 1 if docs/configuration.md is stale (the test suite runs this)

A table sits between `<!-- config:ClassName -->` and `<!-- /config -->`. Each row is
a field: name, type, default, what is allowed (the limits declared on the field, modules/limits.py,
which the loader enforces), and the comment written next to it in the code.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import io
import re
import sys
import tokenize
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"
MARKER = re.compile(r"(<!-- config:(\w+) -->\n)(.*?)(<!-- /config -->)", re.DOTALL)


def config_classes() -> dict[str, list[tuple[str, str, str, str, str]]]:
    """ClassName -> [(field, type, default, allowed, comment)] for every dataclass in modules/ and the environment
    config. Type, default and comment are read from the source as written; what is allowed from the limits."""
    found = {}
    for path in [*sorted((ROOT / "modules").glob("*.py")), ROOT / "environments" / "config.py"]:
        source = path.read_text()
        comments = {token.start[0]: token.string.lstrip("# ").strip()
                    for token in tokenize.generate_tokens(io.StringIO(source).readline)
                    if token.type == tokenize.COMMENT}
        for node in ast.parse(source).body:
            if isinstance(node, ast.ClassDef) and any("dataclass" in ast.unparse(d) for d in node.decorator_list):
                allowed = _allowed(path, node.name)
                rows = []
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        default = ast.unparse(item.value) if item.value is not None else "required"
                        rows.append((item.target.id, ast.unparse(_without_limits(item.annotation)), default,
                                     allowed.get(item.target.id, ""), comments.get(item.lineno, "")))
                found[node.name] = rows
    return found


def _without_limits(annotation: ast.expr) -> ast.expr:
    """`Annotated[int, Range(0, 35)]` -> `int`, also inside `tuple[...]`: the type column shows the type."""
    class Strip(ast.NodeTransformer):
        def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
            if isinstance(node.value, ast.Name) and node.value.id == "Annotated" and isinstance(node.slice, ast.Tuple):
                return self.visit(node.slice.elts[0])
            return self.generic_visit(node)
    return Strip().visit(ast.parse(ast.unparse(annotation), mode="eval").body)


def _allowed(path: Path, class_name: str) -> dict[str, str]:
    """Field -> the descriptions of its limits ("each: ..." for the items of a tuple), from the live class."""
    from modules.limits import item_limits_of, limits_of

    module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    hints = typing.get_type_hints(getattr(module, class_name), include_extras=True)
    allowed = {}
    for name, hint in hints.items():
        described = [limit.brief for limit in limits_of(hint)] + [f"each: {limit.brief}" for limit in item_limits_of(hint)]
        allowed[name] = "; ".join(described)
    return allowed


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    escape = lambda text: text.replace("|", "\\|")
    lines = ["| field | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    lines += [f"| `{name}` | `{escape(kind)}` | `{escape(default)}` | {escape(allowed)} | {escape(comment)} |"
              for name, kind, default, allowed, comment in rows]
    return "\n".join(lines) + "\n"


def render(text: str) -> str:
    classes = config_classes()

    def replace(match: re.Match) -> str:
        name = match.group(2)
        if name not in classes:
            raise SystemExit(f"docs/configuration.md names {name}, which no module defines")
        return match.group(1) + table(classes[name]) + match.group(4)

    return MARKER.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    import fast_bindings

    fast_bindings.install()  # the limits are read from the config classes, whose modules import the AWS bindings
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    current = PAGE.read_text()
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("docs/configuration.md: config tables are stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
