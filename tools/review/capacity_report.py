#!/usr/bin/env python3
"""Always-on capacity of one environment, read from its synthesized stack, and what a commitment could cover.

    python -m tools.review.capacity_report ENV [--stacks-dir cdktf.out/stacks]     # make capacity-report ENV=…

Spec: "Reserved instances for predictable workloads", "Right-sizing recommendations". A report, never a purchase:
it lists what runs every hour of the month whatever the load (database instances and replicas, the RDS Proxy, the
NAT gateways, each ECS service's minimum tasks with their CPU and memory) with its size, hours per month and
whether a Reserved Instance or a Savings Plan can cover it. Right-sizing itself comes from Compute Optimizer
(enrolled per account, modules/compliance.py) once the resources have run for a while.

A commitment is 1 or 3 years: only an environment that keeps its database (a final snapshot on delete, so it is
not torn down and re-created at will) is a candidate. Fargate Spot is not covered by Savings Plans: only the
on-demand share of a service's minimum counts.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.common.git import ROOT

HOURS_PER_MONTH = 730  # AWS's convention for monthly prices (8,760 hours / 12)
ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class Row:
    resource: str
    kind: str
    size: str
    count: int
    hours_per_month: int
    commitment: str  # what can cover it, or why nothing does

    @property
    def candidate(self) -> bool:
        return self.commitment.startswith("yes")


class ReportError(Exception):
    """Bad input: one line for the user."""


def load_stack(environment: str, stacks_dir: Path) -> dict:
    if environment not in ENVIRONMENTS:
        raise ReportError(f"environment {environment!r}: not one of {', '.join(ENVIRONMENTS)}")
    path = stacks_dir / environment / "cdk.tf.json"
    if not path.is_file():
        raise ReportError(f"{_display(path)}: no synthesized stack; run `make synth` first")
    return json.loads(path.read_text())


def report(stack: dict) -> list[Row]:
    resources = stack.get("resource", {})
    instances = resources.get("aws_db_instance", {})
    kept = any(body.get("skip_final_snapshot") is False for body in instances.values())
    why_not = "no: the environment is torn down and re-created at will (no final snapshot)"
    rows = []
    for name, body in sorted(instances.items()):
        replica = "replicate_source_db" in body
        multi_az = bool(body.get("multi_az"))
        kind = "RDS read replica" if replica else f"RDS primary ({'Multi-AZ' if multi_az else 'single-AZ'})"
        commitment = (
            (
                f"yes: RDS Reserved Instance {body['instance_class']} PostgreSQL"
                f"{', Multi-AZ' if multi_az else ''}, 1 or 3 years"
            )
            if kept
            else why_not
        )
        rows.append(Row(body.get("identifier", name), kind, body["instance_class"], 1, HOURS_PER_MONTH, commitment))
    for _name, body in sorted(resources.get("aws_db_proxy", {}).items()):
        rows.append(
            Row(
                body["name"],
                "RDS Proxy",
                "per vCPU of the primary",
                1,
                HOURS_PER_MONTH,
                "no: RDS Proxy is billed per vCPU-hour of its target; no reservation covers it",
            )
        )
    nats = resources.get("aws_nat_gateway", {})
    if nats:
        rows.append(
            Row(
                "NAT gateways",
                "NAT gateway",
                "-",
                len(nats),
                HOURS_PER_MONTH,
                "no: NAT gateways have no reservation or Savings Plan (fewer gateways is the lever)",
            )
        )
    rows.extend(_services(resources, kept, why_not))
    return rows


def _services(resources: dict, kept: bool, why_not: str) -> list[Row]:
    tasks = resources.get("aws_ecs_task_definition", {})
    minimum = {
        _referenced(body["resource_id"], "aws_ecs_service"): int(body["min_capacity"])
        for body in resources.get("aws_appautoscaling_target", {}).values()
        if "aws_ecs_service." in body.get("resource_id", "")
    }
    rows = []
    for name, service in sorted(resources.get("aws_ecs_service", {}).items()):
        task = tasks[_referenced(service["task_definition"], "aws_ecs_task_definition")]
        count = minimum.get(name, int(service.get("desired_count", 0)))
        if not count:
            continue
        on_demand = _on_demand_tasks(count, service.get("capacity_provider_strategy", []))
        vcpu, memory_gb = int(task["cpu"]) / 1024, int(task["memory"]) / 1024
        size = f"{_number(vcpu)} vCPU, {_number(memory_gb)} GB ({task['runtime_platform']['cpu_architecture']})"
        if not kept:
            commitment = why_not
        elif on_demand:
            commitment = (
                f"yes: Compute Savings Plan for the {on_demand} on-demand task(s): "
                f"{_number(on_demand * vcpu * HOURS_PER_MONTH)} vCPU-hours and "
                f"{_number(on_demand * memory_gb * HOURS_PER_MONTH)} GB-hours a month"
            )
        else:
            commitment = (
                "no: no on-demand base, so ECS may place its minimum on Fargate Spot, which Savings Plans do not cover"
            )
        rows.append(
            Row(
                service["name"],
                f"ECS service, minimum tasks ({on_demand} on-demand)",
                size,
                count,
                HOURS_PER_MONTH,
                commitment,
            )
        )
    return rows


def _on_demand_tasks(count: int, strategy: list[dict]) -> int:
    """Tasks on FARGATE at `count`: the base first, the rest split by weight (rounded down: the least to commit)."""
    if not strategy:
        return count  # the cluster's default capacity: on-demand Fargate
    fargate = next((s for s in strategy if s["capacity_provider"] == "FARGATE"), None)
    if fargate is None:
        return 0
    base = min(count, int(fargate.get("base", 0)))
    weights = sum(int(s.get("weight", 0)) for s in strategy)
    rest = count - base
    return base + (rest * int(fargate.get("weight", 0)) // weights if weights else 0)


def _referenced(reference: str, rtype: str) -> str:
    match = re.search(rf"\$\{{{rtype}\.([A-Za-z0-9_-]+)\.", reference)
    if not match:
        raise ReportError(f"cannot read the {rtype} referenced by {reference!r}")
    return match.group(1)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def markdown(environment: str, rows: list[Row]) -> str:
    lines = [
        f"# Always-on capacity: {environment}",
        "",
        f"Hours per month: {HOURS_PER_MONTH}. A report, never a purchase: buy commitments in the console or "
        "with the CLI after checking Cost Explorer's recommendations and Compute Optimizer's right-sizing.",
        "",
        "| Resource | Kind | Size | Count | Hours/month | Reservation / Savings Plan |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r.resource} | {r.kind} | {r.size} | {r.count} | {r.hours_per_month} | {r.commitment} |" for r in rows
    ]
    candidates = sum(1 for r in rows if r.candidate)
    lines += ["", f"{candidates} of {len(rows)} always-on items are commitment candidates."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("environment")
    parser.add_argument("--stacks-dir", type=Path, default=ROOT / "cdktf.out" / "stacks")
    args = parser.parse_args(argv)
    try:
        rows = report(load_stack(args.environment, args.stacks_dir))
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(markdown(args.environment, rows))
    return 0


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
