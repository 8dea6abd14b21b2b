"""Review of what a change does: the synth diff against the base, moves, masking."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ENVIRONMENTS, ROOT, subprocess_env
from tools.review.synth_diff import Change, Report, diff_stack, diff_trees, markdown

VIDEO_BUCKET = "aws_s3_bucket.storage_videos_bucket_3CE3C090"
RENAMED_BUCKET = "aws_s3_bucket.storage_video-store_bucket_B12F19CD"


def test_a_toml_change_reports_that_attribute_on_that_resource_and_nothing_else(synth_dir, tmp_path):
    import main

    config_dir = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    dev = config_dir / "dev.toml"
    assert "\nmax_tasks = 3\n" in dev.read_text()
    dev.write_text(dev.read_text().replace("\nmax_tasks = 3\n", "\nmax_tasks = 5\n"))
    main.synth_atomically(tmp_path / "out", ENVIRONMENTS, config_dir)

    report = diff_trees(synth_dir, tmp_path / "out")
    assert [s.stack for s in report.stacks if not s.empty] == ["dev"]
    dev_diff = next(s for s in report.stacks if s.stack == "dev")
    assert dev_diff.changed == {
        "aws_appautoscaling_target.compute_api-scaling-target_DD3FE196": [Change("max_capacity", 3, 5)]
    }
    assert not (dev_diff.added or dev_diff.removed or dev_diff.moved or dev_diff.settings)
    assert report.exit_code == 0
    assert "  - `max_capacity`: `3` → `5`" in markdown(report)


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory) -> Path:
    """The project (tracked and new files) as a fresh git repository with one commit: the base."""
    copy = tmp_path_factory.mktemp("project") / "repo"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file() and not (ROOT / name).is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    git = lambda *args: subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=copy,
        check=True,
        capture_output=True,
        text=True,
    )
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    return copy


def _rename_video_bucket(project: Path, with_move: bool) -> None:
    storage = project / "modules" / "storage.py"
    source = (ROOT / "modules" / "storage.py").read_text()
    # By pattern, not exact text: the construct's call may be laid out on one line or, formatted, on several.
    renamed, count = re.subn(
        r'SecureBucket\(\s*self,\s*"videos",', lambda match: match.group(0).replace('"videos"', '"video-store"'), source
    )
    assert count == 1
    if with_move:  # the import, and the call as the last statement of Storage.__init__
        renamed = renamed.replace(
            "from modules.naming import", "from modules.moves import moved_from\nfrom modules.naming import", 1
        )
        end_of_init = renamed.index(
            "\n    def ",
            renamed.index("class Storage(") + renamed[renamed.index("class Storage(") :].index("    def __init__") + 1,
        )
        renamed = (
            renamed[:end_of_init].rstrip("\n")
            + '\n        moved_from(self.video_bucket, "storage/videos")\n\n'
            + renamed[end_of_init:]
        )
        assert renamed.count("moved_from") == 2
    storage.write_text(renamed)


def _synth_diff(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.review.synth_diff", *args],
        cwd=project,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_renaming_a_stateful_construct_fails_and_names_it_then_passes_with_a_moved_block(project_copy):
    _rename_video_bucket(project_copy, with_move=False)
    result = _synth_diff(project_copy, "--base", "main")
    assert result.returncode == 2, result.stdout + result.stderr
    warning = result.stdout.split("| stack |")[0]
    for env in ENVIRONMENTS:
        assert (
            f"> - {env}: `{VIDEO_BUCKET}` ({env}/storage/videos/bucket): destroyed and re-created as "
            f"`{RENAMED_BUCKET}`" in warning
        )
    assert "no `moved` block" in result.stdout
    assert "stateful resource(s) would be lost" in result.stderr
    # The base's worktree is gone, and git no longer lists it.
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=project_copy, capture_output=True, text=True).stdout
    assert len(worktrees.strip().splitlines()) == 1
    assert not list((project_copy / "build" / "synth-diff").glob("tree-*"))
    assert (project_copy / "build" / "synth-diff" / "synth-diff.md").read_text() in result.stdout

    _rename_video_bucket(project_copy, with_move=True)
    base_out = project_copy / "build" / "synth-diff" / "base.out"
    result = _synth_diff(project_copy, "--base-out", str(base_out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout
    assert f"- `{VIDEO_BUCKET}` → `{RENAMED_BUCKET}` (dev/storage/video-store/bucket) — `moved` block" in result.stdout
    head = json.loads(
        (project_copy / "build" / "synth-diff" / "head.out" / "stacks" / "dev" / "cdk.tf.json").read_text()
    )
    assert {"from": VIDEO_BUCKET, "to": RENAMED_BUCKET} in head["moved"]
    report = diff_trees(base_out, project_copy / "build" / "synth-diff" / "head.out")
    dev = next(s for s in report.stacks if s.stack == "dev")
    assert len(dev.moved) == 9 and all(m.covered and not m.changes for m in dev.moved)  # the bucket and its parts
    assert not (dev.added or dev.removed or dev.changed or dev.settings)


def _config(**resources) -> dict:
    return {"resource": {rtype: named for rtype, named in resources.items()}}


def test_secrets_and_pem_blocks_are_masked_and_forcing_changes_are_losses():
    pem = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A{}\n-----END PUBLIC KEY-----\n"
    base = _config(
        aws_db_instance={"db": {"identifier": "video-ingest-qa-db", "password": "hunter2-old"}},
        aws_cloudfront_public_key={"signing": {"name": "k", "encoded_key": pem.format("old")}},
        aws_sqs_queue={"jobs": {"name": "video-ingest-qa-jobs"}},
    )
    head = _config(
        aws_db_instance={"db": {"identifier": "video-ingest-qa-db2", "password": "hunter2-new"}},
        aws_cloudfront_public_key={"signing": {"name": "k", "encoded_key": pem.format("new")}},
    )
    diff = diff_stack("qa", base, head)
    text = markdown(Report("a", "b", [diff]))
    assert "hunter2" not in text and "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A" not in text
    assert "- `password`: `(masked)` (changed)" in text
    assert '- `encoded_key`: `"-----BEGIN PUBLIC KEY----- (masked)\\n"` (changed)' in text
    assert diff.losses == [
        "`aws_sqs_queue.jobs`: destroyed (removed from the configuration)",
        "`aws_db_instance.db`: replaced (identifier changes)",
    ]


def test_a_move_found_by_identity_carries_its_changes_and_renames_references():
    base = _config(
        aws_dynamodb_table={"old": {"name": "locks", "billing_mode": "PROVISIONED"}},
        aws_iam_role_policy={
            "p": {"name": "p", "role": "r", "policy": '{"Resource": "${aws_dynamodb_table.old.arn}"}'}
        },
    )
    head = _config(
        aws_dynamodb_table={"new": {"name": "locks", "billing_mode": "PAY_PER_REQUEST"}},
        aws_iam_role_policy={
            "p": {"name": "p", "role": "r", "policy": '{"Resource": "${aws_dynamodb_table.new.arn}"}'}
        },
    )
    diff = diff_stack("qa", base, head)
    (move,) = diff.moved
    assert (move.source, move.target, move.covered) == ("aws_dynamodb_table.old", "aws_dynamodb_table.new", False)
    assert move.changes == [Change("billing_mode", "PROVISIONED", "PAY_PER_REQUEST")]
    assert not diff.changed  # the policy's reference follows the move
    assert diff.losses[0].startswith("`aws_dynamodb_table.old`: destroyed and re-created as `aws_dynamodb_table.new`")
    head["moved"] = [{"from": "aws_dynamodb_table.old", "to": "aws_dynamodb_table.new"}]
    diff = diff_stack("qa", base, head)
    assert diff.moved[0].covered and not diff.losses


def test_the_upgrade_base_is_the_last_commit_that_synthesizes_differently(project_copy):
    git = lambda *args: subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=project_copy,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    base = git("rev-parse", "HEAD")
    _rename_video_bucket(project_copy, with_move=True)
    git("commit", "-qam", "rename the video bucket's construct, with its moved blocks")
    (project_copy / "README.md").write_text((project_copy / "README.md").read_text() + "\nA note.\n")
    git("commit", "-qam", "docs only")
    # HEAD~1 (the rename) synthesizes dev as HEAD does; the commit before it does not.
    result = subprocess.run(
        [sys.executable, "-c", "from tools.rehearsal.upgrade import choose_base; print(choose_base('dev'))"],
        cwd=project_copy,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == base
    assert (
        "rename the video bucket's construct" in result.stderr and "synthesizes dev as the head does" in result.stderr
    )


def test_the_upgrade_rehearsal_ignores_only_the_listed_emulator_drift():
    from tools.rehearsal.emulator import EMULATOR_DRIFT, drift_override

    config = {
        "resource": {
            "aws_kms_key": {"key": {"description": "k", "lifecycle": {"prevent_destroy": False}}},
            "aws_s3_bucket_replication_configuration": {"r": {"rule": [], "lifecycle": {"ignore_changes": ["role"]}}},
            "aws_s3_bucket": {"b": {"bucket": "b"}},
        }
    }
    override, ignored = drift_override(config)
    resources = override["resource"]
    assert resources["aws_kms_key"]["key"] == {"lifecycle": {"ignore_changes": ["rotation_period_in_days"]}}
    assert resources["aws_s3_bucket_replication_configuration"]["r"]["lifecycle"]["ignore_changes"] == ["role", "rule"]
    assert "aws_s3_bucket" not in resources and config["resource"]["aws_kms_key"]["key"]["lifecycle"] == {
        "prevent_destroy": False
    }
    assert ignored == ["aws_kms_key.rotation_period_in_days", "aws_s3_bucket_replication_configuration.rule"]
    assert ("aws_kms_key", "rotation_period_in_days") in EMULATOR_DRIFT
