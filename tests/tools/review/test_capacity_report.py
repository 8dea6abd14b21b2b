"""`make capacity-report ENV=…` (issue #25): the always-on resources of the synthesized stacks, their size and
hours, and which a reservation or Savings Plan could cover. A report: it names no purchase API."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT
from tools.review.capacity_report import HOURS_PER_MONTH, _on_demand_tasks, markdown, report


def rows_by_kind(stack: dict) -> dict[str, list]:
    rows = {}
    for row in report(stack):
        rows.setdefault(row.kind.split(" (")[0].split(",")[0], []).append(row)
    return rows


def test_prod_lists_primary_replica_proxy_nat_gateways_and_minimum_tasks(stacks):
    rows = rows_by_kind(stacks["prod"])
    [primary] = rows["RDS primary"]
    assert (primary.resource, primary.size, primary.hours_per_month) == ("video-ingest-prod-db", "db.r6g.large", 730)
    assert primary.candidate and "Multi-AZ" in primary.commitment
    [replica] = rows["RDS read replica"]
    assert replica.candidate and replica.resource == "video-ingest-prod-db-replica-1"
    [proxy] = rows["RDS Proxy"]
    assert not proxy.candidate
    [nat] = rows["NAT gateway"]
    assert nat.count == 3 and not nat.candidate
    services = {row.resource: row for row in rows["ECS service"]}
    assert services["api"].count == 2 and services["api"].size == "1 vCPU, 2 GB (X86_64)"
    assert services["api"].candidate and "1460 vCPU-hours and 2920 GB-hours" in services["api"].commitment
    assert services["worker"].count == 1 and not services["worker"].candidate  # no on-demand base: Spot may run it


def test_dev_is_torn_down_at_will_so_nothing_is_a_candidate(stacks):
    rows = report(stacks["dev"])
    assert rows and not [row for row in rows if row.candidate]
    assert {row.kind.split(" (")[0] for row in rows} >= {"RDS primary", "RDS Proxy", "NAT gateway"}
    assert all(row.hours_per_month == HOURS_PER_MONTH for row in rows)


def test_staging_commits_to_its_on_demand_base_only(stacks):
    services = {row.resource: row for row in report(stacks["staging"]) if row.kind.startswith("ECS")}
    assert set(services) == {"api"}  # the workers scale from zero: nothing always on
    assert services["api"].candidate and "for the 1 on-demand task(s)" in services["api"].commitment


def test_on_demand_share_is_the_base_then_the_weights_rounded_down():
    strategy = [
        {"capacity_provider": "FARGATE", "base": 1, "weight": 1},
        {"capacity_provider": "FARGATE_SPOT", "weight": 3},
    ]
    assert [_on_demand_tasks(n, strategy) for n in (1, 2, 5, 9)] == [1, 1, 2, 3]
    assert _on_demand_tasks(3, []) == 3
    assert _on_demand_tasks(3, [{"capacity_provider": "FARGATE_SPOT", "weight": 1}]) == 0


def test_markdown_table_has_a_row_per_item_and_no_purchase(stacks):
    rows = report(stacks["prod"])
    text = markdown("prod", rows)
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == len(rows) + 2 and "never a purchase" in text  # the header and its rule
    assert "boto" not in (ROOT / "tools" / "review" / "capacity_report.py").read_text()  # it calls no AWS API at all


def test_cli_reports_from_cdktf_out_and_refuses_a_missing_stack(synth_dir, tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "tools.review.capacity_report", "staging", "--stacks-dir", str(synth_dir / "stacks")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and "| video-ingest-staging-db | RDS primary (Multi-AZ) | db.t3.small |" in ok.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "tools.review.capacity_report", "prod", "--stacks-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    assert "no synthesized stack; run `make synth` first" in missing.stderr
