"""The real tools on every stack: an offline terraform plan, and checkov on it and on the JSON.

No separate `terraform validate` here (`make validate` still runs it): `terraform plan` validates the
configuration it plans before planning (the same checks, and a plan fails on any error `validate` reports),
so a valid plan of every stack includes what validate would say. The one thing the plan's working copy drops
is each provider's `allowed_account_ids` (tools/common/terraform.py: with no call to AWS there is no account to
compare), and tests/stacks/test_foundation.py asserts its exact value in every stack; the working copy also has a
local backend instead of S3, which `validate` (run with -backend=false) never checked either.
"""

from __future__ import annotations

import pytest

from tests.conftest import STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_offline_plan_creates_every_resource(plans, stacks, stack):
    changes = plans[stack]["resource_changes"]
    declared = sum(len(v) for v in stacks[stack]["resource"].values())
    assert len(changes) == declared
    assert {tuple(c["change"]["actions"]) for c in changes} == {("create",)}


def test_checkov_finds_no_failed_check_and_every_skip_is_used(scans):
    from tools.scan.scan import problems, report

    assert [result["stack"] for result in scans] == list(STACKS)
    assert problems(scans) == 0, report(scans)
    assert all(skip.reason for result in scans for skip in result["skips"])
