#!/usr/bin/env python3
"""Upgrade rehearsal: the base commit's stack deployed in the emulator, then the head planned and applied over it.

    python -m tools.rehearsal.upgrade dev [--base REF]   # standalone: its own emulator, files in build/upgrade/

The deploy rehearsal (tools.rehearsal.e2e) proves a stack deploys from nothing; this proves the change deploys over
what is already there. For one environment, run as `make e2e` runs it (the state account's and the
environment account's bootstraps applied as their administrators, then the environment as its deploy role,
reached by web identity): the base commit is synthesized in a git worktree (same venv) and emulated
and applied through the S3 backend; the head's stack is planned over that state and the plan
summarised (tools.review.plan_summary: counts, replacements, destroys, moves); a stateful resource destroyed or
replaced (one that changed address without a `moved` block, say) fails the rehearsal before anything is
applied; otherwise the plan is applied and a second plan must be clean (tools.rehearsal.harness.second_plan); every call
the provider made is checked against the deploy role's policies (tools.rehearsal.permissions). Then everything is
destroyed. The attributes whose differences are the emulator's (listed in tools/rehearsal/emulator.py
with the reason) are ignored in the rehearsal's copy of both stacks, so the head's plan shows only what the
change does.

The base, unless given: the most recent commit before HEAD whose synthesized stack differs from the head's
(`//` metadata aside), found by walking back `git log` over the commits that touched synthesis inputs, at
most `--limit` synths; a tag or any ref can be given instead (`--base v1.4.0`). In CI on a fresh clone of
main, that is the deployment main replaces (fetch enough history: `fetch-depth: 0`). A base from before
the per-account bootstrap (deploy roles reached by web identity) cannot be deployed this way.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.common.git import describe, git
from tools.common.synthesized import synth, synth_ref, without_metadata
from tools.common.terraform import ROOT
from tools.rehearsal import emulator, harness
from tools.rehearsal.verdicts import NOT_PLANNED, SecondPlan, Teardown, verdict
from tools.review.plan_summary import summarize

WORK = ROOT / "build" / "upgrade"
# What synthesis reads: a commit that touches none of these synthesizes what its parent did.
BASE_CANDIDATES = 25  # earlier commits that touched synthesis inputs, synthesized at most to find the base
DRIFT_OVERRIDE = "emulator_drift_override.tf.json"  # the listed emulator drift, ignored (after emulator_override)
SYNTH_INPUTS = ("main.py", "cdktf.json", "stacks", "modules", "environments", "fast_bindings", "requirements.lock")


@dataclass
class UpgradeResult:
    stack: str
    base: str = ""
    base_applied: int = 0
    summary: str = ""  # the head's plan over the base, summarised (Markdown)
    moved: list[tuple[str, str, str]] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # emulator drift, ignored in the rehearsal's copy
    actions: int = 0  # distinct IAM actions the recorded calls needed
    denied: list[str] = field(default_factory=list)  # ... that the deploy role's policies deny
    head_applied: int = 0
    second_plan: SecondPlan = NOT_PLANNED
    destroyed: Teardown = Teardown.NOT_RUN
    seconds: float = 0.0
    error: str = ""
    destroy_expected: bool = True  # torn down at the end (else left for the caller)

    @property
    def ok(self) -> bool:
        teardown = Teardown.OK if self.destroy_expected else Teardown.NOT_RUN
        return (
            not self.error
            and not self.losses
            and self.second_plan.clean
            and self.destroyed is teardown
            and not self.denied
        )

    def report(self) -> str:
        lines = [
            f"## Upgrade rehearsal: {self.stack}, `{self.base}` → head",
            "",
            "| stack | base applied | stateful losses | moved | head applied | second-plan changes | destroy | "
            "API actions checked | denied | seconds | result |",
            "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---|",
            f"| {self.stack} | {self.base_applied} | {len(self.losses)} | {len(self.moved)} | "
            f"{self.head_applied} | {self.second_plan} | {self.destroyed} | {self.actions or '-'} | "
            f"{len(self.denied)} | {self.seconds:.0f} | {verdict(self.ok)} |",
            "",
        ]
        lines += [f"Denied: {denial}" for denial in self.denied]
        if self.error:
            lines += [f"Error: {self.error}", ""]
        if self.ignored:
            lines += [
                "Ignored in the rehearsal's copy (emulator drift, tools/rehearsal/emulator.py): "
                + ", ".join(f"`{a}`" for a in self.ignored),
                "",
            ]
        return "\n".join(lines) + "\n" + (self.summary or "")


def _stack_config(out: Path, stack: str) -> dict:
    """The stack's configuration as Terraform reads it (cdktf's `//` metadata and checkov notes left out)."""
    return without_metadata(json.loads((out / "stacks" / stack / "cdk.tf.json").read_text()))


def _install(out: Path, stack: str, work: Path, backend_from: Path | None = None) -> list[str]:
    """The stack's configuration into `work`; with `backend_from`, under that synth's backend block: the state
    account here is the head's bootstrap (its state role names), so the base keeps its state where the
    head will read it. An upgrade that changes the backend itself is what `terraform init -migrate-state`
    is for, and is not rehearsed."""
    read = lambda folder, name: json.loads((folder / "stacks" / stack / name).read_text())
    config, override = read(out, "cdk.tf.json"), read(out, emulator.OVERRIDE)
    if backend_from is not None:
        config["terraform"]["backend"] = read(backend_from, "cdk.tf.json")["terraform"]["backend"]
        override["terraform"]["backend"] = read(backend_from, emulator.OVERRIDE)["terraform"]["backend"]
    drift, ignored = emulator.drift_override(config)
    for name, content in (("cdk.tf.json", config), (emulator.OVERRIDE, override), (DRIFT_OVERRIDE, drift)):
        (work / name).write_text(json.dumps(content, indent=2))
    return ignored


def choose_base(
    stack: str, head_out: Path | None = None, limit: int = BASE_CANDIDATES, work: Path = WORK
) -> str | None:
    """The most recent commit before HEAD, on main's own line (first parents), whose synthesized `stack` differs
    from the head's; None if none of the last `limit` commits that touched synthesis inputs does."""
    if head_out is None:
        head_out = synth(ROOT, work / "choose" / "head", [stack])
    head = _stack_config(head_out, stack)
    try:
        # --first-parent: the commits main itself was at (what was deployed), not those of the branches merged
        # into it, which no environment ever ran.
        candidates = git("log", "--first-parent", "--format=%H", f"-n{limit}", "HEAD~1", "--", *SYNTH_INPUTS).split()
    except subprocess.CalledProcessError as error:
        raise SystemExit(
            f"upgrade: no history before HEAD ({error.stderr.strip()}); fetch it (fetch-depth: 0) or pass --base"
        ) from None
    for sha in candidates:
        out = synth_ref(sha, work / "choose" / sha[:12], work, [stack])
        if _stack_config(out, stack) != head:
            return sha
        print(f"upgrade: {describe(sha)} synthesizes {stack} as the head does; further back", file=sys.stderr)
    return None


