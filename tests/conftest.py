"""Session fixtures: the jsii start-up and the synth of every stack are paid once per test session, and the work
done in other processes (offline plans, checkov, the plain synth, `cdktf synth`) starts in the
background as soon as the session starts and runs beside the in-process tests.

On 2 cores that keeps both busy: this process runs the tests (one core, the GIL), the background jobs run their
subprocesses, two at a time. `_start_background_jobs` submits only the jobs that the collected tests need
(`pytest tests/config/test_config.py` starts none), in `BACKGROUND_JOBS` order: the plain synth first (it needs nothing
else), the plans longest first, then `cdktf synth`, then checkov, which needs every plan. The tests that
wait on a job run last (`pytest_collection_modifyitems`, otherwise in their usual order), so the in-process tests
run while the jobs do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import pytest

import fast_bindings
from tests import tool_cache

fast_bindings.install()  # before anything imports the AWS bindings

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("dev", "staging", "prod")
BOOTSTRAPS = tuple(f"bootstrap-{env}" for env in ENVIRONMENTS)
STACKS = ("state-backend", *BOOTSTRAPS, *ENVIRONMENTS)
# Plans started longest first (an environment ~4x a bootstrap), so the short ones fill in at the end.
PLAN_ORDER = (*reversed(ENVIRONMENTS), "state-backend", *BOOTSTRAPS)
BACKGROUND_JOBS = ("plain_synth_job", "plan_jobs", "cli_synth_job", "scan_job")
_NEEDED = pytest.StashKey[set]()


def subprocess_env() -> dict[str, str]:
    """The environment for programs the tests start (the node they run on is the venv's, fast_bindings)."""
    return dict(os.environ)


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(tool_cache.summary())


# A test that waits on any of these (the real tools: plans, checkov, the plain synth, `cdktf synth`; moto with
# the emulator's patches; synths of git commits) is `slow`; so are the modules and tests marked so.
SLOW_FIXTURES = frozenset({*BACKGROUND_JOBS, "plans", "scans", "patched", "project_copy"})


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: runs the real tools (plans, checkov, plain synth, a kernel or synth "
        "of its own); `make test-fast` (-m 'not slow') leaves them out",
    )


def pytest_collection_finish(session):
    """The background jobs the selected tests need (after `-m` deselected the others)."""
    session.config.stash[_NEEDED] = set().union(*(item.fixturenames for item in session.items))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not SLOW_FIXTURES.isdisjoint(item.fixturenames):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: not set(BACKGROUND_JOBS).isdisjoint(item.fixturenames))  # stable


@pytest.fixture(scope="session")
def background():
    """Threads that wait on the background jobs' subprocesses (two at a time: the second core)."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="background")
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session", autouse=True)
def _start_background_jobs(request):
    needed = request.config.stash.get(_NEEDED, set())
    for name in BACKGROUND_JOBS:
        if name in needed:
            request.getfixturevalue(name)


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


def run_main(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python main.py ARGS` in a fresh process, as users run it."""
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env or subprocess_env(),
        timeout=600,
    )


@pytest.fixture(scope="session")
def plain_synth_job(background, tmp_path_factory) -> Future:
    """Every stack synthesized in a fresh process with jsii as it ships (every binding imported, jsii's relay
    process, the bindings' runtime type checks): (result, output dir)."""
    out = tmp_path_factory.mktemp("plain") / "cdktf.out"
    env = subprocess_env() | {"VIDEO_INGEST_PLAIN_BINDINGS": "1", "VIDEO_INGEST_BINDING_TYPE_CHECKS": "1"}
    return background.submit(tool_cache.plain_synth, lambda: run_main("--outdir", str(out), env=env), out, env)


@pytest.fixture(scope="session")
def cli_synth_job(background, tmp_path_factory) -> Future:
    """`cdktf synth`, the users' own command (the project's npm cdktf-cli, which runs `python main.py`), in a copy
    of the project: every stack synthesized by a fresh process on the lazy path, with node's loader report
    (FAST_BINDINGS_REPORT, passed on to the app). (result, output dir, report file)."""
    cdktf = ROOT / "node_modules" / ".bin" / "cdktf"
    if not cdktf.exists():
        pytest.fail("node_modules/.bin/cdktf missing: run `make install`")
    work = tmp_path_factory.mktemp("cli")
    project, report = work / "project", work / "report.json"
    shutil.copytree(
        ROOT,
        project,
        ignore=shutil.ignore_patterns(".venv", "node_modules", "cdktf.out", "build", ".git", "__pycache__"),
    )
    env = subprocess_env() | {
        "CHECKPOINT_DISABLE": "1",
        "FAST_BINDINGS_REPORT": str(report),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    command = [str(cdktf), "synth", "--output", str(project / "cdktf.out")]
    return background.submit(
        lambda: (
            subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600),
            project / "cdktf.out",
            report,
        )
    )


@pytest.fixture(scope="session")
def plan_jobs(background, synth_dir, build_dir) -> dict[str, Future]:
    """A real offline `terraform plan` of every stack (and its `show -json`): the plan.json path, per stack."""
    return {name: background.submit(tool_cache.plan, name, synth_dir / "stacks", build_dir) for name in PLAN_ORDER}


@pytest.fixture(scope="session")
def scan_job(background, plan_jobs, synth_dir, build_dir) -> Future:
    """checkov on every stack once all plans are written (tools.scan.scan: one checkov import, forked per stack)."""
    from tools.scan.scan import scan_all

    def scan() -> list[dict]:
        wait(plan_jobs.values())
        return scan_all(list(STACKS), synth_dir / "stacks", build_dir, cache=tool_cache.CheckovCache())

    return background.submit(scan)


@pytest.fixture(scope="session")
def plans(plan_jobs) -> dict[str, dict]:
    return {name: json.loads(plan_jobs[name].result().read_text()) for name in STACKS}


@pytest.fixture(scope="session")
def scans(scan_job) -> list[dict]:
    return scan_job.result()


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
        for name, added in section.items() if isinstance(section, dict) else [(section, lines)]:
            text, found = re.subn(
                rf"^\[{name}\][^\n]*\n",
                lambda m, added=added: f"{m.group(0)}{added}\n",
                text,
                count=1,
                flags=re.MULTILINE,
            )
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
