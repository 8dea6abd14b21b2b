"""The expensive offline tools' results, kept between test sessions by their exact inputs.

An offline `terraform plan` (with its `show -json`), a checkov scan and the plain-path synth are pure
functions of what they read: the files they are given, the tool's own binary or version, and nothing from
the network or the clock (a plan's `timestamp` aside). Each result is kept under build/test-cache/<kind>/
by the SHA-256 of all of it, and a later session whose inputs hash the same copies the result instead of
running the tool again; any change to an input (a stack's JSON, a skip's reason, a module of the app, the
terraform binary, the provider in the mirror, the checkov pin, node's version) is a different key, so the
tool runs and its new result is kept. This is what makes a second `make test` on an unchanged stack fast;
the first one on a fresh clone (CI's) runs every tool.

VIDEO_INGEST_TEST_CACHE=0 (or `make test CACHE=0`) runs every tool and keeps nothing; `make clean` empties
the cache. Each session's terminal summary says what was reused and what ran.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "test-cache"
ENABLED = os.environ.get("VIDEO_INGEST_TEST_CACHE", "1") != "0"
reused: Counter = Counter()
ran: Counter = Counter()


def digest(*parts: bytes | str) -> str:
    sha = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        sha.update(len(data).to_bytes(8, "big") + data)
    return sha.hexdigest()


def file_parts(paths) -> list[bytes | str]:
    """Each file's path relative to the project (or its name, outside it) and its bytes, in a stable order."""
    parts: list[bytes | str] = []
    for path in sorted(Path(p) for p in paths):
        parts += [str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name, path.read_bytes()]
    return parts


def tree_files(*roots: Path) -> list[Path]:
    """Every file under the given files and folders, bytecode caches left out."""
    found = []
    for root in roots:
        found += (
            [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
    return found


def binary_identity(path: str | Path) -> str:
    """A binary by its resolved path, size and modification time (hashing ~700 MB each session would cost
    what the cache saves)."""
    real = Path(shutil.which(str(path)) or path).resolve()
    stat = real.stat()
    return f"{real} {stat.st_size} {stat.st_mtime_ns}"


def restore(kind: str, key: str, dest: Path) -> dict | None:
    """Copies a kept result's files into `dest` and returns what was kept with them, or None."""
    entry = CACHE / kind / key
    if not ENABLED or not (entry / "meta.json").is_file():
        return None
    for item in entry.iterdir():
        if item.name != "meta.json":
            (
                shutil.copytree(item, dest / item.name, dirs_exist_ok=True)
                if item.is_dir()
                else shutil.copy2(item, dest / item.name)
            )
    reused[kind] += 1
    return json.loads((entry / "meta.json").read_text())


def keep(kind: str, key: str, files: list[Path], meta: dict | None = None) -> None:
    """Keeps `files` (and folders) and `meta` as the result for `key` (written aside, then renamed into place,
    so a session never sees half an entry)."""
    ran[kind] += 1
    if not ENABLED:
        return
    (CACHE / kind).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=CACHE / kind))
    for item in files:
        (shutil.copytree(item, staging / item.name) if item.is_dir() else shutil.copy2(item, staging / item.name))
    (staging / "meta.json").write_text(json.dumps(meta or {}))
    try:
        staging.rename(CACHE / kind / key)
    except OSError:  # another session kept the same result first
        shutil.rmtree(staging, ignore_errors=True)


def summary() -> str:
    kinds = sorted(set(reused) | set(ran))
    state = "" if ENABLED else " (VIDEO_INGEST_TEST_CACHE=0: nothing reused or kept)"
    return (
        "tool cache"
        + state
        + ": "
        + (", ".join(f"{kind} {reused[kind]} reused / {ran[kind]} ran" for kind in kinds) or "not used")
    )


