"""Pull-request review tooling: plan summaries from real plans, linted workflows (diagrams: test_diagram.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import tool_cache
from tests.conftest import ROOT
from tools.common.terraform import run, terraform_env
from tools.review.plan_summary import summarize

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAOFFLINEPLAN00000", "AWS_SECRET_ACCESS_KEY": "offline-plan-dummy-secret"}
PROVIDER = {
    "region": "eu-west-1",
    "skip_credentials_validation": True,
    "skip_requesting_account_id": True,
    "skip_metadata_api_check": True,
    "skip_region_validation": True,
}


def test_create_only_plan_summary_exits_zero(plans):
    summary = summarize(plans["dev"], "dev")
    assert summary.exit_code == 0 and not summary.stateful_losses
    assert summary.counts["aws_subnet"]["create"] == 9
    assert "| `aws_subnet` | 9 |  |  |  |" in summary.markdown
    assert "WARNING" not in summary.markdown


def _changed_configuration() -> dict:
    """The configuration planned: the database with a changed db_name, and no bucket."""
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": "5.100.0"}}},
        "provider": {"aws": [PROVIDER]},
        "resource": {
            "aws_db_instance": {
                "database": {
                    "identifier": "video-ingest-qa-db",
                    "engine": "postgres",
                    "instance_class": "db.t3.micro",
                    "allocated_storage": 20,
                    "db_name": "renamed",
                    "username": "video_ingest_admin",
                    "manage_master_user_password": True,
                    "skip_final_snapshot": True,
                }
            }
        },
    }


def _prior_state() -> dict:
    """The state planned from: the database as first created (db_name video_ingest) and a bucket."""
    prior = lambda rtype, name, schema, attributes: {
        "mode": "managed",
        "type": rtype,
        "name": name,
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [{"schema_version": schema, "attributes": attributes}],
    }
    database = {
        "id": "db-ABCDEFGHIJKL",
        "identifier": "video-ingest-qa-db",
        "engine": "postgres",
        "instance_class": "db.t3.micro",
        "allocated_storage": 20,
        "db_name": "video_ingest",
        "username": "video_ingest_admin",
        "manage_master_user_password": True,
        "skip_final_snapshot": True,
    }
    bucket = {"id": "video-ingest-qa-exports", "bucket": "video-ingest-qa-exports"}
    return {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 1,
        "lineage": "plan-summary-test",
        "outputs": {},
        "resources": [
            prior("aws_db_instance", "database", 2, database),
            prior("aws_s3_bucket", "old_exports", 0, bucket),
        ],
    }


@pytest.fixture(scope="module")
def changed_plan(tmp_path_factory) -> dict:
    """A real `terraform plan` from a prior state: the database's db_name changed (forces a replacement)
    and a bucket removed from the configuration (a destroy)."""
    work = tmp_path_factory.mktemp("changed")
    (work / "main.tf.json").write_text(json.dumps(_changed_configuration()))
    (work / "terraform.tfstate").write_text(json.dumps(_prior_state()))
    env = terraform_env(**DUMMY_CREDENTIALS)

    def plan() -> Path:
        run(["init", "-input=false", "-no-color"], work, env)
        run(["plan", "-input=false", "-no-color", "-refresh=false", "-lock=false", "-out=plan.tfplan"], work, env)
        (work / "plan.json").write_text(run(["show", "-json", "plan.tfplan"], work, env).stdout)
        return work / "plan.json"

    return json.loads(tool_cache.planned(work, plan, work / "terraform.tfstate").read_text())


def test_forced_database_replacement_is_flagged_and_exits_non_zero(changed_plan, tmp_path):
    summary = summarize(changed_plan, "qa")
    assert summary.replaced == [("aws_db_instance.database", ["db_name"])]
    assert summary.destroyed == ["aws_s3_bucket.old_exports"]
    assert summary.stateful_losses == ["`aws_db_instance.database` (replace)", "`aws_s3_bucket.old_exports` (destroy)"]
    assert summary.exit_code == 2
    top = summary.markdown.split("| resource type")[0]
    assert "[!WARNING]" in top and "aws_db_instance.database" in top
    assert "- `aws_db_instance.database` — forced by `db_name`" in summary.markdown
    # The command CI runs: same verdict as its exit status.
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(changed_plan))
    result = subprocess.run(
        [sys.executable, "-m", "tools.review.plan_summary", str(plan_file), "--title", "qa"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Stateful resources would be destroyed or replaced" in result.stdout


def test_workflows_pass_actionlint():
    actionlint = Path(sys.executable).parent / "actionlint"
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert len(workflows) == 4  # main, promote, pull-request, drift
    result = subprocess.run([str(actionlint), *workflows], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
