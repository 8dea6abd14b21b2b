#!/usr/bin/env python3
"""The pull request's one review comment, most important first: `make review` and the PR workflow both render it.

    python -m tools.review.review_render BUNDLE [--out build/review/comment.md]

BUNDLE is a folder (tools.review.review_local writes it; the PR workflow's jobs each add their part):

    meta.json                      {"base": "<ref and subject>", "head": "…"}
    base/stacks/<s>/cdk.tf.json    the base branch's synth
    head/stacks/<s>/cdk.tf.json    the head's synth
    plan/<env>.json .txt .status   a real-state plan (`terraform show -json`, its text, its exit status), or
    plan/<env>.note                why there is none (a setup note, shown once at the bottom)
    scan/base.json scan/head.json  checkov on the stacks the change touches (tools.review.review_security)
    cost/<env>.json                the monthly estimate of base and head (tools.cost.cost)

The comment: line 1 is the verdict (`Verdict`, rendered to text); then stateful losses; what it weakens
(checkov findings introduced and fixed, skips added and removed, IAM statement changes as a table); what it
costs (per environment, base → head); what changed, grouped by resource with its attributes (from the real-state
plan where one ran, from the synth diff otherwise; stacks with identical changes share one section; repeated
lines grouped); terraform's plan text per environment, collapsed; setup notes once, at the bottom; the marker
the workflow finds the comment by, last. Exit status 2 on a stateful loss (the merge gate), 0 otherwise.
"""

from __future__ import annotations

import argparse
import enum
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tools.review import iam_diff
from tools.review.plan_summary import EXIT_STATEFUL_LOSS, STATEFUL_TYPES, action_of
from tools.review.synth_diff import Change, StackDiff, _change_lines, _shown, changes, mask

MARKER = "<!-- video-ingest-plan-summary -->"
ENVIRONMENTS = ("dev", "staging", "prod")
LIMIT = 60_000  # GitHub refuses comments over 65,536 characters
PLAN_TEXT_LIMIT = 20_000
LISTED = 5  # longer groups of addresses are listed in a collapsed block


class Verdict(enum.IntEnum):
    """What the change does, most serious last: the comment's first line names the most serious one found."""

    NO_CHANGE = 0
    CHANGES = 1
    COST_UP = 2
    WEAKENED_SECURITY = 3
    STATEFUL_LOSS = 4

    @property
    def text(self) -> str:
        return {
            Verdict.NO_CHANGE: ":white_check_mark: **No change** to what Terraform runs",
            Verdict.CHANGES: ":memo: **Changes**",
            Verdict.COST_UP: ":moneybag: **Cost up** over the threshold",
            Verdict.WEAKENED_SECURITY: ":warning: **Security weakened**",
            Verdict.STATEFUL_LOSS: ":no_entry: **Stateful loss**: data would be destroyed",
        }[self]


@dataclass
class PlanPart:
    env: str
    status: str = ""  # "0", "2" (stateful loss), "1" (failed), "skipped"
    plan: dict | None = None
    text: str = ""
    note: str = ""


@dataclass
class Review:
    base: str
    head: str
    base_stacks: dict[str, dict]
    head_stacks: dict[str, dict]
    plans: dict[str, PlanPart] = field(default_factory=dict)
    scans: dict[str, list[dict]] | None = None  # {"base": [...], "head": [...]}
    costs: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- loading


