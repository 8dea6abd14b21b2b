"""The test suite's cache of offline tool results (tests/tool_cache.py): a result is reused only for the same
inputs, and any input that changes is a different key."""

from __future__ import annotations

import json
import os

import pytest

from tests import tool_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(tool_cache, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(tool_cache, "ENABLED", True)
    monkeypatch.setattr(tool_cache, "reused", tool_cache.Counter())
    monkeypatch.setattr(tool_cache, "ran", tool_cache.Counter())
    tool_cache._plan_tools.cache_clear()
    yield tmp_path
    tool_cache._plan_tools.cache_clear()  # the session's own plans see the real binaries


def _working_copy(root, config: dict):
    root.mkdir(parents=True, exist_ok=True)
    (root / "cdk.tf.json").write_text(json.dumps(config))
    (root / "zz_offline_override.tf.json").write_text("{}")
    return root


def test_a_plan_is_keyed_by_every_tf_json_and_the_binaries(cache, monkeypatch):
    one = _working_copy(cache / "one", {"resource": {"aws_sqs_queue": {"q": {"name": "a"}}}})
    same = _working_copy(cache / "same", {"resource": {"aws_sqs_queue": {"q": {"name": "a"}}}})
    other = _working_copy(cache / "other", {"resource": {"aws_sqs_queue": {"q": {"name": "b"}}}})
    key = tool_cache.plan_key(one)
    assert key == tool_cache.plan_key(same) and key != tool_cache.plan_key(other)
    (same / "zz_offline_override.tf.json").write_text('{"terraform": {}}')
    assert tool_cache.plan_key(same) != key
    monkeypatch.setattr(tool_cache, "binary_identity", lambda path: f"{path} rebuilt")
    tool_cache._plan_tools.cache_clear()  # a new session
    assert tool_cache.plan_key(one) != key


def test_a_kept_result_is_restored_only_under_its_key_and_not_when_disabled(cache, monkeypatch):
    work = cache / "work"
    work.mkdir()
    (work / "plan.json").write_text('{"resource_changes": []}')
    tool_cache.keep("plan", "k1", [work / "plan.json"], {"code": 0})
    restored = cache / "restored"
    restored.mkdir()
    assert tool_cache.restore("plan", "k2", restored) is None
    assert tool_cache.restore("plan", "k1", restored) == {"code": 0}
    assert (restored / "plan.json").read_text() == '{"resource_changes": []}'
    assert tool_cache.summary() == "tool cache: plan 1 reused / 1 ran"
    monkeypatch.setattr(tool_cache, "ENABLED", False)
    assert tool_cache.restore("plan", "k1", cache / "elsewhere") is None
    tool_cache.keep("plan", "k3", [work / "plan.json"])
    assert not (tool_cache.CACHE / "plan" / "k3").exists()


def test_a_scan_is_keyed_by_the_files_it_reads_not_where_they_are(cache):
    commands = []
    for name, reason in (("a", "why"), ("b", "why"), ("c", "another reason")):
        work = cache / name / "dev"  # build/scan/<stack> in a session's own build folder
        work.mkdir(parents=True)
        for file, text in (("plan.json", "{}"), ("cdk.tf.json", "{}"), ("baseline.json", reason)):
            (work / file).write_text(text)
        commands.append(
            {
                "cwd": str(work),
                "argv": [
                    "--framework",
                    "terraform_plan",
                    "-f",
                    str(work / "plan.json"),
                    "-f",
                    str(work / "cdk.tf.json"),
                    "--baseline",
                    str(work / "baseline.json"),
                    "--output-file-path",
                    str(work),
                ],
            }
        )
    checkov = tool_cache.CheckovCache()
    a, b, c = (checkov.key(command) for command in commands)
    assert a == b != c
    (cache / "a" / "dev" / "results_json.json").write_text('{"results": {}}')
    checkov.keep(commands[0], 1)
    assert checkov.reuse(commands[1]) == 1 and (cache / "b" / "dev" / "results_json.json").is_file()
    assert checkov.reuse(commands[2]) is None
    kept = sorted(os.listdir(tool_cache.CACHE / "checkov" / a))
    assert kept == ["cdk.tf.json", "meta.json", "plan.json", "results_json.json"], kept


def test_a_scan_is_keyed_by_the_custom_policies_it_loads(cache):
    policies = cache / "policies"
    policies.mkdir()
    (policies / "check.py").write_text("check = 1\n")
    work = cache / "dev"
    work.mkdir()
    command = {"cwd": str(work), "argv": ["--external-checks-dir", str(policies), "--output-file-path", str(work)]}
    checkov = tool_cache.CheckovCache()
    before = checkov.key(command)
    (policies / "check.py").write_text("check = 2\n")
    assert checkov.key(command) != before
