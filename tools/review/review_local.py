#!/usr/bin/env python3
"""`make review BASE=…`: the pull request's review comment, rendered here, as the PR workflow posts it.

    python -m tools.review.review_local [--base REF] [--head-out cdktf.out] [--bundle build/review/bundle]
                                        [--no-plan]

Synthesizes the base (default: the merge-base with main; kept under build/review/base-<sha>/, so a second run
against the same base does not synthesize it again) and the head (the working tree, or `--head-out`), finds the
stacks whose cdk.tf.json differs, and for those only: checkov on both sides (tools.review.review_security, cached by
content), the monthly cost estimate of both sides (tools.cost.cost), and — where AWS credentials are in the
environment and `--no-plan` is not given — the real-state plan (tools.review.review_plan). All of it goes into a
bundle folder that tools.review.review_render turns into the comment: stdout and build/review/comment.md. The PR
workflow runs this program with `--no-plan` in its synth-diff job, adds the real-state plans from its plan jobs to
the same bundle, and renders it with the same renderer. Prints its own duration. Exit status as
tools.review.review_render's (2: a stateful loss), 1 when the base or the head does not synthesize.
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

from tools.review import review_render
from tools.review.synth_diff import default_base, describe, git, synth, synth_ref

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "review"
ENVIRONMENTS = ("dev", "staging", "prod")
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def touched(base: Path, head: Path) -> list[str]:
    """Stacks whose synthesized configuration differs (or exists on one side only)."""
    names = sorted({p.parent.name for out in (base, head) for p in out.glob("stacks/*/cdk.tf.json")})
    read = (
        lambda out, name: (out / "stacks" / name / "cdk.tf.json").read_bytes()
        if (out / "stacks" / name / "cdk.tf.json").is_file()
        else b""
    )
    return [name for name in names if read(base, name) != read(head, name)]


def _copy_tree(source: Path, target: Path) -> None:
    for config in sorted(source.glob("stacks/*/cdk.tf.json")):
        destination = target / "stacks" / config.parent.name / "cdk.tf.json"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(config, destination)


def base_synth(ref: str, work: Path = WORK) -> Path:
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    out = work / f"base-{sha[:12]}"
    if not (out / "stacks").is_dir():
        shutil.rmtree(out, ignore_errors=True)
        synth_ref(sha, out, work=work)
    return out


def real_plans(stacks: list[str], head_out: Path, bundle: Path) -> None:
    """The real-state plan of each touched environment where credentials are here; a note where not."""
    plan_dir = bundle / "plan"
    plan_dir.mkdir(parents=True, exist_ok=True)
    if not any(os.environ.get(v) for v in CREDENTIAL_VARIABLES):
        for env in stacks:
            (plan_dir / f"{env}.note").write_text(
                "no AWS credentials in this shell (the PR workflow uses the read-only plan role AWS_PLAN_ROLE_<ENV>).\n"
            )
        return
    from tools.review import review_plan

    for env in stacks:
        try:
            _, code = review_plan.review_plan(env, review_plan.default_state_role(env), head_out / "stacks")
        except (RuntimeError, SystemExit) as error:
            (plan_dir / f"{env}.status").write_text("1\n")
            (plan_dir / f"{env}.note").write_text(f"the real-state plan failed: {error}\n")
            continue
        work = review_plan.BUILD / "review-plan" / env
        shutil.copy2(work / "plan.json", plan_dir / f"{env}.json")
        if (work / "plan.txt").is_file():
            shutil.copy2(work / "plan.txt", plan_dir / f"{env}.txt")
        (plan_dir / f"{env}.status").write_text(f"{code}\n")


def costs(stacks: list[str], base_out: Path, head_out: Path, base_ref: str, bundle: Path) -> None:
    from tools.cost import cost  # not optional: an import that fails must fail the review, not drop its costs

    folder = bundle / "cost"
    folder.mkdir(parents=True, exist_ok=True)
    for env in stacks:
        if not (head_out / "stacks" / env / "cdk.tf.json").is_file():
            continue
        (folder / f"{env}.json").write_text(json.dumps(cost.compare(env, base_out, head_out, base_ref), indent=1))


def build_bundle(
    base_ref: str,
    base_out: Path,
    head_out: Path,
    bundle: Path,
    head_name: str,
    plan: bool,
    scan: bool = True,
    phases: list[str] | None = None,
) -> list[str]:
    phases = phases if phases is not None else []
    mark = time.monotonic()
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir(parents=True)
    _copy_tree(base_out, bundle / "base")
    _copy_tree(head_out, bundle / "head")
    (bundle / "meta.json").write_text(json.dumps({"base": describe(base_ref), "head": head_name}))
    changed = touched(base_out, head_out)
    notes = []
    if scan:
        from tools.review.review_security import scan_sides

        try:
            scans = scan_sides(base_out / "stacks", head_out / "stacks", changed, WORK / "scan")
            (bundle / "scan").mkdir()
            for side, results in scans.items():
                (bundle / "scan" / f"{side}.json").write_text(json.dumps(results, indent=1))
        except RuntimeError as error:
            notes.append(f"checkov could not run: {str(error).splitlines()[0]}")
        phases.append(f"checkov {time.monotonic() - mark:.1f} s")
    envs = [s for s in changed if s in ENVIRONMENTS]
    mark = time.monotonic()
    costs(envs, base_out, head_out, base_ref, bundle)
    phases.append(f"cost {time.monotonic() - mark:.1f} s")
    if plan:
        mark = time.monotonic()
        real_plans(envs, head_out, bundle)
        phases.append(f"real-state plans {time.monotonic() - mark:.1f} s")
    (bundle / "notes.txt").write_text("".join(f"{n}\n" for n in notes))
    return changed


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="git ref to compare with (default: merge-base of HEAD and main)")
    parser.add_argument("--head-out", type=Path, help="an existing synth of the head (e.g. cdktf.out)")
    parser.add_argument("--bundle", type=Path, default=WORK / "bundle")
    parser.add_argument("--out", type=Path, default=WORK / "comment.md")
    parser.add_argument(
        "--no-plan", action="store_true", help="no real-state plans (the PR workflow's plan jobs add them)"
    )
    parser.add_argument("--bundle-only", action="store_true", help="write the bundle, do not render")
    args = parser.parse_args(argv)
    base = args.base or default_base()
    phases: list[str] = []
    try:
        # The base and the head synthesize side by side (two processes; the base only when not kept already).
        with ThreadPoolExecutor(max_workers=2) as pool:
            base_job = pool.submit(base_synth, base)
            if args.head_out:
                head_out, head_name = args.head_out.resolve(), str(args.head_out)
                head_out = head_out.parent if head_out.name == "stacks" else head_out
            else:
                head_out = synth(ROOT, WORK / "head.out", log=WORK / "head-synth.log")
                dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
                head_name = describe("HEAD") + dirty
            base_out = base_job.result()
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"review: {error}", file=sys.stderr)
        return 1
    phases.append(f"synth {time.monotonic() - started:.1f} s")
    changed = build_bundle(base, base_out, head_out, args.bundle, head_name, plan=not args.no_plan, phases=phases)
    if args.bundle_only:
        print(
            f"review: bundle {args.bundle} ({', '.join(changed) or 'no stack'} changed) in "
            f"{time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
        return 0
    text, code = review_render.render(review_render.load(args.bundle))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(
        f"review: {', '.join(changed) or 'no stack'} changed; comment in {args.out} "
        f"({time.monotonic() - started:.1f} s: {', '.join(phases)})",
        file=sys.stderr,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