class CheckovCache:
    """For tools.scan.scan.scan_all: a scan is keyed by checkov's pinned version, its command line (paths by name)
    and the files it reads (plan JSON, cdk.tf.json, baseline); kept: its reports and log, and its exit code."""

    def __init__(self):
        from importlib.metadata import version

        self.version = version("checkov")

    def key(self, command: dict) -> str:
        inputs = [Path(arg) for arg in command["argv"] if arg.startswith("/") and Path(arg).is_file()]
        inputs += [
            p
            for arg in command["argv"]
            if arg.startswith("/") and Path(arg).is_dir()  # custom policies
            for p in Path(arg).rglob("*.py")
        ]
        argv = [Path(arg).name if arg.startswith("/") else arg for arg in command["argv"]]
        return digest("checkov", self.version, json.dumps(argv), *file_parts(inputs))

    def reuse(self, command: dict) -> int | None:
        meta = restore("checkov", self.key(command), Path(command["cwd"]))
        return None if meta is None else meta["code"]

    def keep(self, command: dict, code: int) -> None:
        work = Path(command["cwd"])
        keep("checkov", self.key(command), [p for p in work.iterdir() if p.name != "baseline.json"], {"code": code})


@functools.cache
def _plan_tools() -> tuple[str, ...] | None:
    """The terraform binary and the provider binaries in the mirror, once per session; None without the mirror."""
    from tools.common.terraform import MIRROR, TERRAFORM

    if not MIRROR.is_dir():
        return None
    providers = sorted(p for p in MIRROR.rglob("terraform-provider-*") if p.is_file())
    return (binary_identity(TERRAFORM), *map(binary_identity, providers))


def plan_key(work: Path, *inputs: Path) -> str | None:
    """What an offline plan in the working copy `work` reads (its *.tf.json and `inputs`, e.g. a prior state);
    None without the provider mirror (the registry is outside this machine: nothing is kept)."""
    from tools.common.terraform import cli_config

    tools = _plan_tools()
    if tools is None:
        return None
    return digest("plan", *tools, *file_parts([cli_config(), *work.glob("*.tf.json"), *inputs]))


def planned(work: Path, run, *inputs: Path) -> Path:
    """`run()` (which writes `work`/plan.json), or the plan.json kept for the same inputs."""
    key = plan_key(work, *inputs)
    if key is not None and restore("plan", key, work) is not None:
        return work / "plan.json"
    plan_json = run()
    if key is None:
        ran["plan"] += 1
    else:
        keep("plan", key, [plan_json])
    return plan_json


def plan(stack: str, stacks_dir: Path, build: Path) -> Path:
    """tools.common.terraform.plan, kept by its inputs (`plan_key`)."""
    from tools.common.terraform import prepare_plan, run_plan

    work = prepare_plan(stack, stacks_dir, build)
    return planned(work, lambda: run_plan(work))


def plain_synth(run, out: Path, env: dict[str, str]):
    """`run()` (a `python main.py` on jsii as it ships, into `out`), kept by every file the synth reads
    (tools.rehearsal.upgrade.SYNTH_INPUTS and the npm lock), the python and node binaries and the variables it reads;
    only a successful synth is kept. Returns (the CompletedProcess, or one with the kept exit code and stderr;
    `out`)."""
    import subprocess
    import sys

    import fast_bindings
    from tools.rehearsal.upgrade import SYNTH_INPUTS

    settings = {name: value for name, value in env.items() if name.startswith(("VIDEO_INGEST_", "JSII_", "NODE_"))}
    key = digest(
        "plain-synth",
        sys.version,
        binary_identity(sys.executable),
        binary_identity(fast_bindings.node_executable()),
        json.dumps(settings, sort_keys=True),
        *file_parts(tree_files(*(ROOT / name for name in (*SYNTH_INPUTS, "package-lock.json")))),
    )
    out.mkdir(parents=True, exist_ok=True)
    meta = restore("plain-synth", key, out)
    if meta is not None:
        return subprocess.CompletedProcess([], meta["returncode"], "", meta["stderr"]), out
    result = run()
    if result.returncode == 0:
        keep("plain-synth", key, list(out.iterdir()), {"returncode": 0, "stderr": result.stderr})
    else:
        ran["plain-synth"] += 1
    return result, out
