"""Session fixtures: the jsii start-up and the synth of every stack are paid once per test session."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import fast_bindings

fast_bindings.install()  # before anything imports the AWS bindings

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("dev", "staging", "prod")
BOOTSTRAPS = tuple(f"bootstrap-{env}" for env in ENVIRONMENTS)
STACKS = ("state-backend", *BOOTSTRAPS, *ENVIRONMENTS)


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """Every stack synthesized once, in this process, from the committed environment files."""
    import main
    from environments.config import ENVIRONMENTS_DIR

    out = tmp_path_factory.mktemp("synth") / "cdktf.out"
    main.synth_atomically(out, ENVIRONMENTS, ENVIRONMENTS_DIR)
    return out


@pytest.fixture(scope="session")
def stacks(synth_dir) -> dict[str, dict]:
    return {name: json.loads((synth_dir / "stacks" / name / "cdk.tf.json").read_text()) for name in STACKS}


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("build")


@pytest.fixture(scope="session")
def plans(synth_dir, build_dir) -> dict[str, dict]:
    """A real offline `terraform plan` of every stack (and its `show -json`), run side by side."""
    from tools.terraform import plan_all

    return {name: json.loads(path.read_text()) for name, path in plan_all(list(STACKS), synth_dir / "stacks",
                                                                            build_dir).items()}


@pytest.fixture(scope="session")
def synth_dev_with(tmp_path_factory):
    """Synthesizes dev alone from the committed files, with `lines` added at the top of `[section]` of dev.toml
    (or {section: lines}) and the lines starting with any of `drop` removed."""
    import re
    import shutil

    import main
    from environments.config import ENVIRONMENTS_DIR

    def synth(section: str | dict[str, str], lines: str = "", drop: tuple[str, ...] = ()) -> dict:
        work = tmp_path_factory.mktemp("env")
        config_dir = work / "environments"
        shutil.copytree(ENVIRONMENTS_DIR, config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        dev = config_dir / "dev.toml"
        text = "".join(line for line in dev.read_text().splitlines(keepends=True) if not line.startswith(drop))
        for name, added in (section.items() if isinstance(section, dict) else [(section, lines)]):
            text, found = re.subn(rf"^\[{name}\][^\n]*\n", lambda m: f"{m.group(0)}{added}\n", text, count=1,
                                  flags=re.MULTILINE)
            assert found, name
        dev.write_text(text)
        main.synth_atomically(work / "out", ["dev"], config_dir)
        return json.loads((work / "out" / "stacks" / "dev" / "cdk.tf.json").read_text())
    return synth


def resources(stack: dict, rtype: str) -> dict[str, dict]:
    """All resources of one type in a synthesized stack, by logical name."""
    return stack.get("resource", {}).get(rtype, {})


def find_one(stack: dict, rtype: str, name_contains: str = "") -> dict:
    matches = [body for name, body in resources(stack, rtype).items() if name_contains in name]
    assert len(matches) == 1, f"expected one {rtype} matching {name_contains!r}, found {len(matches)}"
    return matches[0]


def subprocess_env() -> dict[str, str]:
    return dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
