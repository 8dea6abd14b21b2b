"""Drift between changes (tools.review.drift): the issue text written from a refreshing plan, with drift and without."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT
from tools.review.drift import MARKER, issue, title

DRIFTED = {
    "resource_drift": [
        {
            "address": "aws_security_group.network_alb-sg_B3FA17EE",
            "mode": "managed",
            "type": "aws_security_group",
            "change": {
                "actions": ["update"],
                "before": {"description": "ALB", "ingress": [{"from_port": 443}]},
                "after": {"description": "ALB", "ingress": [{"from_port": 22}]},
            },
        },
        {
            "address": "aws_sqs_queue.ingest_queue_1",
            "mode": "managed",
            "type": "aws_sqs_queue",
            "change": {"actions": ["delete"], "before": {"name": "q"}, "after": None},
        },
    ],
    "resource_changes": [
        {"address": "aws_security_group.network_alb-sg_B3FA17EE", "mode": "managed", "change": {"actions": ["update"]}},
        {"address": "aws_sqs_queue.ingest_queue_1", "mode": "managed", "change": {"actions": ["create"]}},
        {"address": "aws_vpc.network_vpc", "mode": "managed", "change": {"actions": ["no-op"]}},
    ],
}
CLEAN = {"resource_changes": [{"address": "aws_vpc.network_vpc", "mode": "managed", "change": {"actions": ["no-op"]}}]}


def test_a_plan_with_drift_opens_the_environments_issue_naming_what_drifted():
    written = issue("prod", DRIFTED, 2, "https://example.invalid/run/1")
    assert (
        written["action"] == "open"
        and written["title"] == title("prod") == "Drift in prod: AWS differs from the Terraform state"
    )
    assert written["labels"] == ["drift", "drift:prod"]
    body = written["body"]
    assert body.startswith(MARKER)
    assert "found 2 resources changed outside Terraform and 2 changes Terraform would make" in body
    assert (
        "- `aws_security_group.network_alb-sg_B3FA17EE`: changed outside Terraform\n"
        "  - `ingress[0].from_port`: `443` → `22`" in body
    )
    assert "- `aws_sqs_queue.ingest_queue_1`: deleted outside Terraform" in body
    assert "- `aws_sqs_queue.ingest_queue_1`: create" in body and "aws_vpc.network_vpc" not in body
    assert "[workflow run](https://example.invalid/run/1)" in body


def test_a_clean_plan_closes_it(tmp_path):
    written = issue("prod", CLEAN, 0)
    assert written == {
        "action": "close",
        "title": title("prod"),
        "labels": ["drift", "drift:prod"],
        "body": f"{MARKER}\nNo drift in prod: the refreshing plan is clean. Closing.",
    }
    # The command the workflow runs writes the same.
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(CLEAN))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.review.drift",
            "prod",
            "--plan",
            str(plan),
            "--exit-code",
            "0",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / "issue.json").read_text()) == written
    failed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.review.drift",
            "prod",
            "--plan",
            str(plan),
            "--exit-code",
            "1",
            "--out",
            str(tmp_path / "failed"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1 and not (tmp_path / "failed").exists()


def test_drift_workflow_runs_the_refreshing_plan_read_only_on_a_schedule():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "drift.yml").read_text())
    assert "schedule" in workflow[True] and "workflow_dispatch" in workflow[True]  # `on:` parses as True
    job = workflow["jobs"]["drift"]
    assert job["permissions"] == {"contents": "read", "id-token": "write", "issues": "write"}
    assert [m["environment"] for m in job["strategy"]["matrix"]["include"]] == ["dev", "staging", "prod"]
    # The refresh role reads what a refresh needs (API Gateway, secret versions); the plan role may not.
    assert job["environment"] == "${{ matrix.environment }}-plan"
    assert [m["role_variable"] for m in job["strategy"]["matrix"]["include"]] == [
        "AWS_REFRESH_ROLE_DEV",
        "AWS_REFRESH_ROLE_STAGING",
        "AWS_REFRESH_ROLE_PROD",
    ]
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "python -m tools.review.drift" in runs and "--run" in runs
