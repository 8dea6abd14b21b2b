#!/usr/bin/env python3
"""Keeps the config tables of docs/configuration.md true: one table per config dataclass, from the code.

    python -m tools.docs          # rewrite the tables in docs/configuration.md
    python -m tools.docs --check  # exit 1 if docs/configuration.md is stale (the test suite runs this)

A table sits between `<!-- config:ClassName -->` and `<!-- /config -->`. Each row is a field of the live class:
name, type, default, what is allowed (the limits declared on the field, modules/limits.py, which the loader
enforces) and what it means (the field's `Doc`, declared beside its limits). The classes are the environment
config and the state backend config and every config dataclass reachable from their fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import types
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"
MARKER = re.compile(r"(<!-- config:(\w+) -->\n)(.*?)(<!-- /config -->)", re.DOTALL)

Row = tuple[str, str, str, str, str]  # field, type, default, allowed, meaning


def config_classes() -> dict[str, list[Row]]:
    """ClassName -> its rows, for `Environment`, `StateBackendConfig` and every dataclass their fields hold."""
    from environments.config import Environment, StateBackendConfig

    found: dict[str, list[Row]] = {}
    pending: list[type] = [Environment, StateBackendConfig]
    while pending:
        cls = pending.pop(0)
        if cls.__name__ in found:
            continue
        hints = typing.get_type_hints(cls, include_extras=True)
        found[cls.__name__] = [_row(field, hints[field.name]) for field in dataclasses.fields(cls)]
        pending += [held for field in dataclasses.fields(cls) for held in _held_dataclasses(hints[field.name])]
    return found


def _row(field: dataclasses.Field, hint: typing.Any) -> Row:
    from modules.limits import doc_of, item_limits_of, limits_of

    allowed = [limit.brief for limit in limits_of(hint)] + [f"each: {limit.brief}" for limit in item_limits_of(hint)]
    return field.name, _type_text(hint), _default_text(field), "; ".join(allowed), doc_of(hint)


def _held_dataclasses(hint: typing.Any) -> list[type]:
    base = _without_annotations(hint)
    return [tp for tp in (base, *typing.get_args(base)) if isinstance(tp, type) and dataclasses.is_dataclass(tp)]


def _without_annotations(hint: typing.Any) -> typing.Any:
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


def _type_text(hint: typing.Any) -> str:
    """`Annotated[int, Range(0, 35)]` -> `int`, `tuple[Annotated[str, ...], ...]` -> `tuple[str, ...]`."""
    tp = _without_annotations(hint)
    origin = typing.get_origin(tp)
    if origin is tuple:
        items = typing.get_args(tp)
        if len(items) == 2 and items[1] is Ellipsis:
            return f"tuple[{_type_text(items[0])}, ...]"
        return f"tuple[{', '.join(map(_type_text, items))}]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(map(_type_text, typing.get_args(tp)))
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _default_text(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        return _shown(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return f"{field.default_factory.__name__}()"
    return "required"


def _shown(value: typing.Any) -> str:
    """A value as it would be written in code; a config instance shows only what differs from its defaults."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        given = [
            f"{field.name}={_shown(getattr(value, field.name))}"
            for field in dataclasses.fields(value)
            if field.default is dataclasses.MISSING or getattr(value, field.name) != field.default
        ]
        return f"{type(value).__name__}({', '.join(given)})"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_shown, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def table(rows: list[Row]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| field | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    lines += [
        f"| `{name}` | `{escape(kind)}` | `{escape(default)}` | {escape(allowed)} | {escape(meaning)} |"
        for name, kind, default, allowed, meaning in rows
    ]
    return "\n".join(lines) + "\n"


def render(text: str) -> str:
    classes = config_classes()

    def replace(match: re.Match) -> str:
        name = match.group(2)
        if name not in classes:
            raise SystemExit(f"docs/configuration.md names {name}, which is no config class")
        return match.group(1) + table(classes[name]) + match.group(4)

    return MARKER.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    import fast_bindings

    fast_bindings.install()  # the config classes' modules import the AWS bindings
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