def load(folder: Path) -> Review:
    meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").is_file() else {}
    trees = {
        side: {p.parent.name: json.loads(p.read_text()) for p in sorted((folder / side).glob("stacks/*/cdk.tf.json"))}
        for side in ("base", "head")
    }
    plans = {}
    for env in ENVIRONMENTS:
        read = (
            lambda suffix, env=env: (folder / "plan" / f"{env}.{suffix}").read_text()
            if (folder / "plan" / f"{env}.{suffix}").is_file()
            else ""
        )
        part = PlanPart(
            env,
            read("status").strip(),
            json.loads(read("json")) if read("json") else None,
            read("txt"),
            read("note").strip(),
        )
        if part.status or part.plan or part.note:
            plans[env] = part
    scans = None
    if (folder / "scan" / "head.json").is_file() and (folder / "scan" / "base.json").is_file():
        scans = {side: json.loads((folder / "scan" / f"{side}.json").read_text()) for side in ("base", "head")}
    costs = {p.stem: json.loads(p.read_text()) for p in sorted((folder / "cost").glob("*.json"))}
    notes = [
        line
        for line in ((folder / "notes.txt").read_text().splitlines() if (folder / "notes.txt").is_file() else [])
        if line.strip()
    ]
    return Review(
        meta.get("base", "base"), meta.get("head", "head"), trees["base"], trees["head"], plans, scans, costs, notes
    )


# ---------------------------------------------------------------------------------------------- analysis


@dataclass
class Findings:
    introduced: list[tuple[str, str, str, str]] = field(default_factory=list)  # (stack, check, resource, name)
    fixed: list[tuple[str, str, str, str]] = field(default_factory=list)
    skips_added: list[tuple[str, str, str, str]] = field(default_factory=list)  # (stack, check, resource, reason)
    skips_removed: list[tuple[str, str, str, str]] = field(default_factory=list)


def scan_delta(scans: dict[str, list[dict]] | None) -> Findings:
    found = Findings()
    if not scans:
        return found

    def failed(side):
        return {(r["stack"], f[0], f[1]): f[2] for r in scans[side] for f in r["failed"]}

    def skips(side):
        return {(r["stack"], s[2], s[1]): s[3] for r in scans[side] for s in r["skips"]}

    base, head = failed("base"), failed("head")
    found.introduced = [(*k, head[k]) for k in sorted(set(head) - set(base))]
    found.fixed = [(*k, base[k]) for k in sorted(set(base) - set(head))]
    base_skips, head_skips = skips("base"), skips("head")
    found.skips_added = [(*k, head_skips[k]) for k in sorted(set(head_skips) - set(base_skips))]
    found.skips_removed = [(*k, base_skips[k]) for k in sorted(set(base_skips) - set(head_skips))]
    return found


def cost_rise(costs: dict[str, dict]) -> list[tuple[str, float, float]]:
    """(env, delta, threshold) where an environment's estimate rises by more than its threshold."""
    return [
        (env, c["head"]["total"] - c["base"]["total"], c.get("threshold_usd", 0.0))
        for env, c in costs.items()
        if c.get("base") and c.get("head") and c["head"]["total"] - c["base"]["total"] > c.get("threshold_usd", 0)
    ]


# ---------------------------------------------------------------------------------------------- rendering


def _where(diff: StackDiff, address: str) -> str:
    path = diff.paths.get(address, "")
    path = path.split("/", 1)[1] if "/" in path else path  # without the stack: identical across environments
    return f" ({path})" if path else ""


def _group(title: str, items: list[str]) -> list[str]:
    """One line for a group of addresses; more than LISTED of them collapsed below it."""
    if len(items) <= LISTED:
        return [f"- {title}: " + ", ".join(items)]
    return [
        f"- {title}:",
        "  <details><summary>" + ", ".join(items[:2]) + f" and {len(items) - 2} more</summary>",
        "",
        *[f"  - {item}" for item in items],
        "",
        "  </details>",
    ]


def _resource_lines(address: str, where: str, found: list[Change], suffix: str = "") -> list[str]:
    if len(found) == 1:
        (change,) = found
        before, after = _shown(change.path, change.before), _shown(change.path, change.after)
        shown = f"{before} → {after}" if before != after else f"{before} (changed)"
        return [f"- `{address}`{where}{suffix}: `{change.path}` {shown}"]
    return [f"- `{address}`{where}{suffix}"] + _change_lines(found)


def _by_type(addresses: list[str]) -> str:
    counts = Counter(a.split(".")[0] for a in addresses)
    return ", ".join(f"`{t}` ×{n}" if n > 1 else f"`{t}`" for t, n in sorted(counts.items()))