def rehearse_upgrade(
    stack: str, env: dict[str, str], base: str, head_out: Path, work: Path, destroy: bool = True
) -> UpgradeResult:
    """Against the emulator, with `state-backend` and `bootstrap-<stack>` applied, `env` being what a deploy of
    `stack` runs with (tools.rehearsal.e2e: `deploy_role_session(environment(emulator), stack)`): applies `base`'s
    `stack` (synthesized from a worktree, then emulated), plans `head_out`'s (an emulated synth, e.g.
    tools.rehearsal.e2e's `out`) over it, fails on a stateful loss, applies, re-plans, checks the recorded calls against
    the deploy role's policies (when `env` records them), and with `destroy` tears the stack down. It shares
    the stack's account and state key with tools.rehearsal.e2e's own rehearsal of that stack: run it before or after
    that one, not beside it."""
    result = UpgradeResult(stack, base=describe(base), destroy_expected=destroy)
    started = time.monotonic()
    stack_work = work / stack
    shutil.rmtree(stack_work, ignore_errors=True)
    stack_work.mkdir(parents=True)
    try:
        plain = synth_ref(base, work / "base.plain", work, [stack], env=env)
        base_out = work / "base.out"
        shutil.rmtree(base_out, ignore_errors=True)
        emulator.emulate(plain, base_out, env[emulator.ENDPOINT_VARIABLE])
        _install(base_out, stack, stack_work, backend_from=head_out)
        harness.terraform(["init", "-input=false"], stack_work, env)
        harness.terraform(["apply", "-input=false", "-auto-approve"], stack_work, env)
        result.base_applied = harness.state_count(stack_work, env)

        result.ignored = _install(head_out, stack, stack_work)
        harness.terraform(["init", "-input=false"], stack_work, env)
        harness.terraform(["plan", "-input=false", "-out=upgrade.tfplan"], stack_work, env)
        plan = json.loads(harness.terraform(["show", "-json", "upgrade.tfplan"], stack_work, env).stdout)
        (stack_work / "upgrade-plan.json").write_text(json.dumps(plan, indent=1))
        summary = summarize(plan, f"{stack}, head over {result.base}")
        result.summary, result.moved, result.losses = summary.markdown, summary.moved, summary.stateful_losses
        (work / f"{stack}-upgrade-summary.md").write_text(summary.markdown)
        if not result.losses:
            harness.terraform(["apply", "-input=false", "upgrade.tfplan"], stack_work, env)
            result.head_applied = harness.state_count(stack_work, env)
            result.second_plan = harness.second_plan(stack_work, env, f"{stack}-upgrade", work)
    except RuntimeError as error:
        result.error = str(error).splitlines()[0]
        print(f"upgrade {stack}: {error}", file=sys.stderr)
    finally:
        if destroy and (stack_work / ".terraform").is_dir():
            result.destroyed = _tear_down(stack, stack_work, env)
    _check_calls(result, head_out, stack_work, work, env)
    result.seconds = time.monotonic() - started
    return result


