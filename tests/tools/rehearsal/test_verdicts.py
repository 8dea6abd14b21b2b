"""The rehearsal's verdicts are decided from values; the text is only rendered from them."""

from __future__ import annotations

import dataclasses

from tools.rehearsal.data_path import Check, Outcome
from tools.rehearsal.e2e import Result
from tools.rehearsal.upgrade import UpgradeResult
from tools.rehearsal.verdicts import NOT_PLANNED, LockRace, Recreate, SecondPlan, Teardown

CLEAN = SecondPlan()
DATA_PATH_OK = [Check("event", Outcome.OK), Check("multipart", Outcome.OK)]


def test_second_plan_is_clean_when_empty_or_only_listed_drift():
    assert CLEAN.clean and str(CLEAN) == "0"
    assert SecondPlan(explained=2).clean and str(SecondPlan(explained=2)) == "0 (+2 emulator drift)"
    changed = SecondPlan(unexplained=("aws_sqs_queue.jobs: tags", "aws_vpc.main: (delete/create)"), explained=1)
    assert not changed.clean and str(changed) == "2 (aws_sqs_queue.jobs: tags …)"
    assert not NOT_PLANNED.clean and str(NOT_PLANNED) == "-"


def test_lock_race_needs_the_lock_seen_the_second_plan_refused_and_the_state_clean():
    assert LockRace(observed=True, refused=True, after=CLEAN).ok
    assert str(LockRace(True, True, CLEAN)) == "second plan blocked, state clean"
    assert not LockRace(False, True, CLEAN).ok and str(LockRace(False, True, CLEAN)) == "lock never observed"
    assert not LockRace(True, False, CLEAN).ok and str(LockRace(True, False, CLEAN)) == "second plan NOT blocked"
    changed = LockRace(True, True, SecondPlan(unexplained=("aws_vpc.main: tags",)))
    assert not changed.ok and str(changed) == "state changed after race: 1 (aws_vpc.main: tags)"


def test_recreate_needs_every_resource_again_and_none_left():
    assert Recreate(first=10, again=10, left=0).ok and str(Recreate(10, 10, 0)) == "10 applied again, destroyed"
    assert not Recreate(10, 9, 0).ok and str(Recreate(10, 9, 0)) == "FAILED: 9 of 10 applied again, 0 left"
    assert not Recreate(10, 10, 1).ok


def test_an_environment_passes_only_when_every_outcome_does():
    passed = Result(
        "prod",
        applied=5,
        second_plan=CLEAN,
        destroyed=Teardown.OK,
        lock=LockRace(True, True, CLEAN),
        actions=12,
        data_path=DATA_PATH_OK,
    )
    assert passed.ok
    failures = [
        dict(second_plan=SecondPlan(unexplained=("x: y",))),
        dict(destroyed=Teardown.LEFT_RESOURCES),
        dict(lock=LockRace(True, False, CLEAN)),
        dict(recreated=Recreate(5, 4, 0)),
        dict(denied=["s3:Get"]),
        dict(actions=0),
        dict(error="terraform apply failed"),
        dict(data_path=[]),
        dict(data_path=[Check("event", Outcome.OK), Check("multipart", Outcome.FAILED)]),
    ]
    assert not [change for change in failures if dataclasses.replace(passed, **change).ok]


def test_the_upgrade_environment_passes_without_data_path_checks():
    upgraded = Result(
        "staging", path="upgrade from abc123", applied=5, second_plan=CLEAN, destroyed=Teardown.OK, actions=12
    )
    assert upgraded.ok and not dataclasses.replace(upgraded, path="terraform").ok


def test_a_bootstrap_passes_on_its_second_plan_and_teardown_alone():
    bootstrap = Result("bootstrap-dev", second_plan=CLEAN, destroyed=Teardown.OK, calls_checked=False)
    assert bootstrap.ok and not dataclasses.replace(bootstrap, destroyed=Teardown.NOT_RUN).ok


def test_an_upgrade_passes_without_losses_with_a_clean_plan_and_the_expected_teardown():
    upgraded = UpgradeResult("staging", second_plan=CLEAN, destroyed=Teardown.OK)
    assert upgraded.ok and "| ok |" in upgraded.report()
    assert not dataclasses.replace(upgraded, losses=["`aws_db_instance.main`: destroyed"]).ok
    assert not dataclasses.replace(upgraded, second_plan=NOT_PLANNED).ok
    assert UpgradeResult("staging", second_plan=CLEAN, destroy_expected=False).ok
    assert "| FAILED |" in dataclasses.replace(upgraded, error="boom").report()
