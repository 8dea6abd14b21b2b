"""Pull-request review: the read-only real-state plan."""
from __future__ import annotations

import json
import subprocess

from tests.conftest import ROOT
from tools.review_plan import BACKEND_CONFIG, prepare
from tools.terraform import TERRAFORM, terraform_env

STATE_READ_ROLE = "arn:aws:iam::000000000000:role/video-ingest-terraform-state-read"


def test_review_plan_drops_the_deploy_role_and_replaces_the_backends_state_role(synth_dir, tmp_path):
    work = prepare("prod", STATE_READ_ROLE, synth_dir / "stacks", tmp_path,
                   extra_backend={"endpoints": {"sts": "http://127.0.0.1:9", "s3": "http://127.0.0.1:9"}})
    config = json.loads((work / "cdk.tf.json").read_text())
    providers = config["provider"]["aws"]
    assert providers and all("assume_role" not in p and p["allowed_account_ids"] == ["333333333333"]
                             for p in providers)
    assert config["terraform"]["backend"]["s3"]["assume_role"]["role_arn"].endswith("/video-ingest-terraform-state")
    # terraform takes the backend's assume_role from the -backend-config file: the role it tries is the read one
    # (the endpoints point at a closed local port, so nothing leaves this machine).
    env = terraform_env(AWS_ACCESS_KEY_ID="AKIAOFFLINEPLAN00000", AWS_SECRET_ACCESS_KEY="offline", AWS_MAX_ATTEMPTS="1",
                        AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    result = subprocess.run([TERRAFORM, "init", "-input=false", "-no-color", "-reconfigure",
                             f"-backend-config={BACKEND_CONFIG}"], cwd=work, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert f"IAM Role ({STATE_READ_ROLE})" in " ".join((result.stdout + result.stderr).split())