def _tear_down(stack: str, stack_work: Path, env: dict[str, str]) -> Teardown:
    try:
        return harness.destroy(stack_work, env)
    except RuntimeError as error:
        print(f"upgrade {stack}: destroy: {error}", file=sys.stderr)
        return Teardown.FAILED


def _check_calls(result: UpgradeResult, head_out: Path, stack_work: Path, work: Path, env: dict[str, str]) -> None:
    """The calls the provider made (when `env` records them), against the deploy role's policies."""
    from tools.rehearsal import permissions

    bootstrap = head_out / "stacks" / f"bootstrap-{result.stack}" / "cdk.tf.json"
    if env.get(harness.RECORD_CALLS) and bootstrap.is_file():
        report = permissions.check_stack(bootstrap, sorted(stack_work.glob("provider-*.log")))
        (work / f"{result.stack}-upgrade-permissions.txt").write_text(permissions.summary(report) + "\n")
        result.actions, result.denied = len(report.actions), report.denied + report.unknown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", nargs="?", default="dev", choices=["dev", "staging", "prod"])
    parser.add_argument("--base", help="git ref of the deployment to upgrade (default: see above)")
    parser.add_argument(
        "--limit", type=int, default=BASE_CANDIDATES, help="at most this many base candidates synthesized"
    )
    args = parser.parse_args(argv)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    # Resolved once: the rehearsal runs for minutes, and HEAD may move meanwhile.
    base = (
        git("rev-parse", "--verify", f"{args.base}^{{commit}}")
        if args.base
        else choose_base(args.stack, limit=args.limit)
    )
    if base is None:
        print(
            f"upgrade: none of the last {args.limit} commits that touched synthesis synthesizes {args.stack} "
            "differently from the head: nothing to upgrade",
            file=sys.stderr,
        )
        return 0
    emulator = harness.Emulator(WORK / "moto.log")
    result = UpgradeResult(args.stack, base=describe(base), error="did not run")
    bootstraps, works = ["state-backend", f"bootstrap-{args.stack}"], {}
    env = harness.environment(emulator)
    try:
        head_out = WORK / "head.out"
        harness.emulated_synth(head_out, env, WORK / "synth.log", [args.stack])
        for stack in bootstraps:  # as the accounts' administrators, as `make e2e` does
            works[stack] = harness.deploy(stack, head_out, env, WORK)[0]
        result = rehearse_upgrade(args.stack, harness.deploy_role_session(env, args.stack), base, head_out, WORK)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        result.error = result.error or str(error).splitlines()[0]
    finally:
        try:
            for stack in reversed(list(works)):
                harness.terraform(["destroy", "-input=false", "-auto-approve"], works[stack], env)
        except RuntimeError as error:
            print(f"upgrade: bootstrap teardown: {error}", file=sys.stderr)
        emulator.stop()
    print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
