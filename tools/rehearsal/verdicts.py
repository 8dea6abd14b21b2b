"""The rehearsal's outcomes as values: each verdict is decided from these, and the printed text rendered from them
(editing a message cannot change a verdict)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Teardown(enum.Enum):
    NOT_RUN = "-"
    OK = "ok"
    LEFT_RESOURCES = "left resources"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SecondPlan:
    """The plan after an apply: clean when every change it shows is listed emulator drift (`explained`)."""

    ran: bool = True
    unexplained: tuple[str, ...] = ()  # `address: attribute paths` of each change that is not
    explained: int = 0

    @property
    def clean(self) -> bool:
        return self.ran and not self.unexplained

    def __str__(self) -> str:
        if not self.ran:
            return "-"
        if self.unexplained:
            more = " …" if len(self.unexplained) > 1 else ""
            return f"{len(self.unexplained)} ({self.unexplained[0]}{more})"
        return f"0 (+{self.explained} emulator drift)" if self.explained else "0"


NOT_PLANNED = SecondPlan(ran=False)


@dataclass(frozen=True)
class LockRace:
    """Two plans raced for the state lock: the lock was seen held, the second plan refused, the state still clean."""

    observed: bool
    refused: bool
    after: SecondPlan

    @property
    def ok(self) -> bool:
        return self.observed and self.refused and self.after.clean

    def __str__(self) -> str:
        if not self.observed:
            return "lock never observed"
        if not self.refused:
            return "second plan NOT blocked"
        return "second plan blocked, state clean" if self.after.clean else f"state changed after race: {self.after}"


@dataclass(frozen=True)
class Recreate:
    """A destroyed environment applied again under the same names, then destroyed again."""

    first: int  # resources of the first apply
    again: int  # resources of the second
    left: int  # resources left after the second destroy

    @property
    def ok(self) -> bool:
        return self.again == self.first and self.left == 0

    def __str__(self) -> str:
        return (
            f"{self.again} applied again, destroyed"
            if self.ok
            else f"FAILED: {self.again} of {self.first} applied again, {self.left} left"
        )


def verdict(ok: bool) -> str:
    return "ok" if ok else "FAILED"
