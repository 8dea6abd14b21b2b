#!/usr/bin/env python3
"""A Markdown summary of a Terraform plan for pull-request review.

    python -m tools.review.plan_summary build/plan/prod/plan.json [--title prod] [--out summary.md]

Reads `terraform show -json` output. Writes: stateful resources that would be
destroyed or replaced in a warning block at the top; counts of create / update /
replace / destroy per resource type; every replacement with the attributes that
force it, every destroy, and every resource a `moved` block takes to a new address
(with what else happens to it). Exit status 2 when a stateful resource would be
destroyed or replaced (CI blocks on it), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Resources whose loss loses data or access to it: databases, buckets (incl. the state bucket),
# keys, the lock table, backup vaults, secrets, queues (the messages waiting in them).
STATEFUL_TYPES = frozenset(
    {
        "aws_db_instance",
        "aws_rds_cluster",
        "aws_s3_bucket",
        "aws_kms_key",
        "aws_dynamodb_table",
        "aws_backup_vault",
        "aws_secretsmanager_secret",
        "aws_ecr_repository",
        "aws_efs_file_system",
        "aws_sqs_queue",
    }
)
ACTIONS = ("create", "update", "replace", "destroy")
EXIT_STATEFUL_LOSS = 2


@dataclass
class Summary:
    markdown: str
    counts: dict[str, Counter] = field(default_factory=dict)
    replaced: list[tuple[str, list[str]]] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    stateful_losses: list[str] = field(default_factory=list)
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, action or "no-op")

    @property
    def exit_code(self) -> int:
        return EXIT_STATEFUL_LOSS if self.stateful_losses else 0


def action_of(actions: list[str]) -> str | None:
    if actions in (["delete", "create"], ["create", "delete"]):
        return "replace"
    return {"create": "create", "update": "update", "delete": "destroy"}.get(actions[0]) if len(actions) == 1 else None


def _path(parts: list) -> str:
    return ".".join(str(p) for p in parts)


def summarize(plan: dict, title: str = "") -> Summary:
    summary = Summary(markdown="")
    for change in plan.get("resource_changes", []):
        if change.get("mode") != "managed":
            continue
        action = action_of(change["change"]["actions"])
        if change.get("previous_address") and change["previous_address"] != change["address"]:
            summary.moved.append((change["previous_address"], change["address"], action or "no-op"))
        if action is None:
            continue
        summary.counts.setdefault(change["type"], Counter())[action] += 1
        address = change["address"]
        if action == "replace":
            forced = [_path(p) for p in change["change"].get("replace_paths") or []]
            summary.replaced.append((address, forced))
        elif action == "destroy":
            summary.destroyed.append(address)
        if action in ("replace", "destroy") and change["type"] in STATEFUL_TYPES:
            summary.stateful_losses.append(f"`{address}` ({action})")
    summary.markdown = _markdown(summary, title)
    return summary


def _markdown(summary: Summary, title: str) -> str:
    lines = [f"### Terraform plan{': ' + title if title else ''}", ""]
    if summary.stateful_losses:
        lines += [
            "> [!WARNING]",
            "> **Stateful resources would be destroyed or replaced** (data loss unless migrated):",
        ]
        lines += [f"> - {loss}" for loss in summary.stateful_losses]
        lines.append("")
    totals = Counter()
    for counts in summary.counts.values():
        totals.update(counts)
    moved = (
        ["", "**Moved** (the state follows a `moved` block):"]
        + [f"- `{source}` → `{target}` ({action})" for source, target, action in summary.moved]
        if summary.moved
        else []
    )
    if not summary.counts:
        lines.append("No changes." if not summary.moved else f"No changes other than {len(summary.moved)} moved.")
        return "\n".join(lines + moved) + "\n"
    lines.append(" · ".join(f"**{totals[a]}** to {a}" for a in ACTIONS))
    lines += ["", "| resource type | " + " | ".join(ACTIONS) + " |", "|---|" + "---:|" * len(ACTIONS)]
    for rtype in sorted(summary.counts):
        counts = summary.counts[rtype]
        lines.append(f"| `{rtype}` | " + " | ".join(str(counts[a] or "") for a in ACTIONS) + " |")
    if summary.replaced:
        lines += ["", "**Replaced** (destroyed and created again):"]
        lines += [
            f"- `{address}` — forced by {', '.join(f'`{p}`' for p in forced) or 'a dependency'}"
            for address, forced in summary.replaced
        ]
    if summary.destroyed:
        lines += ["", "**Destroyed:**"] + [f"- `{address}`" for address in summary.destroyed]
    lines += moved
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan_json", type=Path)
    parser.add_argument("--title", default="")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    summary = summarize(json.loads(args.plan_json.read_text()), args.title)
    if args.out:
        args.out.write_text(summary.markdown)
    print(summary.markdown)
    if summary.stateful_losses:
        print(
            f"plan-summary: {len(summary.stateful_losses)} stateful resource(s) would be destroyed or replaced",
            file=sys.stderr,
        )
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
