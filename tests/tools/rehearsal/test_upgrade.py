"""The upgrade rehearsal's working copy: the base commit's stack under the head's backend, with the emulator's
override files (tools/rehearsal/upgrade.py)."""

from __future__ import annotations

import json

from tools.rehearsal import emulator
from tools.rehearsal.upgrade import DRIFT_OVERRIDE, _install


def test_the_upgrade_installs_the_base_under_the_head_s_backend_with_both_override_files(tmp_path):
    def synth(name: str, bucket: str) -> tuple:
        out = tmp_path / name
        config = {
            "terraform": {"backend": {"s3": {"bucket": bucket, "key": "dev.tfstate"}}},
            "provider": {"aws": [{"region": "eu-west-1"}]},
            "resource": {"aws_kms_key": {"key": {"description": name}}},
        }
        (out / "stacks" / "dev").mkdir(parents=True)
        (out / "stacks" / "dev" / "cdk.tf.json").write_text(json.dumps(config))
        return out, emulator.emulate(out, out, "https://127.0.0.1:1")

    (base, _), (head, _) = synth("base", "old-state"), synth("head", "new-state")
    work = tmp_path / "work"
    work.mkdir()
    ignored = _install(base, "dev", work, backend_from=head)
    read = lambda name: json.loads((work / name).read_text())
    assert read("cdk.tf.json")["terraform"]["backend"]["s3"]["bucket"] == "new-state"
    assert read(emulator.OVERRIDE)["terraform"]["backend"]["s3"]["bucket"] == "new-state"
    assert read("cdk.tf.json")["resource"]["aws_kms_key"]["key"]["description"] == "base"
    assert read(DRIFT_OVERRIDE)["resource"]["aws_kms_key"]["key"]["lifecycle"]["ignore_changes"] == [
        "rotation_period_in_days"
    ] and ignored == ["aws_kms_key.rotation_period_in_days"]
