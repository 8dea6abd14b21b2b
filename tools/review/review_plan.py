#!/usr/bin/env python3
"""A pull request's plan against an environment's real state, read-only, for review.

    python -m tools.review.review_plan dev \
        [--state-role arn:aws:iam::<state account>:role/video-ingest-terraform-state-read-dev]

Runs with the credentials already in the environment (in CI: the environment's read-only plan role,
`video-ingest-<env>-plan`, assumed by GitHub OIDC). In a working copy of cdktf.out/stacks/<env>
(build/review-plan/<env>/): any provider `assume_role` is dropped (the providers assume none today; a role
meant for deploys is not the reviewer's), so the plan reads AWS as the plan role itself;
`allowed_account_ids` stays, so a role in the wrong account fails at once. The S3 backend is initialised
with `-backend-config` replacing its `assume_role` (the environment's read/write state role) by its
read-only one (default: `<read_role_arn>-<env>` of environments/state_backend.toml);
then `terraform plan -lock=false -refresh=false` (a reviewer's plan takes no lock, writes nothing and reads
no data; see below; `--refresh`: the promotion's plan, as the refresh role, refreshes first) and
tools.review.plan_summary on it: Markdown to stdout and `--out`, exit 2 when a stateful resource would be
destroyed or replaced, 1 when terraform fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from modules.naming import PROJECT
from tools.common.terraform import BUILD, OUT, ROOT, TERRAFORM, terraform_env
from tools.review.plan_summary import summarize

BACKEND_CONFIG = "review.s3.tfbackend"


def default_state_role(stack: str) -> str:
    """The environment's state read role, `<read_role_arn>-<env>` of environments/state_backend.toml (read as
    TOML: no cdktf where this runs)."""
    config = tomllib.loads((ROOT / "environments" / "state_backend.toml").read_text())
    return f"{config['read_role_arn']}-{stack}"


def hcl_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid HCL string literal


def backend_config(state_role: str, extra: dict[str, str | dict[str, str]] | None = None) -> str:
    """A .tfbackend file: the backend's `assume_role` replaced by the state role (read-only)."""
    settings: dict = {"assume_role": {"role_arn": state_role, "session_name": f"{PROJECT}-review"}}
    settings.update(extra or {})
    lines = []
    for key, value in settings.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k} = {hcl_string(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {hcl_string(value)}")
    return "\n".join(lines) + "\n"


def prepare(
    stack: str, state_role: str, out: Path = OUT, build: Path = BUILD, extra_backend: dict | None = None
) -> Path:
    if not state_role.startswith("arn:aws:iam::"):
        raise SystemExit(f"review-plan: --state-role must be a role ARN, got {state_role!r}")
    work = build / "review-plan" / stack
    work.mkdir(parents=True, exist_ok=True)
    for stale in [*work.glob("*.tf.json"), work / "plan.json", work / "plan.txt", work / "review.tfplan"]:
        stale.unlink(missing_ok=True)
    config = json.loads((out / stack / "cdk.tf.json").read_text())
    if "s3" not in config.get("terraform", {}).get("backend", {}):
        raise SystemExit(f"review-plan: {stack} has no S3 backend (state-backend keeps local state)")
    for provider in config.get("provider", {}).get("aws", []):
        provider.pop("assume_role", None)
    (work / "cdk.tf.json").write_text(json.dumps(config, indent=2))
    (work / BACKEND_CONFIG).write_text(backend_config(state_role, extra_backend))
    return work


def terraform(args: list[str], work: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [TERRAFORM, *args, "-no-color"], cwd=work, env=terraform_env(), capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise RuntimeError(f"terraform {args[0]} failed for {work.name} (exit {result.returncode})")
    return result


def review_plan(
    stack: str, state_role: str, out: Path = OUT, build: Path = BUILD, refresh: bool = False
) -> tuple[str, int]:
    work = prepare(stack, state_role, out, build)
    terraform(["init", "-input=false", "-reconfigure", f"-backend-config={BACKEND_CONFIG}"], work)
    # A pull request's plan does not refresh: it would read the placeholder secret version and API key values,
    # which the plan role is denied (modules/identity.py DATA_READS); it shows what this change does to the last
    # applied state. `refresh` (the promotion's plan, as the refresh role that may read them and writes
    # nothing) shows drift too.
    terraform(
        ["plan", "-input=false", "-lock=false", *(() if refresh else ("-refresh=false",)), "-out=review.tfplan"], work
    )
    shown = terraform(["show", "-json", "review.tfplan"], work).stdout
    (work / "plan.json").write_text(shown)
    # terraform's own text of the plan, for the review comment's collapsed block (tools.review.review_render).
    (work / "plan.txt").write_text(terraform(["show", "review.tfplan"], work).stdout)
    summary = summarize(json.loads(shown), f"{stack} (real state)")
    return summary.markdown, summary.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument(
        "--state-role",
        help="read-only state role in the state account (default: "
        "<read_role_arn>-<env> of environments/state_backend.toml)",
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--refresh", action="store_true", help="refresh first (the promotion's plan, as the environment's refresh role)"
    )
    parser.add_argument("--synth-out", type=Path, default=OUT, help="folder of synthesized stacks")
    args = parser.parse_args(argv)
    if shutil.which(TERRAFORM) is None:
        raise SystemExit("review-plan: terraform is not on PATH")
    try:
        markdown, code = review_plan(
            args.stack, args.state_role or default_state_role(args.stack), args.synth_out, refresh=args.refresh
        )
    except RuntimeError as error:
        print(f"review-plan: {error}", file=sys.stderr)
        return 1
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown)
    print(markdown)
    return code


if __name__ == "__main__":
    sys.exit(main())
