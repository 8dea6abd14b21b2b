"""The one review comment (tools.review.review_render): verdict first, changes by resource, grouped repeats,
settings."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from tests.conftest import ENVIRONMENTS, ROOT
from tools.review.review_render import MARKER, PlanPart, Review, Verdict, render


def _trees(out) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(out.glob("stacks/*/cdk.tf.json"))}


def test_a_one_value_toml_change_opens_with_its_verdict_and_the_attribute(synth_dir, tmp_path):
    import main

    config_dir = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    dev = config_dir / "dev.toml"
    dev.write_text(dev.read_text().replace("\nmax_tasks = 3\n", "\nmax_tasks = 5\n"))
    main.synth_atomically(tmp_path / "out", ["dev"], config_dir)
    base = _trees(synth_dir)
    head = dict(base, dev=_trees(tmp_path / "out")["dev"])
    notes = "set the repository variable AWS_PLAN_ROLE_<ENV> to the plan role (output plan_role_arn)."
    review = Review(
        "main", "head", base, head, plans={env: PlanPart(env, "skipped", note=notes) for env in ENVIRONMENTS}
    )
    text, code = render(review)
    lines = text.splitlines()
    assert code == 0
    assert lines[0].startswith(Verdict.CHANGES.text) and "in dev" in lines[0]
    assert any(
        "`max_capacity` `3` → `5`" in line and "aws_appautoscaling_target.compute_api-scaling-target" in line
        for line in lines[:5]
    ), lines[:5]
    # The setup note once, at the bottom; the marker last.
    assert text.count("AWS_PLAN_ROLE_") == 1 and text.index("Setup notes") > text.index("max_capacity")
    assert "No real-state plan for dev, staging, prod" in text
    assert lines[-1] == MARKER
    assert len(lines) < 15, text


def test_a_missing_bundle_is_no_review_never_no_change(tmp_path):
    from tools.review.review_render import load

    text, code = render(load(tmp_path))
    assert code == 1 and text.startswith(":grey_question: **No review**") and "No change" not in text


def test_no_change_is_its_own_verdict(stacks):
    text, _ = render(Review("a", "b", stacks, copy.deepcopy(stacks)))
    assert text.splitlines()[0] == Verdict.NO_CHANGE.text


def test_a_provider_version_bump_is_a_change_showing_old_and_new_versions(stacks):
    head = copy.deepcopy(stacks)
    for config in head.values():
        config["terraform"]["required_providers"]["aws"]["version"] = "5.101.0"
    text, code = render(Review("a", "b", stacks, head))
    first = text.splitlines()[0]
    assert first.startswith(Verdict.CHANGES.text) and "No change" not in text
    assert '`terraform.required_providers.aws.version`: `"5.100.0"` → `"5.101.0"`' in text
    # Every stack carries the same bump: one section names them all.
    assert text.count("required_providers.aws.version") == 1
    assert "state-backend, bootstrap-dev, dev, bootstrap-staging, staging, bootstrap-prod, prod" in text


def test_a_provider_region_and_backend_change_are_in_the_diff(stacks):
    head = copy.deepcopy(stacks)
    head["dev"]["provider"]["aws"][0]["region"] = "eu-west-2"
    head["dev"]["terraform"]["backend"]["s3"]["key"] = "dev/other.tfstate"
    text, _ = render(Review("a", "b", stacks, head))
    assert '`provider.aws[0].region`: `"eu-west-1"` → `"eu-west-2"`' in text
    assert '`terraform.backend.s3.key`: `"dev/terraform.tfstate"` → `"dev/other.tfstate"`' in text


def _queues(suffix: str, moved: bool = False) -> dict:
    config = {
        "resource": {
            "aws_sqs_queue": {
                f"q{i}_{suffix}": {"name": f"queue-{i}", "//": {"metadata": {"path": f"stack/jobs/q{i}_{suffix}"}}}
                for i in range(9)
            }
        }
    }
    if moved:
        config["moved"] = [{"from": f"aws_sqs_queue.q{i}_old", "to": f"aws_sqs_queue.q{i}_new"} for i in range(9)]
    return config


def test_a_rename_groups_its_resources_and_a_moved_count_does_not_read_as_done():
    base = {env: _queues("old") for env in ENVIRONMENTS}
    text, code = render(Review("a", "b", base, {env: _queues("new") for env in ENVIRONMENTS}))
    assert code == 2 and text.splitlines()[0].startswith(Verdict.STATEFUL_LOSS.text)
    assert text.count("9 resources renamed without `moved`") == 1
    assert "**dev, staging, prod** (synth diff):" in text
    assert text.count("`aws_sqs_queue.q3_old` → `aws_sqs_queue.q3_new`") == 1  # listed once, in the collapsed list

    text, code = render(Review("a", "b", base, {env: _queues("new", moved=True) for env in ENVIRONMENTS}))
    assert code == 0 and text.splitlines()[0].startswith(Verdict.CHANGES.text)
    assert "9 resources renamed with a `moved` block each (the plan moves their state; nothing re-created)" in text
    assert "moved 9" not in text and "without `moved`" not in text


def test_a_real_state_plan_shows_attributes_and_the_attribute_forcing_a_replacement(stacks):
    plan = {
        "resource_changes": [
            {
                "address": "aws_db_instance.db",
                "type": "aws_db_instance",
                "mode": "managed",
                "change": {
                    "actions": ["delete", "create"],
                    "before": {"db_name": "a", "password": "x"},
                    "after": {"db_name": "b", "password": "y"},
                    "after_unknown": {"id": True},
                    "before_sensitive": {"password": True},
                    "after_sensitive": {"password": True},
                    "replace_paths": [["db_name"]],
                },
            },
            {
                "address": "aws_ecs_service.api",
                "type": "aws_ecs_service",
                "mode": "managed",
                "change": {
                    "actions": ["update"],
                    "before": {"desired_count": 1},
                    "after": {"desired_count": 2},
                    "after_unknown": {},
                },
            },
        ]
    }
    review = Review(
        "a",
        "b",
        stacks,
        copy.deepcopy(stacks),
        plans={"dev": PlanPart("dev", "2", plan, "Terraform will perform the following actions: …")},
    )
    text, code = render(review)
    assert code == 2 and text.splitlines()[0].startswith(Verdict.STATEFUL_LOSS.text)
    assert "- `aws_ecs_service.api`: `desired_count` `1` → `2`" in text
    assert "- `aws_db_instance.db` **replaced**, forced by `db_name`" in text
    assert '`db_name`: `"a"` → `"b"`' in text and '"x"' not in text and '"y"' not in text
    assert "<details><summary>terraform plan: dev (real state, exit 2)</summary>" in text
    assert "**dev** (real-state plan):" in text


def test_the_pull_request_workflow_builds_the_bundle_and_renders_it_with_this_renderer():
    import yaml

    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())["jobs"]
    runs = lambda job: " ".join(step.get("run", "") for step in jobs[job]["steps"])
    assert "tools.review.review_local" in runs("synth-diff") and "--bundle review" in runs("synth-diff")
    assert "python3 -m tools.review.review_render review" in runs("review")
    assert "review/plan/$ENVIRONMENT.note" in runs("real-plan")
    script = next(s for s in jobs["review"]["steps"] if "github-script" in s.get("uses", ""))["with"]["script"]
    assert "c.body.includes(marker)" in script
    assert "tools.review.review_security sarif build/scan" in runs("checks")


def test_a_provider_bump_shows_beside_a_real_state_plan(stacks):
    head = copy.deepcopy(stacks)
    head["dev"]["terraform"]["required_providers"]["aws"]["version"] = "5.101.0"
    plan = {"resource_changes": []}
    text, _ = render(Review("a", "b", stacks, head, plans={"dev": PlanPart("dev", "0", plan, "No changes.")}))
    assert text.splitlines()[0].startswith(Verdict.CHANGES.text)
    section = text.split("**dev** (real-state plan):")[1]
    assert '`terraform.required_providers.aws.version`: `"5.100.0"` → `"5.101.0"`' in section


# a real terraform plan: a forced replacement, a destroy
from tests.tools.review.test_review import changed_plan  # noqa: E402,F401


@pytest.mark.slow  # a real terraform plan
def test_a_real_terraform_plan_renders_the_replacement_with_its_forcing_attribute(changed_plan, stacks):  # noqa: F811
    review = Review("a", "b", stacks, copy.deepcopy(stacks), plans={"staging": PlanPart("staging", "2", changed_plan)})
    text, code = render(review)
    assert code == 2 and text.splitlines()[0].startswith(Verdict.STATEFUL_LOSS.text)
    assert (
        "> - **staging (real state)**: 2 stateful resources destroyed or replaced: `aws_db_instance.database` "
        "(replace), `aws_s3_bucket.old_exports` (destroy)" in text
    )
    section = text.split("**staging** (real-state plan):")[1]
    assert "- `aws_db_instance.database` **replaced**, forced by `db_name`" in section
    assert '`db_name`: `"video_ingest"` → `"renamed"`' in section
    assert "- **1 to destroy**: `aws_s3_bucket.old_exports`" in section


def test_a_module_version_and_an_assume_role_change_are_in_the_diff(stacks):
    head = copy.deepcopy(stacks)
    base = copy.deepcopy(stacks)
    base["dev"]["module"] = {"vpc": {"source": "terraform-aws-modules/vpc/aws", "version": "5.8.1", "//": {}}}
    head["dev"]["module"] = {"vpc": {"source": "terraform-aws-modules/vpc/aws", "version": "5.9.0", "//": {}}}
    head["dev"]["provider"]["aws"][0]["assume_role"] = [{"role_arn": "arn:aws:iam::111111111111:role/other"}]
    text, _ = render(Review("a", "b", base, head))
    assert '`module.vpc.version`: `"5.8.1"` → `"5.9.0"`' in text
    assert '`provider.aws[0].assume_role`: (none) → `[{"role_arn": "arn:aws:iam::111111111111:role/other"}]`' in text
