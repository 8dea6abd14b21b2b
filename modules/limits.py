"""Limits and meaning of config fields, declared as data next to each field (pure Python):

    backup_retention_days: Annotated[int, Range(0, 35, "days"), Doc("point-in-time recovery window")] = 30

environments/config.py enforces every limit when it loads a file, with one line that names the file, the field,
the value and what is allowed (`environments/dev.toml: database.backup_retention_days = 40: must be 0-35 days`);
tools/docs.py shows each limit's `description` in docs/configuration.md's tables (the "allowed" column) and each
field's `Doc` (the "meaning" column). Rules between fields (transitions that must increase, min <= max) stay code,
in the dataclass's `__post_init__`.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LONG_LIST = 8  # longer lists of values are shortened in the docs' tables (messages list them all)


class Limit:
    """One field's limit: `problem(value)` says what is wrong (None: allowed); `description` says what is allowed."""

    description: str

    def problem(self, value: Any) -> str | None:
        raise NotImplementedError

    @property
    def brief(self) -> str:
        """`description` as the docs' tables show it."""
        return self.description


def _number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _amount(number: float, unit: str) -> str:
    """`1 day`, `30 days`, `5 %`."""
    if not unit:
        return _number(number)
    return f"{_number(number)} {unit[:-1] if number == 1 and unit.endswith('days') else unit}"


@dataclass(frozen=True)
class Range(Limit):
    """`low <= value <= high` (either bound may be None: unbounded); `above=True`: `low < value`."""

    low: float | None = None
    high: float | None = None
    unit: str = ""
    above: bool = False

    def problem(self, value: Any) -> str | None:
        fits = (self.low is None or (value > self.low if self.above else value >= self.low)) and (
            self.high is None or value <= self.high
        )
        return None if fits else f"must be {self.description}"

    @property
    def description(self) -> str:  # type: ignore[override]
        if self.high is None:
            return f"{'above' if self.above else 'at least'} {_amount(self.low, self.unit)}"
        if self.low is None:
            return f"at most {_amount(self.high, self.unit)}"
        if self.above:
            return f"above {_number(self.low)} and at most {_amount(self.high, self.unit)}"
        return f"{_number(self.low)}-{_amount(self.high, self.unit)}"


@dataclass(frozen=True)
class OneOf(Limit):
    """One of `values`; `name` says what they are ("a CloudWatch Logs retention"), `text` replaces the list."""

    values: tuple
    name: str = ""
    text: str = ""

    def problem(self, value: Any) -> str | None:
        return None if value in self.values else f"must be {self.description}"

    def _listed(self, listed: str) -> str:
        return self.text or (f"{self.name}: {listed}" if self.name else f"one of {listed}")

    @property
    def description(self) -> str:  # type: ignore[override]
        return self._listed(", ".join(map(str, self.values)))

    @property
    def brief(self) -> str:
        if len(self.values) <= LONG_LIST:
            return self.description
        return self._listed(", ".join(map(str, self.values[:4])) + f", …, {self.values[-1]}")


@dataclass(frozen=True)
class Pattern(Limit):
    """The whole value matches `regex`; `description` says it in words ("a DNS name such as 'example.com'")."""

    regex: str
    description: str

    def problem(self, value: Any) -> str | None:
        return None if re.fullmatch(self.regex, value) else f"must be {self.description}"


@dataclass(frozen=True)
class Check(Limit):
    """A limit that needs code (a table lookup, a parse): `check(value)` returns the problem or None."""

    check: Callable[[Any], str | None]
    description: str

    def problem(self, value: Any) -> str | None:
        return self.check(value)


def limits_of(annotation: Any) -> tuple[Limit, ...]:
    """The limits in an `Annotated[...]` annotation (none for a plain type)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return tuple(meta for meta in annotation.__metadata__ if isinstance(meta, Limit))
    return ()


def item_limits_of(annotation: Any) -> tuple[Limit, ...]:
    """The limits on each item of a `tuple[Annotated[...], ...]` (itself annotated or not)."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is tuple:
        return limits_of(typing.get_args(annotation)[0])
    return ()


@dataclass(frozen=True)
class Doc:
    """What a config field means, for the people who set it: `Annotated[int, Range(1, 12, "hours"), Doc("...")]`.
    Not a limit (the loader ignores it); tools/docs.py writes it into the field's row of docs/configuration.md."""

    text: str


def doc_of(annotation: Any) -> str:
    """The `Doc` text in an `Annotated[...]` annotation ("" for none)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return " ".join(meta.text for meta in annotation.__metadata__ if isinstance(meta, Doc))
    return ""
