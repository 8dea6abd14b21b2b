"""What a change weakens: checkov findings introduced and fixed (base vs head), IAM statement changes, SARIF."""

from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import ROOT
from tools.review import iam_diff
from tools.review.review_render import Review, Verdict, render
from tools.review.review_security import sarif_to_constructs, scan_sides


@pytest.fixture(scope="module")
def iam_auth_off(synth_dir, tmp_path_factory):
    """dev as synthesized, and dev with the database's IAM authentication turned off: both scanned."""
    work = tmp_path_factory.mktemp("weakened")
    dev = json.loads((synth_dir / "stacks" / "dev" / "cdk.tf.json").read_text())
    head = copy.deepcopy(dev)
    (database,) = head["resource"]["aws_db_instance"].values()
    assert database["iam_database_authentication_enabled"] is True
    database["iam_database_authentication_enabled"] = False
    (work / "head" / "dev").mkdir(parents=True)
    (work / "head" / "dev" / "cdk.tf.json").write_text(json.dumps(head, indent=2))
    scans = scan_sides(synth_dir / "stacks", work / "head", ["dev"], work / "scan")
    return dev, head, scans, work


@pytest.mark.slow  # checkov on base and head
def test_turning_iam_database_authentication_off_is_introduced_ckv_aws_161_and_weakens(iam_auth_off, stacks):
    dev, head, scans, _ = iam_auth_off
    review = Review("main", "head", stacks, dict(stacks, dev=head), scans=scans)
    text, code = render(review)
    first = text.splitlines()[0]
    assert first.startswith(Verdict.WEAKENED_SECURITY.text) and "introduces CKV_AWS_161" in first
    introduced = text.split("checkov findings introduced:**")[1].split("\n\n")[0]
    assert "- dev: `CKV_AWS_161` on `aws_db_instance.database_primary_" in introduced
    assert "checkov findings fixed" not in text
    assert "`iam_database_authentication_enabled` `true` → `false`" in text
    assert text.index("What it weakens") < text.index("iam_database_authentication_enabled")
    assert code == 0  # weakened is the verdict, not a stateful loss: the scan job is the gate


@pytest.mark.slow  # checkov on base and head
def test_sarif_results_point_at_the_construct_and_its_python_source(iam_auth_off):
    _, head, _, work = iam_auth_off
    (sarif_file,) = [
        p for p in (work / "scan" / "cache").glob("*/results_sarif.sarif") if "CKV_AWS_161" in p.read_text()
    ]
    sarif = sarif_to_constructs(json.loads(sarif_file.read_text()), head, "dev")
    results = [r for run in sarif["runs"] for r in run["results"]]
    assert results and all("cdk.tf.json" not in json.dumps(r["locations"]) for r in results)
    (auth,) = [r for r in results if r["ruleId"] == "CKV_AWS_161"]
    (location,) = auth["locations"]
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "dev/database/primary"
    physical = location["physicalLocation"]
    uri, line = physical["artifactLocation"]["uri"], physical["region"]["startLine"]
    assert uri == "modules/database.py"
    assert '"primary"' in (ROOT / uri).read_text().splitlines()[line - 1]


def _role_policy(actions: list[str], resource: str = "*", condition: dict | None = None) -> dict:
    statement = {"Sid": "Read", "Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {
        "resource": {
            "aws_iam_role_policy": {
                "worker": {
                    "name": "w",
                    "role": "r",
                    "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
                }
            }
        }
    }


def test_iam_statement_changes_are_a_table_before_the_rest():
    base = {"dev": _role_policy(["s3:GetObject"], condition={"Bool": {"aws:SecureTransport": "true"}})}
    head = {"dev": _role_policy(["s3:GetObject", "s3:PutObject"])}
    (row,) = iam_diff.diff("dev", base["dev"], head["dev"])
    assert (row.kind, row.sid, row.actions) == ("~", "Read", ["+s3:PutObject"])
    assert row.conditions == ['-Bool aws:SecureTransport = "true"'] and row.widens
    text, _ = render(Review("a", "b", base, head))
    assert text.splitlines()[0].startswith(Verdict.WEAKENED_SECURITY.text)
    table = text.index("| | stack | resource | effect | actions | principals | resources | conditions |")
    assert table < text.index("**dev** (synth diff):")
    assert "| ~ | dev | `aws_iam_role_policy.worker` Read | Allow | `+s3:PutObject` |" in text
