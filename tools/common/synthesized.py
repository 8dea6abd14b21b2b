"""Synthesizing the project (this tree or a commit's) and reading the synthesized JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fast_bindings
from tools.common.errors import CommandFailed
from tools.common.git import ROOT, worktree

EMULATOR_VARIABLE = "VIDEO_INGEST_EMULATOR_ENDPOINT"


def stack_file(out: Path, stack: str) -> Path:
    return out / "stacks" / stack / "cdk.tf.json"


def load_stack(out: Path, stack: str) -> dict:
    """The stack's synthesized JSON, as written."""
    return json.loads(stack_file(out, stack).read_text())


def without_metadata(value):
    """The configuration as Terraform reads it: cdktf's `//` metadata (and the checkov notes in it) left out."""
    if isinstance(value, dict):
        return {k: without_metadata(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [without_metadata(v) for v in value]
    return value


def synth(
    tree: Path, out: Path, stacks: list[str] | None = None, env: dict[str, str] | None = None, log: Path | None = None
) -> Path:
    """Synthesizes the project at `tree` into `out` with this venv's Python, in `env` (default: this process's).
    Always the plain stacks: an older commit's main.py read EMULATOR_VARIABLE to synthesize for the emulator,
    so it is never passed on (the rehearsal emulates a plain synth itself). Raises CommandFailed with the tail
    of the output when synthesis fails."""
    env = {k: v for k, v in (os.environ if env is None else env).items() if k != EMULATOR_VARIABLE}
    # The base tree's jsii kernel on this venv's node too, whatever that tree's fast_bindings knows about it.
    env = dict(env, JSII_NODE=env.get("JSII_NODE") or fast_bindings.node_executable())
    command = [sys.executable, "main.py", *(stacks or []), "--outdir", str(out)]
    result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise CommandFailed(
            f"synthesis of {tree} failed (exit {result.returncode}):\n{result.stderr[-2000:]}",
            command=command,
            code=result.returncode,
            log=log,
        )
    return out


def synth_ref(
    ref: str, out: Path, work: Path, stacks: list[str] | None = None, env: dict[str, str] | None = None
) -> Path:
    """Synthesizes commit `ref` (from a worktree under `work`) into `out`."""
    with worktree(ref, work) as tree:
        return synth(tree, out, stacks, env, log=work / "base-synth.log")


__all__ = ["ROOT", "load_stack", "stack_file", "synth", "synth_ref", "without_metadata"]
