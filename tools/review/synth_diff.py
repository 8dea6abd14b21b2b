#!/usr/bin/env python3
"""What a change does to the synthesized Terraform: the base branch's stacks against the head's, offline.

    python -m tools.review.synth_diff [--base REF] [--out build/synth-diff/synth-diff.md]   # make synth-diff BASE=…

The base (default: the merge-base of HEAD and `main`) is synthesized in a git worktree under
build/synth-diff/ with this project's venv (the worktree is removed afterwards); the head is the working
tree as it is (or `--head-out DIR`, an existing synth such as cdktf.out). Per stack it reports the resources
added, removed, moved and changed, with every changed attribute (before -> after; JSON documents such as
policies are compared inside; secrets masked), in Markdown on stdout and in the `--out` file.

A resource is *moved* when its address disappears and one of the same type and identity appears (the
per-type identity attributes in IDENTITY: bucket, identifier, name, family…; otherwise an identical
configuration), or when a `moved` block in the head says so. A stateful resource (tools.review.plan_summary's
STATEFUL_TYPES) that is removed, moved without a `moved` block (Terraform destroys and re-creates it), or
whose replacing attribute changes (bucket name, DB identifier…) is a loss: exit status 2, naming it.
Needs no credentials and no network. Exit status 1: the base or the head does not synthesize.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tools.common.git import default_base, describe, git
from tools.common.synthesized import synth, synth_ref
from tools.review.plan_summary import EXIT_STATEFUL_LOSS, STATEFUL_TYPES

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "synth-diff"

# What names a resource in AWS, per type: a disappearing address and an appearing one of the same type with
# the same identity (and provider) are the same object under a new address. Types not listed use the first of
# DEFAULT_IDENTITY they carry, else their whole configuration.
IDENTITY: dict[str, tuple[str, ...]] = {
    "aws_s3_bucket": ("bucket",),
    "aws_db_instance": ("identifier",),
    "aws_rds_cluster": ("cluster_identifier",),
    "aws_kms_key": ("description",),
    "aws_kms_alias": ("name",),
    "aws_dynamodb_table": ("name",),
    "aws_backup_vault": ("name",),
    "aws_backup_plan": ("name",),
    "aws_secretsmanager_secret": ("name",),
    "aws_sqs_queue": ("name",),
    "aws_sqs_queue_policy": ("queue_url",),
    "aws_ecr_repository": ("name",),
    "aws_ecr_lifecycle_policy": ("repository",),
    "aws_efs_file_system": ("creation_token",),
    "aws_ecs_task_definition": ("family",),
    "aws_ecs_service": ("cluster", "name"),
    "aws_cloudwatch_metric_alarm": ("alarm_name",),
    "aws_cloudwatch_dashboard": ("dashboard_name",),
    "aws_appautoscaling_target": ("resource_id", "scalable_dimension"),
    "aws_iam_role_policy": ("role", "name"),
    "aws_iam_role_policy_attachment": ("role", "policy_arn"),
    "aws_vpc": ("cidr_block",),
    "aws_subnet": ("cidr_block",),
    "aws_db_subnet_group": ("name",),
    "aws_db_parameter_group": ("name",),
    "aws_cloudfront_distribution": ("comment",),
}
DEFAULT_IDENTITY = ("name", "identifier", "bucket", "family", "name_prefix")
# Attributes whose change replaces a stateful resource at the same address (the provider's ForceNew). The
# real-state plan is the authority; this list lets the offline diff catch the common ones.
REPLACING = {
    "aws_s3_bucket": ("bucket", "bucket_prefix"),
    "aws_db_instance": (
        "identifier",
        "engine",
        "db_name",
        "username",
        "storage_encrypted",
        "kms_key_id",
        "availability_zone",
        "replicate_source_db",
    ),
    "aws_rds_cluster": (
        "cluster_identifier",
        "engine",
        "database_name",
        "master_username",
        "storage_encrypted",
        "kms_key_id",
    ),
    "aws_kms_key": ("customer_master_key_spec", "key_usage", "multi_region"),
    "aws_dynamodb_table": ("name",),
    "aws_backup_vault": ("name", "kms_key_arn"),
    "aws_secretsmanager_secret": ("name", "name_prefix"),
    "aws_sqs_queue": ("name", "name_prefix", "fifo_queue"),
    "aws_ecr_repository": ("name",),
    "aws_efs_file_system": ("creation_token", "encrypted", "kms_key_id"),
}
SECRET_KEY = re.compile(r"password|secret|private_key|token", re.IGNORECASE)
PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
PURE_REFERENCE = re.compile(r"^\$\{[^}]*\}$")
MASK = "(masked)"
VALUE_WIDTH = 160


@dataclass
class Change:
    path: str
    before: object
    after: object


@dataclass
class Move:
    source: str
    target: str
    covered: bool  # a `moved` block in the head says so
    changes: list[Change] = field(default_factory=list)


@dataclass
class StackDiff:
    stack: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)
    changed: dict[str, list[Change]] = field(default_factory=dict)
    settings: list[Change] = field(default_factory=list)  # backend, providers, outputs
    losses: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)  # address -> construct path

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.moved or self.changed or self.settings)


@dataclass
class Report:
    base: str
    head: str
    stacks: list[StackDiff]

    @property
    def losses(self) -> list[str]:
        return [loss for stack in self.stacks for loss in stack.losses]

    @property
    def exit_code(self) -> int:
        return EXIT_STATEFUL_LOSS if self.losses else 0


# ---------------------------------------------------------------------------------------------- comparison


def _resources(config: dict) -> tuple[dict[str, dict], dict[str, str]]:
    """address -> configuration without cdktf's `//` metadata; address -> construct path."""
    bodies, paths = {}, {}
    for rtype, named in (config or {}).get("resource", {}).items():
        for name, body in named.items():
            address = f"{rtype}.{name}"
            paths[address] = body.get("//", {}).get("metadata", {}).get("path", "")
            bodies[address] = {k: v for k, v in body.items() if k != "//"}
    return bodies, paths


