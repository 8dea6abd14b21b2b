"""The platform's own checkov policies (tools/scan/policies, CKV_VIDEO_*): each on a passing and a failing
fixture (tests/fixtures/scan_policies/<policy>_{pass,fail}.tf.json), run through checkov's own command line
as `make scan` runs it, and the scan's command line loading them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.scan.policies import DIRECTORY as POLICIES
from tools.scan.scan import CHECKOV_ENV, checkov_command, scan_all

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "scan_policies"
IDS = [f"CKV_VIDEO_{n}" for n in range(1, 8)]

# fixture -> (policy, the resources it fails in the failing fixture, those it passes in the passing one)
CASES = {
    "public_path": ("CKV_VIDEO_1", {"alb"}, {"alb"}),
    "container_writes": ("CKV_VIDEO_2", {"api-task", "essential-init-task"}, {"api-task"}),
    "served_storage": (
        "CKV_VIDEO_3",
        {"videos-lifecycle", "mixed-lifecycle"},
        {"videos-lifecycle", "originals-lifecycle", "mixed-lifecycle"},
    ),
    "api_cache_keys": ("CKV_VIDEO_4", {"cache-videos"}, {"cache-videos"}),
    "service_log_groups": ("CKV_VIDEO_5", {"db", "app"}, {"db", "app", "db-postgresql"}),
    "master_secret": ("CKV_VIDEO_6", {"api-task"}, {"api-task"}),
    "protected_or_disposable": (
        "CKV_VIDEO_7",
        {"logs", "api", "key", "db"},
        {"logs", "videos", "api", "key", "generated", "db", "scratch"},
    ),
}

CHECKOV = """import sys, warnings
warnings.simplefilter("ignore", category=SyntaxWarning)
from checkov.main import Checkov
sys.exit(Checkov(sys.argv[1:]).run())
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict[str, dict[str, str]]]:
    """checkov's terraform_json framework on every fixture at once, with the policies loaded as `make scan` loads
    them: {fixture: {check id: {resource name: PASSED | FAILED}}}."""
    out = tmp_path_factory.mktemp("checkov")
    files = sorted(FIXTURES.glob("*.tf.json"))
    argv = [
        "--skip-download",
        "--framework",
        "terraform_json",
        "--external-checks-dir",
        str(POLICIES),
        "--check",
        ",".join(IDS),
        "--compact",
        "-o",
        "json",
        "--output-file-path",
        str(out),
    ]
    for file in files:
        argv += ["-f", str(file)]
    run = subprocess.run(
        [sys.executable, "-c", CHECKOV, *argv],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **CHECKOV_ENV},
        timeout=600,
    )
    assert run.returncode in (0, 1), run.stderr[-3000:]
    report = json.loads((out / "results_json.json").read_text())
    found: dict[str, dict[str, dict[str, str]]] = {f.name.removesuffix(".tf.json"): {} for f in files}
    for outcome, key in (("PASSED", "passed_checks"), ("FAILED", "failed_checks")):
        for record in report["results"][key]:
            fixture = Path(record["file_path"]).name.removesuffix(".tf.json")
            resource = record["resource"].split(".", 1)[1]
            found[fixture].setdefault(record["check_id"], {})[resource] = outcome
    return found


@pytest.mark.slow  # checkov
@pytest.mark.parametrize("fixture", sorted(CASES))
def test_a_policy_fails_its_failing_fixture_on_the_resources_at_fault(results, fixture):
    policy, resources, _ = CASES[fixture]
    failed = {r for r, outcome in results[f"{fixture}_fail"].get(policy, {}).items() if outcome == "FAILED"}
    assert failed == resources


@pytest.mark.slow  # checkov
@pytest.mark.parametrize("fixture", sorted(CASES))
def test_a_policy_passes_its_passing_fixture_and_no_other_policy_fails_it(results, fixture):
    policy, _, resources = CASES[fixture]
    outcomes = results[f"{fixture}_pass"]
    assert {r for r, outcome in outcomes.get(policy, {}).items() if outcome == "PASSED"} == resources
    assert {(check, r) for check, by in outcomes.items() for r, o in by.items() if o == "FAILED"} == set()


def test_every_policy_has_both_fixtures_and_a_page_in_the_docs():
    assert {case[0] for case in CASES.values()} == set(IDS)
    docs = (ROOT / "docs" / "custom-policies.md").read_text()
    for fixture, (policy, _, _) in CASES.items():
        assert (FIXTURES / f"{fixture}_pass.tf.json").is_file() and (FIXTURES / f"{fixture}_fail.tf.json").is_file()
        assert f"## {policy}" in docs


def test_the_scan_command_loads_the_policies(tmp_path):
    out, build = tmp_path / "out", tmp_path / "build"
    (out / "x").mkdir(parents=True)
    (out / "x" / "cdk.tf.json").write_text("{}")
    (build / "plan" / "x").mkdir(parents=True)
    (build / "plan" / "x" / "plan.json").write_text("{}")
    argv = checkov_command("x", out, build)["argv"]
    assert argv[argv.index("--external-checks-dir") + 1] == str(POLICIES)
    assert sorted(p.name for p in POLICIES.glob("*.py") if p.name != "__init__.py") == sorted(
        [f"{name}.py" for name in CASES] + ["video_policy_model.py"]
    )


@pytest.mark.slow  # checkov
def test_the_scan_reports_a_policy_finding_and_honours_a_skip_with_its_reason(tmp_path):
    """tools.scan.scan end to end on a one-stack fixture: the failing master-secret fixture, with a project skip
    (the `//` record modules.checkov.skip writes) on the database's CKV_VIDEO_7 only."""
    out, build = tmp_path / "out", tmp_path / "build"
    stack = json.loads((FIXTURES / "master_secret_fail.tf.json").read_text())
    stack["resource"]["aws_db_instance"]["db"] |= {
        "skip_final_snapshot": False,
        "//": {
            "checkov_skip": {
                "CKV_VIDEO_7": "fixture: a database whose destroy is stopped by a missing final snapshot, on purpose."
            }
        },
    }
    (out / "fx").mkdir(parents=True)
    (out / "fx" / "cdk.tf.json").write_text(json.dumps(stack))
    (build / "plan" / "fx").mkdir(parents=True)
    (build / "plan" / "fx" / "plan.json").write_text(
        json.dumps(
            {
                "format_version": "1.2",
                "terraform_version": "1.11.4",
                "planned_values": {"root_module": {}},
                "resource_changes": [],
                "configuration": {"root_module": {}},
            }
        )
    )
    [result] = scan_all(["fx"], out, build, jobs=1)
    failed = {(check, resource) for check, resource, _, _ in result["failed"] if check.startswith("CKV_VIDEO")}
    assert failed == {("CKV_VIDEO_6", "resource.api-task")}
    assert [(s.check_id, s.address) for s in result["skips"]] == [("CKV_VIDEO_7", "aws_db_instance.db")]
    assert result["unused"] == []
