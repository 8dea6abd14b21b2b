#!/usr/bin/env python3
"""checkov on every stack: its plan JSON (sees provider defaults) and its cdk.tf.json.

    python -m tools.scan [STACK ...]     # needs build/plan/<stack>/plan.json (make plan-all)

Suppressions live in code, next to the resource (`modules.checkov.skip`), and
reach the synthesized JSON under the resource's `//` key. This program turns them
into one checkov baseline per stack (so a skip covers exactly that check on
exactly that resource of that stack), runs checkov with it, prints every skip with
its reason, and fails on any failed check and on any skip that matched nothing
(a stale skip hides nothing today but would hide something tomorrow).
Writes JSON, SARIF and JUnit XML under build/scan/<stack>/.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tools.terraform import BUILD, OUT, stacks

CHECKOV = str(Path(sys.executable).parent / "checkov")
SKIP_KEY = "checkov_skip"


@dataclass(frozen=True, order=True)
class Skip:
    stack: str
    address: str        # <type>.<name>
    check_id: str
    reason: str


def declared_skips(stack: str, out: Path = OUT) -> list[Skip]:
    config = json.loads((out / stack / "cdk.tf.json").read_text())
    return sorted(
        Skip(stack, f"{rtype}.{name}", check_id, reason)
        for rtype, resources in config.get("resource", {}).items()
        for name, body in resources.items()
        for check_id, reason in body.get("//", {}).get(SKIP_KEY, {}).items())


def baseline(skips: list[Skip]) -> dict:
    """checkov names a resource `<type>.<name>` or, for some JSON checks, `resource.<name>`: list both."""
    findings = []
    for skip in skips:
        name = skip.address.split(".", 1)[1]
        for resource in (skip.address, f"resource.{name}"):
            findings.append({"resource": resource, "check_ids": [skip.check_id], "reason": skip.reason})
    return {"failed_checks": [{"file": "/cdk.tf.json", "findings": findings}]}


def scan(stack: str, out: Path = OUT, build: Path = BUILD) -> dict:
    plan_json = build / "plan" / stack / "plan.json"
    if not plan_json.is_file():
        raise SystemExit(f"{plan_json} missing: run `make plan-all` first")
    work = build / "scan" / stack
    work.mkdir(parents=True, exist_ok=True)
    skips = declared_skips(stack, out)
    (work / "baseline.json").write_text(json.dumps(baseline(skips), indent=2))
    command = [CHECKOV, "--skip-download", "--framework", "terraform_plan", "terraform_json",
               "-f", str(plan_json), "-f", str(out / stack / "cdk.tf.json"),
               "--baseline", str(work / "baseline.json"), "--output-baseline-as-skipped",
               "--compact", "-o", "json", "-o", "sarif", "-o", "junitxml", "--output-file-path", str(work)]
    # Run outside the repository: checkov silently reads a .checkov.yaml in its working directory.
    result = subprocess.run(command, cwd=work, capture_output=True, text=True,
                            env=dict(os.environ, BC_SKIP_MAPPING="TRUE", LOG_LEVEL="WARNING"))
    report_file = work / "results_json.json"
    if result.returncode not in (0, 1) or not report_file.is_file():
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"checkov failed to run on {stack} (exit {result.returncode})")
    reports = json.loads(report_file.read_text())
    reports = reports if isinstance(reports, list) else [reports]
    failed = sorted({(f["check_id"], f["resource"], f["check_name"], r["check_type"])
                     for r in reports for f in r["results"]["failed_checks"]})
    matched = {(f["check_id"], f["resource"].split(".", 1)[1])
               for r in reports for f in r["results"]["skipped_checks"]}
    unused = [s for s in skips if (s.check_id, s.address.split(".", 1)[1]) not in matched]
    return {"stack": stack, "failed": failed, "skips": skips, "unused": unused,
            "parsing_errors": [e for r in reports for e in r["results"].get("parsing_errors", [])]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*")
    args = parser.parse_args(argv)
    names = args.stacks or stacks()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(scan, names))
    print(report(results))
    return 1 if problems(results) else 0


def problems(results: list[dict]) -> int:
    return sum(len(r["failed"]) + len(r["unused"]) + len(r["parsing_errors"]) for r in results)


def report(results: list[dict]) -> str:
    lines = []
    for result in results:
        stack = result["stack"]
        lines.append(f"{stack}: {len(result['failed'])} failed, {len(result['skips'])} skipped "
                     f"(JSON, SARIF, JUnit XML in build/scan/{stack}/)")
        lines += [f"  FAILED  {check_id} {resource} [{check_type}]: {name}"
                  for check_id, resource, name, check_type in result["failed"]]
        lines += [f"  PARSE ERROR {error}" for error in result["parsing_errors"]]
        lines += [f"  UNUSED SKIP {skip.check_id} {skip.address}: matches no finding; remove it"
                  for skip in result["unused"]]
    skips = [s for r in results for s in r["skips"]]
    lines.append(f"\n{len(skips)} skips, each one check on one resource, with its reason:")
    for skip in skips:
        lines.append(f"  {skip.stack:<13} {skip.check_id:<12} {skip.address}\n      {skip.reason}")
    count = problems(results)
    lines.append(f"\nscan: {'FAILED' if count else 'passed'} ({count} problems)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
