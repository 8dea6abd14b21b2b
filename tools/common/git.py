"""git, as the tools use it: run a command, describe a commit, a throw-away worktree of a ref."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def default_base(tool: str = "synth-diff") -> str:
    """The merge-base of HEAD and main (or origin/main)."""
    for branch in ("main", "origin/main"):
        try:
            return git("merge-base", "HEAD", branch)
        except subprocess.CalledProcessError:
            continue
    raise SystemExit(f"{tool}: no `main` or `origin/main` to compare with; pass BASE=<git ref>")


def describe(ref: str) -> str:
    """`c36f89d Subject…` for a report's title."""
    short, subject = git("log", "-1", "--format=%h%n%s", ref).split("\n", 1)
    return f"{short} {subject if len(subject) <= 50 else subject[:49] + '…'}"


@contextlib.contextmanager
def worktree(ref: str, work: Path):
    """A detached git worktree of `ref` under `work` (removed, and its registration pruned, afterwards)."""
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    tree = work / f"tree-{sha[:12]}"
    if tree.exists():
        _remove_worktree(tree)
    work.mkdir(parents=True, exist_ok=True)
    git("worktree", "add", "--detach", "--force", str(tree), sha)
    try:
        yield tree
    finally:
        _remove_worktree(tree)


def _remove_worktree(tree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
