"""Pull-request review: the read-only real-state plan, the one comment, and the workflow that wires them."""

from __future__ import annotations

import json
import subprocess

import yaml

from tests.conftest import ROOT
from tools.common.terraform import TERRAFORM, terraform_env
from tools.review.review_plan import BACKEND_CONFIG, prepare

STATE_READ_ROLE = "arn:aws:iam::000000000000:role/video-ingest-terraform-state-read-prod"


def test_the_default_state_role_is_the_state_backends_read_role():
    from tools.review.review_plan import default_state_role

    assert default_state_role("prod") == STATE_READ_ROLE


def test_review_plan_drops_the_deploy_role_and_replaces_the_backends_state_role(synth_dir, tmp_path):
    work = prepare(
        "prod",
        STATE_READ_ROLE,
        synth_dir / "stacks",
        tmp_path,
        extra_backend={"endpoints": {"sts": "http://127.0.0.1:9", "s3": "http://127.0.0.1:9"}},
    )
    config = json.loads((work / "cdk.tf.json").read_text())
    providers = config["provider"]["aws"]
    assert providers and all("assume_role" not in p and p["allowed_account_ids"] == ["333333333333"] for p in providers)
    backend_role = config["terraform"]["backend"]["s3"]["assume_role"]["role_arn"]
    assert backend_role.endswith("/video-ingest-terraform-state-prod")
    # terraform takes the backend's assume_role from the -backend-config file: the role it tries is the read one
    # (the endpoints point at a closed local port, so nothing leaves this machine).
    env = terraform_env(
        AWS_ACCESS_KEY_ID="AKIAOFFLINEPLAN00000",
        AWS_SECRET_ACCESS_KEY="offline",
        AWS_MAX_ATTEMPTS="1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("AWS_PROFILE", None)
    result = subprocess.run(
        [TERRAFORM, "init", "-input=false", "-no-color", "-reconfigure", f"-backend-config={BACKEND_CONFIG}"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"IAM Role ({STATE_READ_ROLE})" in " ".join((result.stdout + result.stderr).split())


def test_pull_request_workflow_plans_real_state_only_where_configured():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())
    jobs = workflow["jobs"]
    text = json.dumps(jobs)
    # No job reviews a plan from empty state any more (the offline plans stay, for checkov).
    assert "build/plan/" not in text and "tools.review.plan_summary" not in text
    plan_job = jobs["real-plan"]
    assert plan_job["permissions"] == {"contents": "read", "id-token": "write"}
    assert [m["role_variable"] for m in plan_job["strategy"]["matrix"]["include"]] == [
        "AWS_PLAN_ROLE_DEV",
        "AWS_PLAN_ROLE_STAGING",
        "AWS_PLAN_ROLE_PROD",
    ]
    assert plan_job["env"]["PLAN_ROLE"] == "${{ vars[matrix.role_variable] }}"
    assert plan_job["env"]["STATE_READ_ROLE"] == "${{ vars[matrix.state_role_variable] }}"
    assert "environment" not in plan_job  # the plan role trusts the pull_request subject, not an environment
    steps = plan_job["steps"]
    credentials = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials"))
    assert credentials["if"] == "steps.configured.outputs.enabled == 'true'"
    assert credentials["with"]["role-to-assume"] == "${{ env.PLAN_ROLE }}"
    assert any("tools.review.review_plan" in s.get("run", "") for s in steps)
    diff_job = jobs["synth-diff"]
    assert diff_job["permissions"] == {"contents": "read"}  # no credentials: forks get it too
    assert diff_job["steps"][0]["with"]["fetch-depth"] == 0
    assert any("make synth-diff" in s.get("run", "") for s in diff_job["steps"])
    review = jobs["review"]
    assert review["needs"] == ["synth-diff", "real-plan"] and review["permissions"]["pull-requests"] == "write"
    assert "pull-requests" not in jobs["checks"]["permissions"]
