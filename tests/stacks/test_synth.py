"""Synthesis: atomic (a failure keeps the previous cdktf.out/), deterministic, same as `cdktf synth`."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from tests.conftest import ENVIRONMENTS, STACKS, run_main
from tools.perf.bench import tree_bytes as tree


def test_every_stack_is_synthesized(synth_dir):
    assert sorted(p.name for p in (synth_dir / "stacks").iterdir()) == sorted(STACKS)


def test_two_synths_of_the_same_input_are_byte_identical(synth_dir, cli_synth_job):
    """The second synth runs in a fresh process, as users run it twice: `cdktf synth`'s `python main.py`
    (conftest's cli_synth_job), whole output tree against this session's."""
    result, again, _ = cli_synth_job.result()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert tree(again) == tree(synth_dir)


@pytest.fixture()
def previous_output(synth_dir, tmp_path) -> Path:
    out = tmp_path / "cdktf.out"
    shutil.copytree(synth_dir, out)
    return out


@pytest.mark.slow  # a fresh `python main.py` per case
@pytest.mark.parametrize(
    "mutation, message",
    [
        (
            ("dev.toml", 'vpc_cidr = "10.10.0.0/16"', 'vpc_cidr = "10.10.0.0/33"'),
            r"environments/dev.toml: network.vpc_cidr = '10.10.0.0/33': not a valid IPv4 CIDR",
        ),
        (
            ("prod.toml", "multi_az = true", "multi_az = false"),
            r"prod.toml: database.multi_az = false: a production environment requires true",
        ),
        (None, r"environment 'qa': no file"),
        # The identities: a malformed or missing role or account setting.
        (
            (
                "state_backend.toml",
                'role_arn = "arn:aws:iam::000000000000:role/video-ingest-terraform-state"',
                'role_arn = "arn:aws:iam::000000000000:user/video-ingest-terraform-state"',
            ),
            r"environments/state_backend.toml: "
            r"role_arn = 'arn:aws:iam::000000000000:user/video-ingest-terraform-state': "
            r"must be an IAM role ARN",
        ),
        (
            (
                "staging.toml",
                'ci_repository = "example-org/video-ingest-infra"',
                'ci_repository = "video-ingest-infra"',
            ),
            r"environments/staging.toml: identity.ci_repository = 'video-ingest-infra': must be",
        ),
        (
            ("prod.toml", 'account_id = "333333333333"', 'account_id = "33333333333"'),
            r"environments/prod.toml: account_id = '33333333333': must be a 12-digit AWS account id",
        ),
    ],
)
def test_bad_input_exits_non_zero_and_keeps_previous_output(previous_output, tmp_path, mutation, message):
    from environments.config import ENVIRONMENTS_DIR

    config_dir = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    names = list(ENVIRONMENTS)
    if mutation:
        file, old, new = mutation
        text = (config_dir / file).read_text()
        assert old in text
        (config_dir / file).write_text(text.replace(old, new))
    else:
        names.append("qa")
    before = tree(previous_output)
    result = run_main(*names, "--config-dir", str(config_dir), "--outdir", str(previous_output))
    assert result.returncode == 2, result.stderr
    assert message.replace("\\", "") in result.stderr.replace("\\", "") or __import__("re").search(
        message, result.stderr
    )
    assert "Traceback" not in result.stderr
    assert tree(previous_output) == before
    assert not list(previous_output.parent.glob(".cdktf.out.*")), "staging directory left behind"


@pytest.mark.slow  # a fresh `python main.py` per case
@pytest.mark.parametrize("file", ["dev.toml", "state_backend.toml"])
def test_bytes_that_are_not_text_exit_2_naming_the_file_and_keep_previous_output(previous_output, tmp_path, file):
    from environments.config import ENVIRONMENTS_DIR

    config_dir = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (config_dir / file).write_bytes(b"\xff\xfe\x00name = 'dev'\n")
    before = tree(previous_output)
    result = run_main(*ENVIRONMENTS, "--config-dir", str(config_dir), "--outdir", str(previous_output))
    assert result.returncode == 2, result.stderr
    assert f"{file}: not UTF-8 text (TOML files are): byte 0xff at offset 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(previous_output) == before


@pytest.mark.slow  # a fresh `python main.py` per case
def test_unknown_rds_class_fails_with_exit_2_one_line_and_keeps_previous_output(previous_output, tmp_path):
    from environments.config import ENVIRONMENTS_DIR

    config_dir = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    prod = config_dir / "prod.toml"
    assert 'instance_class = "db.r6g.large"' in prod.read_text()
    prod.write_text(prod.read_text().replace('instance_class = "db.r6g.large"', 'instance_class = "db.r6g.larg"'))
    before = tree(previous_output)
    result = run_main(*ENVIRONMENTS, "--config-dir", str(config_dir), "--outdir", str(previous_output))
    assert result.returncode == 2
    error, unchanged = result.stderr.strip().splitlines()
    assert error.startswith(
        f"error: {config_dir / 'prod.toml'}: database.instance_class = 'db.r6g.larg': "
        "not an instance class RDS offers for PostgreSQL 15; did you mean 'db.r6g.large'? "
        "sizes of db.r6g: large, xlarge"
    ), error
    assert unchanged.startswith("nothing written;")
    assert tree(previous_output) == before


def test_cdktf_cli_synth_matches_python_main(synth_dir, cli_synth_job):
    """The users' own command: `cdktf synth` (the project's npm cdktf-cli) gives the same output."""
    result, out, _ = cli_synth_job.result()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stack in STACKS:
        assert filecmp.cmp(
            out / "stacks" / stack / "cdk.tf.json", synth_dir / "stacks" / stack / "cdk.tf.json", shallow=False
        ), stack