def synth_section(diff: StackDiff) -> list[str]:
    lines: list[str] = []
    for address, found in diff.changed.items():
        lines += _resource_lines(address, _where(diff, address), found)
    uncovered = [m for m in diff.moved if not m.covered]
    covered = [m for m in diff.moved if m.covered]
    move = lambda m: f"`{m.source}` → `{m.target}`"
    if uncovered:
        lines += _group(
            f"**{len(uncovered)} resource{'s' if len(uncovered) > 1 else ''} renamed without `moved`** "
            "(Terraform destroys and re-creates them)",
            [move(m) for m in uncovered],
        )
    if covered:
        lines += _group(
            f"{len(covered)} resource{'s' if len(covered) > 1 else ''} renamed with a `moved` block "
            "each (the plan moves their state; nothing re-created)",
            [move(m) for m in covered],
        )
    for m in diff.moved:
        if m.changes:
            lines += _resource_lines(m.target, _where(diff, m.target), m.changes, " (after its rename)")
    for title, addresses in (("added", diff.added), ("removed", diff.removed)):
        if addresses:
            items = [f"`{a}`{_where(diff, a)}" for a in addresses]
            lines += _group(f"{len(addresses)} {title} ({_by_type(addresses)})", items)
    if diff.settings:
        lines.append("- Terraform settings, providers, modules:")
        lines += _change_lines(diff.settings)
    return lines


def _plan_changes(resource_change: dict) -> list[Change]:
    change = resource_change["change"]
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    marked = _mark_unknown(after, unknown)
    sensitive = [change.get("before_sensitive") or {}, change.get("after_sensitive") or {}]
    found = changes(before, marked)
    for item in found:
        if any(_lookup(s, item.path) is True for s in sensitive):
            item.before, item.after = "(sensitive)", "(sensitive)" if item.after is not None else None
    return found


def _mark_unknown(after, unknown):
    if unknown is True:
        return "(known after apply)"
    if isinstance(after, dict) and isinstance(unknown, dict):
        merged = {k: _mark_unknown(after.get(k), unknown.get(k)) for k in set(after) | set(unknown)}
        return {k: v for k, v in merged.items() if v is not None or k in after}
    if isinstance(after, list) and isinstance(unknown, list):
        padded = unknown + [None] * (len(after) - len(unknown))
        return [_mark_unknown(a, u) for a, u in zip(after, padded, strict=False)]
    return after


def _lookup(tree, path: str):
    node = tree
    for part in path.replace("[", ".[").split("."):
        if isinstance(node, list) and part.startswith("["):
            index = int(part[1:-1])
            node = node[index] if index < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return node if node is True else None
    return node


def plan_section(plan: dict) -> tuple[list[str], list[str]]:
    """Lines of what the real-state plan does, grouped by resource; and its stateful losses."""
    lines, losses = [], []
    created, destroyed, moved = [], [], []
    for rc in plan.get("resource_changes", []):
        if rc.get("mode") != "managed":
            continue
        action = action_of(rc["change"]["actions"])
        address = rc["address"]
        if rc.get("previous_address") and rc["previous_address"] != address:
            moved.append(f"`{rc['previous_address']}` → `{address}`")
        if action == "update":
            lines += _resource_lines(address, "", _plan_changes(rc))
        elif action == "replace":
            forced = ", ".join(f"`{'.'.join(map(str, p))}`" for p in rc["change"].get("replace_paths") or [])
            lines += _resource_lines(
                address, "", _plan_changes(rc), f" **replaced**, forced by {forced or 'a dependency'}"
            )
        elif action == "create":
            created.append(f"`{address}`")
        elif action == "destroy":
            destroyed.append(f"`{address}`")
        if action in ("replace", "destroy") and rc["type"] in STATEFUL_TYPES:
            losses.append(f"`{address}` ({action})")
    if moved:
        lines += _group(f"{len(moved)} moved by `moved` blocks (state follows)", moved)
    if created:
        lines += _group(f"{len(created)} to create", created)
    if destroyed:
        lines += _group(f"**{len(destroyed)} to destroy**", destroyed)
    return lines, losses


