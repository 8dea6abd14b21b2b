"""The real tools on every stack: terraform validate, an offline terraform plan, and checkov."""
from __future__ import annotations

import pytest

from tests.conftest import STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_terraform_validate(synth_dir, build_dir, stack):
    from tools.terraform import validate

    assert validate(stack, synth_dir / "stacks", build_dir).startswith(f"{stack}: valid")


@pytest.mark.parametrize("stack", STACKS)
def test_offline_plan_creates_every_resource(plans, stacks, stack):
    changes = plans[stack]["resource_changes"]
    declared = sum(len(v) for v in stacks[stack]["resource"].values())
    assert len(changes) == declared
    assert {tuple(c["change"]["actions"]) for c in changes} == {("create",)}


def test_checkov_finds_no_failed_check_and_every_skip_is_used(plans, synth_dir, build_dir):
    from tools.scan import problems, report, scan

    results = [scan(stack, synth_dir / "stacks", build_dir) for stack in STACKS]
    assert problems(results) == 0, report(results)
    assert all(skip.reason for result in results for skip in result["skips"])