def _renamer(renames: dict[str, str]):
    """A function rewriting references to renamed addresses (`${aws_x.old.id}`, depends_on `aws_x.old`)."""
    if not renames:
        return lambda body: body
    pattern = re.compile(
        r"(?<![A-Za-z0-9_.-])("
        + "|".join(map(re.escape, sorted(renames, key=len, reverse=True)))
        + r")(?![A-Za-z0-9_-])"
    )
    return lambda body: json.loads(pattern.sub(lambda m: renames[m.group(1)], json.dumps(body)))


def identity(rtype: str, body: dict) -> tuple:
    """The per-type identity attributes' values (with the provider: the same name in another region is another
    object); without them, the whole configuration."""
    attributes = IDENTITY.get(rtype) or next(((a,) for a in DEFAULT_IDENTITY if a in body), None)
    values = tuple(body.get(a) for a in attributes or ())
    if not values or any(v in (None, "") for v in values):
        return ("(configuration)", json.dumps(body, sort_keys=True))
    return (body.get("provider", ""), *(json.dumps(v, sort_keys=True) for v in values))


def _match_moves(
    base: dict[str, dict], head: dict[str, dict], removed: set[str], added: set[str], moved_blocks: dict[str, str]
) -> dict[str, Move]:
    moves = {
        source: Move(source, target, covered=True)
        for source, target in moved_blocks.items()
        if source in removed and target in added
    }
    while True:
        rename = _renamer({source: move.target for source, move in moves.items()})
        taken = {move.target for move in moves.values()}
        candidates: dict[tuple, list[str]] = {}
        for address in sorted(added - taken):
            rtype = address.split(".")[0]
            candidates.setdefault((rtype, identity(rtype, head[address])), []).append(address)
        claims: dict[tuple, list[str]] = {}
        for address in sorted(a for a in removed if a not in moves):
            rtype = address.split(".")[0]
            claims.setdefault((rtype, identity(rtype, rename(base[address]))), []).append(address)
        # A move is named only when exactly one old and one new resource share the type and identity.
        found = {
            olds[0]: candidates[key][0]
            for key, olds in claims.items()
            if len(olds) == 1 and len(candidates.get(key, [])) == 1
        }
        if not found:
            return moves
        moves.update({source: Move(source, target, covered=False) for source, target in found.items()})


