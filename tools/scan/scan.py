#!/usr/bin/env python3
"""checkov on every stack: its plan JSON (sees provider defaults) and its cdk.tf.json.

    python -m tools.scan.scan [STACK ...]     # needs build/plan/<stack>/plan.json (make plan-all)

Suppressions live in code, next to the resource (`modules.checkov.skip`), and
reach the synthesized JSON under the resource's `//` key. This program turns them
into one checkov baseline per stack (so a skip covers exactly that check on
exactly that resource of that stack), runs checkov with it, prints every skip with
its reason, and fails on any failed check and on any skip that matched nothing
(a stale skip hides nothing today but would hide something tomorrow).
Writes JSON, SARIF and JUnit XML under build/scan/<stack>/.

Several stacks are scanned by one process that imports checkov once (~2.5 s of CPU,
most of a small stack's scan) and forks a child per stack, two at a time: each child
starts from that same freshly imported state, so no scan sees another's, and each
runs checkov's own command line (`checkov.main.Checkov(argv).run()`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from tools.common.terraform import BUILD, OUT, ROOT, stacks
from tools.scan.policies import DIRECTORY as POLICIES

SKIP_KEY = "checkov_skip"
# Read when checkov is imported: no mapping download, warnings and worse only.
CHECKOV_ENV = {"BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}


@dataclass(frozen=True, order=True)
class Skip:
    stack: str
    address: str  # <type>.<name>
    check_id: str
    reason: str


def declared_skips(stack: str, out: Path = OUT) -> list[Skip]:
    config = json.loads((out / stack / "cdk.tf.json").read_text())
    return sorted(
        Skip(stack, f"{rtype}.{name}", check_id, reason)
        for rtype, resources in config.get("resource", {}).items()
        for name, body in resources.items()
        for check_id, reason in body.get("//", {}).get(SKIP_KEY, {}).items()
    )


def baseline(skips: list[Skip]) -> dict:
    """checkov names a resource `<type>.<name>` or, for some JSON checks, `resource.<name>`: list both."""
    findings = []
    for skip in skips:
        name = skip.address.split(".", 1)[1]
        for resource in (skip.address, f"resource.{name}"):
            findings.append({"resource": resource, "check_ids": [skip.check_id], "reason": skip.reason})
    return {"failed_checks": [{"file": "/cdk.tf.json", "findings": findings}]}


def scan(stack: str, out: Path = OUT, build: Path = BUILD) -> dict:
    return scan_all([stack], out, build)[0]


def scan_all(names: list[str], out: Path = OUT, build: Path = BUILD, jobs: int = 2, cache=None) -> list[dict]:
    """checkov on each stack (one checkov import for all of them, `jobs` scans at a time); results in order.
    `cache` (the test suite's): `reuse(command)` puts a kept scan's reports in place and returns its exit code
    (or None), `keep(command, code)` keeps a fresh one."""
    commands = [checkov_command(stack, out, build) for stack in names]
    codes = {index: cache.reuse(command) for index, command in enumerate(commands)} if cache else {}
    todo = [index for index in range(len(commands)) if codes.get(index) is None]
    if todo:
        batch = subprocess.run(
            [sys.executable, "-m", "tools.scan.scan", "--fork-checkov", str(jobs)],
            cwd=ROOT,
            input=json.dumps([commands[index] for index in todo]),
            capture_output=True,
            text=True,
            env=dict(os.environ, **CHECKOV_ENV),
        )
        if batch.returncode != 0:
            sys.stderr.write(batch.stderr[-4000:])
            raise SystemExit(f"checkov could not be started (exit {batch.returncode})")
        codes.update(zip(todo, json.loads(batch.stdout), strict=False))
        if cache:
            for index in todo:
                cache.keep(commands[index], codes[index])
    return [result(stack, codes[index], out, build) for index, stack in enumerate(names)]


def checkov_command(stack: str, out: Path = OUT, build: Path = BUILD) -> dict:
    """The stack's baseline written, and the checkov command line that scans it (argv, working directory)."""
    plan_json = build / "plan" / stack / "plan.json"
    if not plan_json.is_file():
        raise SystemExit(f"{plan_json} missing: run `make plan-all` first")
    work = build / "scan" / stack
    work.mkdir(parents=True, exist_ok=True)
    (work / "results_json.json").unlink(missing_ok=True)
    (work / "baseline.json").write_text(json.dumps(baseline(declared_skips(stack, out)), indent=2))
    argv = [
        "--skip-download",
        "--framework",
        "terraform_plan",
        "terraform_json",
        "-f",
        str(plan_json),
        "-f",
        str(out / stack / "cdk.tf.json"),
        "--external-checks-dir",
        str(POLICIES),  # the platform's own invariants (CKV_VIDEO_*)
        "--baseline",
        str(work / "baseline.json"),
        "--output-baseline-as-skipped",
        "--compact",
        "-o",
        "json",
        "-o",
        "sarif",
        "-o",
        "junitxml",
        "--output-file-path",
        str(work),
    ]
    # Run outside the repository: checkov silently reads a .checkov.yaml in its working directory.
    return {"argv": argv, "cwd": str(work)}


def fork_checkov(commands: list[dict], jobs: int) -> list[int]:
    """Imports checkov, then runs each command in a forked child (`jobs` at a time); their exit codes.
    A child's output goes to checkov.log in its working directory."""
    from checkov.main import Checkov

    codes: dict[int, int] = {}
    running: dict[int, int] = {}  # pid -> index
    for index, command in enumerate(commands):
        while len(running) >= jobs:
            pid, status = os.wait()
            codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 70
            try:
                os.chdir(command["cwd"])
                log = os.open("checkov.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                sys.argv = ["checkov", *command["argv"]]  # as the `checkov` script would see them
                with warnings.catch_warnings():  # as that script does
                    warnings.simplefilter("ignore", category=SyntaxWarning)
                    code = Checkov(command["argv"]).run() or 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                for worker in multiprocessing.active_children():  # checkov's own forks, joined as at exit
                    worker.join()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        running[pid] = index
    while running:
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    return [codes[index] for index in range(len(commands))]


def result(stack: str, code: int, out: Path = OUT, build: Path = BUILD) -> dict:
    """What checkov found in one stack: failed checks, the declared skips, the skips that matched nothing."""
    work = build / "scan" / stack
    report_file = work / "results_json.json"
    if code not in (0, 1) or not report_file.is_file():
        log = work / "checkov.log"
        sys.stderr.write(log.read_text()[-4000:] if log.is_file() else "")
        raise SystemExit(f"checkov failed to run on {stack} (exit {code}); see {log}")
    skips = declared_skips(stack, out)
    reports = json.loads(report_file.read_text())
    reports = reports if isinstance(reports, list) else [reports]
    failed = sorted(
        {
            (f["check_id"], f["resource"], f["check_name"], r["check_type"])
            for r in reports
            for f in r["results"]["failed_checks"]
        }
    )
    matched = {(f["check_id"], f["resource"].split(".", 1)[1]) for r in reports for f in r["results"]["skipped_checks"]}
    unused = [s for s in skips if (s.check_id, s.address.split(".", 1)[1]) not in matched]
    return {
        "stack": stack,
        "failed": failed,
        "skips": skips,
        "unused": unused,
        "parsing_errors": [e for r in reports for e in r["results"].get("parsing_errors", [])],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*")
    parser.add_argument("--fork-checkov", type=int, metavar="JOBS", help=argparse.SUPPRESS)  # scan_all's worker
    args = parser.parse_args(argv)
    if args.fork_checkov:
        print(json.dumps(fork_checkov(json.load(sys.stdin), args.fork_checkov)))
        return 0
    results = scan_all(args.stacks or stacks())
    print(report(results))
    return 1 if problems(results) else 0


def problems(results: list[dict]) -> int:
    return sum(len(r["failed"]) + len(r["unused"]) + len(r["parsing_errors"]) for r in results)


def report(results: list[dict]) -> str:
    lines = []
    for result in results:
        stack = result["stack"]
        lines.append(
            f"{stack}: {len(result['failed'])} failed, {len(result['skips'])} skipped "
            f"(JSON, SARIF, JUnit XML in build/scan/{stack}/)"
        )
        lines += [
            f"  FAILED  {check_id} {resource} [{check_type}]: {name}"
            for check_id, resource, name, check_type in result["failed"]
        ]
        lines += [f"  PARSE ERROR {error}" for error in result["parsing_errors"]]
        lines += [
            f"  UNUSED SKIP {skip.check_id} {skip.address}: matches no finding; remove it" for skip in result["unused"]
        ]
    skips = [s for r in results for s in r["skips"]]
    lines.append(f"\n{len(skips)} skips, each one check on one resource, with its reason:")
    for skip in skips:
        lines.append(f"  {skip.stack:<13} {skip.check_id:<12} {skip.address}\n      {skip.reason}")
    count = problems(results)
    lines.append(f"\nscan: {'FAILED' if count else 'passed'} ({count} problems)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