LOSS_KINDS = (
    (
        re.compile(r"^(`[^`]+`)(?: \([^)]*\))?: destroyed and re-created as (`[^`]+`).*"),
        "renamed without a `moved` block (destroyed and re-created)",
        r"\1 → \2",
    ),
    (
        re.compile(r"^(`[^`]+`)(?: \([^)]*\))?: destroyed \(removed from the configuration\)$"),
        "removed from the configuration (destroyed)",
        r"\1",
    ),
    (re.compile(r"^(`[^`]+`)(?: \([^)]*\))?: replaced \((.*)\)$"), "replaced", r"\1 (\2)"),
    (re.compile(r"^(`[^`]+`) \((replace|destroy)\)$"), "destroyed or replaced", r"\1 (\2)"),
)


def group_losses(losses: list[str]) -> list[str]:
    """`<stack>: <loss>` lines grouped: the same loss in several stacks once, losses of one kind on one line."""
    by_text: dict[str, list[str]] = {}
    for loss in losses:
        stack, text = loss.split(": ", 1)
        by_text.setdefault(text, []).append(stack)
    groups: dict[tuple[str, str], list[str]] = {}
    for text, stacks in by_text.items():
        for pattern, kind, item in LOSS_KINDS:
            if pattern.match(text):
                groups.setdefault((", ".join(stacks), kind), []).append(pattern.sub(item, text))
                break
        else:
            groups.setdefault((", ".join(stacks), ""), []).append(text)
    lines = []
    for (stacks, kind), items in groups.items():
        shown = ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")
        if kind:
            lines.append(f"**{stacks}**: {len(items)} stateful resource{'s' if len(items) > 1 else ''} {kind}: {shown}")
        else:
            lines += [f"**{stacks}**: {item}" for item in items]
    return lines


def _money(value: float) -> str:
    return f"${value:,.2f}"


def render(review: Review) -> tuple[str, int]:
    if not review.head_stacks:  # the bundle's synth is missing: say so, never "no change"
        text = (
            ":grey_question: **No review**: the head's synthesized stacks are missing from the review bundle "
            "(its job failed: see the workflow run).\n\n" + MARKER + "\n"
        )
        return text, 1
    report = diff_trees_from(review)
    findings = scan_delta(review.scans)
    iam_rows = [
        row
        for s in report.stacks
        for row in iam_diff.diff(s.stack, review.base_stacks.get(s.stack), review.head_stacks.get(s.stack))
    ]
    rises = cost_rise(review.costs)
    planned = {env: part for env, part in review.plans.items() if part.plan is not None}
    sections, losses = _sections(report, planned)
    failed_plans = [env for env, part in review.plans.items() if part.status not in ("", "0", "2", "skipped")]

    weakened = bool(findings.introduced or findings.skips_added or any(r.widens for r in iam_rows))
    changed = any(sections.values()) or bool(iam_rows)
    verdict = (
        Verdict.STATEFUL_LOSS
        if losses
        else Verdict.WEAKENED_SECURITY
        if weakened
        else Verdict.COST_UP
        if rises
        else Verdict.CHANGES
        if changed
        else Verdict.NO_CHANGE
    )
    also = _also(losses, findings, iam_rows, rises, list(sections) if changed else [], failed_plans)
    lines = [verdict.text + (" — " + "; ".join(also) if also else ""), ""]  # line 1: the verdict

    change_lines = _changes_block(sections, planned)
    if losses:
        lines += ["> [!CAUTION]", "> **Stateful resources would be destroyed or replaced** (merge blocked):"]
        lines += [f"> - {line}" for line in group_losses(losses)] + [""]
    lines += _weakens_block(findings, iam_rows)
    cost_lines, cost_moved = _cost_block(review.costs)
    lines += (cost_lines if cost_moved else []) + change_lines + ([] if cost_moved else cost_lines)
    lines += _plan_texts(review.plans)
    lines += _notes_block(review)
    lines += [f"<sub>Base {review.base} → head {review.head}</sub>", "", MARKER]
    text = "\n".join(lines) + "\n"
    if len(text) > LIMIT:
        text = (
            text[:LIMIT] + f"\n\n… (cut at {LIMIT:,} characters; the whole review is in the workflow run's "
            f"summary)\n\n{MARKER}\n"
        )
    return text, EXIT_STATEFUL_LOSS if losses else 0


