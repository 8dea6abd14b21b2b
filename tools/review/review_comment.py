#!/usr/bin/env python3
"""The pull request's one review comment, from what the review jobs left in a folder.

    python -m tools.review.review_comment review/ --head <sha> --out build/review-comment.md

Reads `<env>.md` + `<env>.status` for dev, staging and prod (tools.review.review_plan's summary of a real-state
plan and its exit status, or a note saying why there is none and `skipped`), and `synth-diff.md` +
`synth-diff.status` (tools.review.synth_diff).
Writes the comment: the marker the workflow finds it by (so later pushes update it in place), the
real-state plan per environment, then the synth diff. Exit status 2 when any of them found a stateful
loss (the merge is blocked), 0 otherwise.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.review.plan_summary import EXIT_STATEFUL_LOSS

MARKER = "<!-- video-ingest-plan-summary -->"
ENVIRONMENTS = ("dev", "staging", "prod")
LIMIT = 60_000  # GitHub refuses comments over 65,536 characters


def _read(folder: Path, name: str) -> tuple[str | None, str | None]:
    read = lambda suffix: (folder / f"{name}.{suffix}").read_text().strip() \
        if (folder / f"{name}.{suffix}").is_file() else None
    return read("md"), read("status")


def comment(folder: Path, head: str = "") -> tuple[str, int]:
    parts, statuses, planned = [], [], []
    for env in ENVIRONMENTS:
        text, status = _read(folder, env)
        parts.append(text or f"### {env}\n\nNo real-state plan: its job did not report (see the workflow run).")
        statuses.append(status)
        if status not in (None, "skipped"):
            planned.append(env)
    diff, diff_status = _read(folder, "synth-diff")
    statuses.append(diff_status)
    lead = (f"Plans against the real state of {', '.join(planned)}, then the synth diff against the base branch."
            if planned else "No environment plans against its real state here (see the notes below and the README, "
            "*Review in pull requests*): the synth diff against the base branch is the review.")
    blocked = str(EXIT_STATEFUL_LOSS) in statuses
    title = ":no_entry: Stateful resources would be lost — review" if blocked else "Review"
    text = "\n\n".join([
        MARKER + f"\n## {title} of {head[:7] or 'this pull request'}",
        lead, "## Real-state plans", *parts,
        "## Synth diff", diff or "The synth diff did not report (see the workflow run)."]) + "\n"
    if len(text) > LIMIT:
        text = text[:LIMIT] + "\n\n… (cut at 60,000 characters; the whole review is in the workflow run's summary)\n"
    return text, EXIT_STATEFUL_LOSS if blocked else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--head", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    text, code = comment(args.folder, args.head)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
