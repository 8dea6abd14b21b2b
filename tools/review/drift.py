#!/usr/bin/env python3
"""Drift between changes: what changed in AWS outside Terraform, per environment, as the issue that tracks it.

    python -m tools.review.drift dev --plan build/drift/dev/plan.json --exit-code 2 [--run-url URL] \
        --out build/drift/dev

Reads a refreshing plan (`terraform plan -refresh=true -detailed-exitcode`, shown as JSON) of the environment's
real state, as the scheduled workflow (.github/workflows/drift.yml) runs it with the read-only plan role.
Drift is what the refresh found changed outside Terraform (`resource_drift`: attributes changed, resources
deleted) and, from the same plan, what Terraform would do to bring AWS back to the configuration
(`resource_changes`). Writes `issue.json`: {"action": "open" | "close", "title", "body", "labels"}; the
workflow opens or updates the one open issue with that title and label (`drift`, `drift:<env>`), or closes it
with the body as its last comment when a later run is clean. Exit 0; 1 when the plan failed (exit code 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.review.plan_summary import action_of
from tools.review.synth_diff import _change_lines, changes

MARKER = "<!-- video-ingest-drift -->"


def title(env: str) -> str:
    return f"Drift in {env}: AWS differs from the Terraform state"


def drifted(plan: dict) -> list[tuple[str, str, list]]:
    """(address, what, attribute changes) for each resource the refresh found changed outside Terraform."""
    found = []
    for rc in plan.get("resource_drift", []):
        if rc.get("mode") != "managed":
            continue
        change = rc["change"]
        action = action_of(change["actions"]) or "+".join(change["actions"])
        what = {"update": "changed outside Terraform", "destroy": "deleted outside Terraform"}.get(action, action)
        found.append((rc["address"], what, changes(change.get("before") or {}, change.get("after") or {})))
    return found


def pending(plan: dict) -> list[tuple[str, str]]:
    return [
        (rc["address"], action_of(rc["change"]["actions"]) or "+".join(rc["change"]["actions"]))
        for rc in plan.get("resource_changes", [])
        if rc.get("mode") == "managed" and rc["change"]["actions"] != ["no-op"] and rc["change"]["actions"] != ["read"]
    ]


def issue(env: str, plan: dict, exit_code: int, run_url: str = "") -> dict:
    """What the workflow writes to the environment's drift issue."""
    found, todo = drifted(plan), pending(plan)
    run = f" ([workflow run]({run_url}))" if run_url else ""
    if exit_code == 0 and not found:
        return {
            "action": "close",
            "title": title(env),
            "labels": ["drift", f"drift:{env}"],
            "body": f"{MARKER}\nNo drift in {env}: the refreshing plan is clean{run}. Closing.",
        }
    lines = [
        MARKER,
        f"**{env}**: the scheduled refreshing plan (read-only plan role) found "
        f"{len(found)} resource{'s' if len(found) != 1 else ''} changed outside Terraform and "
        f"{len(todo)} change{'s' if len(todo) != 1 else ''} Terraform would make{run}.",
        "",
    ]
    if found:
        lines += ["### Changed outside Terraform", ""]
        for address, what, attributes in found:
            lines.append(f"- `{address}`: {what}")
            lines += _change_lines(attributes, indent="  ")
        lines.append("")
    if todo:
        lines += ["### What the next apply would do", ""]
        lines += [f"- `{address}`: {action}" for address, action in todo] + [""]
    lines += [
        "Either apply the configuration again (`make deploy ENV=" + env + "` through the promotion), or "
        "change the configuration to what AWS holds now. This issue is updated by every scheduled run and "
        "closed by the first clean one."
    ]
    return {"action": "open", "title": title(env), "labels": ["drift", f"drift:{env}"], "body": "\n".join(lines)}


def refreshing_plan(env: str, state_role: str, out: Path, build: Path) -> tuple[Path, int]:
    """The environment's real-state plan with refresh, read-only (tools.review.review_plan's working copy: no provider
    assume_role, the backend through the read-only state role, no lock): its plan.json and the exit status of
    `terraform plan -detailed-exitcode` (0 clean, 2 changes, 1 failed)."""
    import subprocess

    from tools.common.terraform import TERRAFORM, terraform_env
    from tools.review import review_plan

    work = review_plan.prepare(env, state_role, out, build)
    review_plan.terraform(
        ["init", "-input=false", "-reconfigure", f"-backend-config={review_plan.BACKEND_CONFIG}"], work
    )
    result = subprocess.run(
        [
            TERRAFORM,
            "plan",
            "-input=false",
            "-no-color",
            "-lock=false",
            "-refresh=true",
            "-detailed-exitcode",
            "-out=drift.tfplan",
        ],
        cwd=work,
        env=terraform_env(),
        capture_output=True,
        text=True,
    )
    (work / "plan.txt").write_text(result.stdout + result.stderr)
    if result.returncode not in (0, 2):
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        return work / "plan.json", result.returncode
    shown = review_plan.terraform(["show", "-json", "drift.tfplan"], work).stdout
    (work / "plan.json").write_text(shown)
    return work / "plan.json", result.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env")
    parser.add_argument("--plan", type=Path, help="`terraform show -json` of the refreshing plan")
    parser.add_argument("--exit-code", type=int, help="terraform plan -detailed-exitcode's status")
    parser.add_argument(
        "--run",
        action="store_true",
        help="run the refreshing plan here (credentials of the plan role in the environment)",
    )
    parser.add_argument("--state-role", help="read-only state role (default: tools.review.review_plan's)")
    parser.add_argument("--synth-out", type=Path, default=Path("cdktf.out/stacks"))
    parser.add_argument("--run-url", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.run:
        from tools.review import review_plan

        try:
            args.plan, args.exit_code = refreshing_plan(
                args.env, args.state_role or review_plan.default_state_role(args.env), args.synth_out, review_plan.BUILD
            )
        except RuntimeError as error:
            print(f"drift: {error}", file=sys.stderr)
            return 1
    elif args.plan is None or args.exit_code is None:
        parser.error("--plan and --exit-code, or --run")
    if args.exit_code not in (0, 2):
        print(f"drift: the plan of {args.env} failed (exit {args.exit_code}); no issue written", file=sys.stderr)
        return 1
    result = issue(args.env, json.loads(args.plan.read_text()), args.exit_code, args.run_url)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "issue.json").write_text(json.dumps(result, indent=1))
    (args.out / "issue.md").write_text(result["body"] + "\n")
    print(f"drift: {args.env}: {result['action']} “{result['title']}”")
    return 0


if __name__ == "__main__":
    sys.exit(main())
