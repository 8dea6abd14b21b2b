"""The errors the tools share: a command that failed, with what it ran and where its output went."""

from __future__ import annotations

from pathlib import Path


class CommandFailed(RuntimeError):
    """A command (terraform, a synth, cdktf) exited with a status it was not allowed; the message carries the tail
    of its output. A RuntimeError, so a caller that catches those keeps working."""

    def __init__(
        self, message: str, *, command: list[str] | None = None, code: int | None = None, log: Path | None = None
    ) -> None:
        super().__init__(message)
        self.command, self.code, self.log = command or [], code, log