def _sections(report, planned: dict[str, PlanPart]) -> tuple[dict[str, list[str]], list[str]]:
    """Per stack, what changed (from its real-state plan where one ran, from the synth diff otherwise), and the
    stateful losses of both."""
    by_stack = {s.stack: s for s in report.stacks}
    losses = [f"{s.stack}: {loss}" for s in report.stacks if s.stack not in planned for loss in s.losses]
    sections: dict[str, list[str]] = {}
    for env, part in planned.items():
        lines, plan_losses = plan_section(part.plan)
        losses += [f"{env} (real state): {loss}" for loss in plan_losses]
        settings = by_stack[env].settings if env in by_stack else []
        if settings:  # a provider or backend change shows in no resource of the plan
            lines += ["- Terraform settings, providers, modules (synth diff):", *_change_lines(settings)]
        sections[env] = lines
    for s in report.stacks:
        if s.stack not in planned and not s.empty:
            sections[s.stack] = synth_section(s)
    return sections, losses


def _also(losses, findings, iam_rows, rises, changed_in: list[str], failed_plans: list[str]) -> list[str]:
    """What the verdict's line says besides the verdict, briefly."""
    also = []
    if losses:
        also.append(f"{len(losses)} stateful resource{'s' if len(losses) > 1 else ''} lost")
    if findings.introduced:
        also.append("introduces " + ", ".join(sorted({f[1] for f in findings.introduced})))
    if findings.skips_added:
        also.append(f"{len(findings.skips_added)} checkov skip(s) added")
    if any(r.widens for r in iam_rows):
        also.append("IAM grants more")
    also += [f"{env} {'+' if delta >= 0 else ''}{_money(delta)}/month" for env, delta, _ in rises]
    if changed_in:
        also.append("in " + ", ".join(changed_in))
    if failed_plans:
        also.append("real-state plan failed: " + ", ".join(failed_plans))
    return also


def _weakens_block(findings, iam_rows) -> list[str]:
    """IAM statement changes as a table, checkov findings introduced and fixed, skips added and removed."""
    if not (findings.introduced or findings.fixed or findings.skips_added or findings.skips_removed or iam_rows):
        return []
    lines = ["### What it weakens", ""]
    if iam_rows:
        lines += ["**IAM statement changes:**", ""] + iam_diff.table(iam_rows) + [""]
    for title, rows in (
        ("checkov findings introduced", findings.introduced),
        ("checkov findings fixed", findings.fixed),
    ):
        if rows:
            lines += (
                [f"**{len(rows)} {title}:**"]
                + [f"- {stack}: `{check}` on `{res}`: {name}" for stack, check, res, name in rows]
                + [""]
            )
    for title, rows in (
        ("checkov skips added", findings.skips_added),
        ("checkov skips removed", findings.skips_removed),
    ):
        if rows:
            lines += (
                [f"**{len(rows)} {title}:**"]
                + [f"- {stack}: `{check}` on `{res}`: {reason}" for stack, check, res, reason in rows]
                + [""]
            )
    return lines