def changes(before, after, prefix: str = "") -> list[Change]:
    """Leaf differences. JSON documents in strings (policies, container definitions) are compared inside."""
    if isinstance(before, str) and isinstance(after, str) and before != after:
        parsed = _json_document(before), _json_document(after)
        if parsed[0] is not None and parsed[1] is not None:
            return changes(parsed[0], parsed[1], prefix)
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            c
            for key in sorted(set(before) | set(after), key=str)
            for c in changes(before.get(key), after.get(key), f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [c for i, (b, a) in enumerate(zip(before, after, strict=False)) for c in changes(b, a, f"{prefix}[{i}]")]
    return [] if before == after else [Change(prefix or "(value)", before, after)]


def _json_document(text: str):
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def diff_stack(stack: str, base: dict | None, head: dict | None) -> StackDiff:
    diff = StackDiff(stack)
    base_bodies, base_paths = _resources(base)
    head_bodies, head_paths = _resources(head)
    diff.paths = {**base_paths, **head_paths}
    removed, added = set(base_bodies) - set(head_bodies), set(head_bodies) - set(base_bodies)
    moved_blocks = {block["from"]: block["to"] for block in (head or {}).get("moved", [])}
    moves = _match_moves(base_bodies, head_bodies, removed, added, moved_blocks)
    rename = _renamer({source: move.target for source, move in moves.items()})
    for source, move in sorted(moves.items()):
        move.changes = changes(rename(base_bodies[source]), head_bodies[move.target])
        diff.moved.append(move)
    diff.removed = sorted(removed - set(moves))
    diff.added = sorted(added - {move.target for move in moves.values()})
    for address in sorted(set(base_bodies) & set(head_bodies)):
        found = changes(rename(base_bodies[address]), head_bodies[address])
        if found:
            diff.changed[address] = found
    diff.settings = changes(rename(_settings(base)), _settings(head))
    where = lambda address: f"`{address}`" + (f" ({diff.paths[address]})" if diff.paths.get(address) else "")
    for address in diff.removed:
        if address.split(".")[0] in STATEFUL_TYPES:
            diff.losses.append(f"{where(address)}: destroyed (removed from the configuration)")
    for move in diff.moved:
        if move.source.split(".")[0] in STATEFUL_TYPES and not move.covered:
            diff.losses.append(
                f"{where(move.source)}: destroyed and re-created as {where(move.target)}: its "
                "construct moved without a `moved` block (see modules/moves.py)"
            )
    for address, found in [*diff.changed.items(), *((m.target, m.changes) for m in diff.moved if m.covered)]:
        rtype = address.split(".")[0]
        forcing = sorted({c.path.split(".")[0].split("[")[0] for c in found} & set(REPLACING.get(rtype, ())))
        if rtype in STATEFUL_TYPES and forcing:
            diff.losses.append(f"{where(address)}: replaced ({', '.join(forcing)} changes)")
    return diff


def _settings(config: dict | None) -> dict:
    """Everything besides resources that changes what Terraform runs: the `terraform` block (backend settings,
    required_providers' versions and sources, required_version), the provider blocks (regions, assume_role,
    default_tags, allowed_account_ids), module calls (source, version, inputs) and outputs."""
    config = config or {}
    modules = {name: {k: v for k, v in body.items() if k != "//"} for name, body in config.get("module", {}).items()}
    return {
        "terraform": config.get("terraform"),
        "provider": config.get("provider"),
        "module": modules or None,
        "output": config.get("output"),
    }


def diff_trees(base_out: Path, head_out: Path, base: str = "base", head: str = "head") -> Report:
    """Compares two synth outputs (each a folder with stacks/<name>/cdk.tf.json)."""
    load = lambda out: {p.parent.name: json.loads(p.read_text()) for p in sorted(out.glob("stacks/*/cdk.tf.json"))}
    base_stacks, head_stacks = load(base_out), load(head_out)
    environments = ("dev", "staging", "prod")
    order = ["state-backend", *(f"{prefix}{env}" for env in environments for prefix in ("bootstrap-", ""))]
    names = sorted(set(base_stacks) | set(head_stacks), key=lambda n: (order.index(n) if n in order else 9, n))
    return Report(base, head, [diff_stack(n, base_stacks.get(n), head_stacks.get(n)) for n in names])


# ---------------------------------------------------------------------------------------------- rendering


def mask(path: str, value):
    """Secrets never reach the report: string values under password/secret/private_key/token keys (unless a
    bare reference to another resource), and every PEM block."""
    if isinstance(value, str):
        if SECRET_KEY.search(path) and not PURE_REFERENCE.match(value):
            return MASK
        return PEM.sub(lambda m: f"-----BEGIN {m.group(1)}----- {MASK}", value)
    if isinstance(value, dict):
        return {k: mask(f"{path}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(path, v) for v in value]
    return value


def _shown(path: str, value) -> str:
    if value is None:
        return "(none)"
    masked = mask(path, value)
    text = masked if masked == MASK else json.dumps(masked, sort_keys=True)
    text = text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"
    return "`" + text.replace("`", "'") + "`"


def _change_lines(found: list[Change], indent: str = "  ") -> list[str]:
    lines = []
    for change in found:
        before, after = _shown(change.path, change.before), _shown(change.path, change.after)
        shown = f"{before} → {after}" if before != after else f"{before} (changed)"  # differs only where masked
        lines.append(f"{indent}- `{change.path}`: {shown}")
    return lines


def markdown(report: Report) -> str:
    lines = [f"### Synth diff: `{report.base}` → `{report.head}`", ""]
    if report.losses:
        lines += ["> [!WARNING]", "> **Stateful resources would be lost** (exit 2):"]
        lines += [f"> - {stack.stack}: {loss}" for stack in report.stacks for loss in stack.losses]
        lines.append("")
    # "renamed": new addresses of the same objects; how many of them a `moved` block covers (the plan moves
    # their state) is said in the cell, so a count never reads as moves already done.
    lines += ["| stack | added | removed | renamed | changed | settings |", "|---|---:|---:|---:|---:|---:|"]
    for s in report.stacks:
        covered = sum(m.covered for m in s.moved)
        renamed = f"{len(s.moved)} ({covered} with `moved`)" if s.moved else "0"
        lines.append(
            f"| {s.stack} | {len(s.added)} | {len(s.removed)} | {renamed} | {len(s.changed)} | {len(s.settings)} |"
        )
    for s in report.stacks:
        if s.empty:
            continue
        lines += ["", f"#### {s.stack}"]
        where = lambda address, s=s: f" ({s.paths[address]})" if s.paths.get(address) else ""
        if s.moved:
            lines += ["", "**Renamed** (`moved` block: Terraform moves the state; none: destroyed and re-created):"]
            for move in s.moved:
                how = "`moved` block" if move.covered else "**no `moved` block: destroyed and re-created**"
                lines.append(f"- `{move.source}` → `{move.target}`{where(move.target)} — {how}")
                lines += _change_lines(move.changes)
        if s.removed:
            lines += ["", "**Removed:**"] + [f"- `{a}`{where(a)}" for a in s.removed]
        if s.added:
            lines += ["", "**Added:**"] + [f"- `{a}`{where(a)}" for a in s.added]
        if s.changed:
            lines += ["", "**Changed:**"]
            for address, found in s.changed.items():
                lines.append(f"- `{address}`{where(address)}")
                lines += _change_lines(found)
        if s.settings:
            lines += ["", "**Terraform settings, providers, modules, outputs:**"] + _change_lines(s.settings, indent="")
    if all(s.empty for s in report.stacks):
        lines += ["", "No change to the synthesized stacks."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="git ref to compare with (default: merge-base of HEAD and main)")
    parser.add_argument("--base-out", type=Path, help="an existing synth of the base instead of synthesizing it")
    parser.add_argument(
        "--head-out",
        type=Path,
        help="an existing synth of the head (e.g. cdktf.out) instead of synthesizing the working tree",
    )
    parser.add_argument("--out", type=Path, default=WORK / "synth-diff.md")
    args = parser.parse_args(argv)
    base = args.base or ("(given)" if args.base_out else default_base())
    try:
        if args.base_out:
            base_out, base_name = args.base_out, args.base or str(args.base_out)
        else:
            base_out = synth_ref(base, WORK / "base.out", WORK)
            base_name = describe(base)
        if args.head_out:
            head_out, head_name = args.head_out, f"{str(args.head_out)}"
        else:
            head_out = synth(ROOT, WORK / "head.out", log=WORK / "head-synth.log")
            dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
            head_name = describe("HEAD") + dirty
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"synth-diff: {error}", file=sys.stderr)
        return 1
    report = diff_trees(base_out, head_out, base_name, head_name)
    text = markdown(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    if report.losses:
        print(f"synth-diff: {len(report.losses)} stateful resource(s) would be lost", file=sys.stderr)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
