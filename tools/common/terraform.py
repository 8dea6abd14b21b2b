#!/usr/bin/env python3
"""Terraform on the synthesized stacks: `validate` every stack, `plan` one offline.

    python -m tools.common.terraform validate [STACK ...]
    python -m tools.common.terraform plan STACK         # writes build/plan/STACK/{plan.tfplan,plan.json}

Each stack runs in a working copy under build/ so cdktf.out/ stays as synth wrote it.
Terraform gets the project's CLI config: the filesystem mirror at /opt/tf-plugins
when it exists (offline machines), the public registry otherwise.

The offline plan adds `zz_offline_override.tf.json` with a local backend and the
skip_* settings on every AWS provider, and drops `assume_role` and
`allowed_account_ids` from the working copy's providers (an override cannot
remove a nested block; both decide whose credentials are used, not what is
planned, and with no call to AWS there is no account to compare), so no call
reaches AWS. Dummy credentials live
only in this process's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "cdktf.out" / "stacks"
BUILD = ROOT / "build"
MIRROR = Path("/opt/tf-plugins")
TERRAFORM = os.environ.get("TERRAFORM", "terraform")


def cli_config() -> Path:
    """The project's Terraform CLI config, chosen by whether the provider mirror exists here."""
    name = "mirror.tfrc" if MIRROR.is_dir() else "registry.tfrc"
    return ROOT / "terraform" / name


def terraform_env(**extra: str) -> dict[str, str]:
    env = dict(
        os.environ, TF_CLI_CONFIG_FILE=str(cli_config()), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_INPUT="0"
    )
    env.pop("TF_CLI_ARGS_init", None)
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run([TERRAFORM, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode not in (0, 2) or (result.returncode == 2 and "-detailed-exitcode" not in args):
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"terraform {' '.join(args)} failed in {cwd} (exit {result.returncode})")
    return result


def stacks(out: Path = OUT) -> list[str]:
    if not out.is_dir():
        raise SystemExit(f"{out} does not exist: run `make synth` first")
    return sorted(p.name for p in out.iterdir() if (p / "cdk.tf.json").is_file())


def workdir(stack: str, purpose: str, out: Path = OUT, build: Path = BUILD) -> Path:
    """A fresh copy of the stack's cdk.tf.json (the .terraform folder is kept between runs)."""
    work = build / purpose / stack
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("*.tf.json"):
        stale.unlink()
    shutil.copy2(out / stack / "cdk.tf.json", work / "cdk.tf.json")
    return work


# Go's garbage collector at 300 % heap growth instead of 100 % for the offline checks (terraform and the provider
# plugins it starts inherit it): measured here on prod, ~15 % less CPU for plan and show -json, ~20 % more memory
# (~600 MB peak for terraform). Unset elsewhere (deploys, the rehearsal); an explicit GOGC wins.
OFFLINE_GOGC = {"GOGC": os.environ.get("GOGC", "300")}


def validate(stack: str, out: Path = OUT, build: Path = BUILD) -> str:
    work = workdir(stack, "validate", out, build)
    env = terraform_env(**OFFLINE_GOGC)
    run(["init", "-backend=false", "-input=false", "-no-color"], work, env)
    result = run(["validate", "-json", "-no-color"], work, env)
    report = json.loads(result.stdout)
    if not report["valid"]:
        raise SystemExit(f"{stack}: invalid: {json.dumps(report['diagnostics'], indent=2)}")
    return f"{stack}: valid ({report['warning_count']} warnings)"


def offline_override(config: dict) -> dict:
    """Local backend; every AWS provider block (by alias) told not to call AWS before planning."""
    providers = config.get("provider", {}).get("aws", [])
    blocks = []
    for provider in providers:
        block = {
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
        }
        if "alias" in provider:
            block["alias"] = provider["alias"]
        blocks.append(block)
    return {"terraform": {"backend": {"local": {"path": "terraform.tfstate"}}}, "provider": {"aws": blocks}}


def plan(stack: str, out: Path = OUT, build: Path = BUILD) -> Path:
    return run_plan(prepare_plan(stack, out, build))


def prepare_plan(stack: str, out: Path = OUT, build: Path = BUILD) -> Path:
    """The stack's offline working copy (its *.tf.json are everything the plan reads besides the tools)."""
    work = workdir(stack, "plan", out, build)
    config = json.loads((work / "cdk.tf.json").read_text())
    for provider in config.get("provider", {}).get("aws", []):
        provider.pop("assume_role", None)
        provider.pop("allowed_account_ids", None)
    (work / "cdk.tf.json").write_text(json.dumps(config, indent=2))
    (work / "zz_offline_override.tf.json").write_text(json.dumps(offline_override(config), indent=2))
    (work / "terraform.tfstate").unlink(missing_ok=True)
    return work


def run_plan(work: Path) -> Path:
    """init, plan and `show -json` in a prepared working copy: its plan.json."""
    env = terraform_env(
        AWS_ACCESS_KEY_ID="AKIAOFFLINEPLAN00000",
        AWS_SECRET_ACCESS_KEY="offline-plan-dummy-secret",
        AWS_EC2_METADATA_DISABLED="true",
        **OFFLINE_GOGC,
    )
    env.pop("AWS_PROFILE", None)
    run(["init", "-input=false", "-no-color", "-reconfigure"], work, env)
    run(["plan", "-input=false", "-no-color", "-lock=false", "-refresh=false", "-out=plan.tfplan"], work, env)
    shown = run(["show", "-json", "plan.tfplan"], work, env)
    (work / "plan.json").write_text(shown.stdout)
    return work / "plan.json"


def plan_all(names: list[str], out: Path = OUT, build: Path = BUILD) -> dict[str, Path]:
    """Plans several stacks at once (each in its own working copy; terraform waits mostly on the provider)."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(names, pool.map(lambda name: plan(name, out, build), names), strict=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["validate", "plan", "config"])
    parser.add_argument("stacks", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "config":
        print(cli_config())
        return 0
    names = args.stacks or stacks()
    if args.command == "validate":
        for stack in names:
            started = time.monotonic()
            print(validate(stack), f"({time.monotonic() - started:.1f} s)")
        return 0
    started = time.monotonic()
    for stack, plan_json in plan_all(names).items():
        changes = json.loads(plan_json.read_text()).get("resource_changes", [])
        print(f"{stack}: plan of {len(changes)} resource changes -> {plan_json.relative_to(ROOT)}")
    print(f"{len(names)} plan(s) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