def _notes_block(review: Review) -> list[str]:
    """Setup notes (missing plan roles, checkov not run), once, at the bottom."""
    if review.scans is None:
        review.notes.append("checkov did not run for this review: no findings compared.")
    notes = sorted({part.note for part in review.plans.values() if part.note})
    skipped = [env for env, part in review.plans.items() if part.note]
    if not (notes or review.notes):
        return []
    lines = ["---", "<sub>Setup notes:</sub>", ""]
    if notes:
        lines.append(f"- No real-state plan for {', '.join(skipped)}: " + " ".join(notes))
    return lines + [f"- {note}" for note in review.notes] + [""]


def diff_trees_from(review: Review):
    """The synth diff of the review's two trees (tools.review.synth_diff's comparison, from the loaded JSON)."""
    from tools.review.synth_diff import Report, diff_stack

    order = ["state-backend", *(f"{prefix}{env}" for env in ENVIRONMENTS for prefix in ("bootstrap-", ""))]
    names = sorted(
        set(review.base_stacks) | set(review.head_stacks), key=lambda n: (order.index(n) if n in order else 9, n)
    )
    return Report(
        review.base, review.head, [diff_stack(n, review.base_stacks.get(n), review.head_stacks.get(n)) for n in names]
    )


def _changes_block(sections: dict[str, list[str]], planned: dict[str, PlanPart]) -> list[str]:
    """Stacks with identical changes share one heading (a rename in every environment is listed once)."""
    if not any(sections.values()):
        return []
    grouped: dict[tuple, list[str]] = {}
    for stack, body in sections.items():
        source = "real-state plan" if stack in planned else "synth diff"
        grouped.setdefault((source, tuple(body)), []).append(stack)
    lines = []
    for (source, body), stacks in grouped.items():
        if not body:
            lines += [f"**{', '.join(stacks)}** ({source}): no changes", ""]
            continue
        lines += [f"**{', '.join(stacks)}** ({source}):", *body, ""]
    return lines


def _cost_block(costs: dict[str, dict]) -> tuple[list[str], bool]:
    """The cost table (and True) when an estimate moved; else one line (and False)."""
    rows, moved_any = [], False
    for env, c in costs.items():
        base, head = (c.get("base") or {}).get("total"), (c.get("head") or {}).get("total")
        if base is None or head is None:
            continue
        delta = head - base
        moved_any = moved_any or abs(delta) >= 0.005
        services = sorted({*c["base"]["services"], *c["head"]["services"]})
        moved = [
            f"{s} {'+' if d > 0 else ''}{_money(d)}"
            for s in services
            if abs(d := c["head"]["services"].get(s, 0) - c["base"]["services"].get(s, 0)) >= 0.005
        ]
        rows.append(
            f"| {env} | {_money(base)} | {_money(head)} | {'+' if delta >= 0 else ''}{_money(delta)} | "
            f"{', '.join(moved) or '—'} |"
        )
    if not rows:
        return [], False
    date = next(iter(costs.values())).get("prices_date", "")
    source = (
        f"<sub>Offline price table of {date} (tools/cost/prices.py); usage assumptions: environments/*.toml "
        "[cost.usage].</sub>"
    )
    if not moved_any:
        return [f"Estimated monthly cost unchanged in {', '.join(costs)}. {source}", ""], False
    return [
        "### What it costs (estimated per month)",
        "",
        "| environment | base | head | delta | by service |",
        "|---|---:|---:|---:|---|",
        *rows,
        "",
        source,
        "",
    ], True


def _plan_texts(plans: dict[str, PlanPart]) -> list[str]:
    lines = []
    for env, part in plans.items():
        if not part.text:
            continue
        text = part.text if len(part.text) <= PLAN_TEXT_LIMIT else part.text[:PLAN_TEXT_LIMIT] + "\n… (cut)"
        lines += [
            f"<details><summary>terraform plan: {env} (real state, exit {part.status or '?'})</summary>",
            "",
            "```",
            mask("plan", text).replace("```", "'''"),
            "```",
            "",
            "</details>",
            "",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build/review/comment.md"))
    parser.add_argument("--quiet", action="store_true", help="write the file only")
    args = parser.parse_args(argv)
    text, code = render(load(args.bundle))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if not args.quiet:
        print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
