#!/usr/bin/env python3
"""Deploy rehearsal against a local AWS emulator (moto server on 127.0.0.1), run as CI runs a deploy.

    python -m tools.rehearsal.e2e [ENV ...]       # make e2e; default: dev staging prod

Starts moto on a free loopback port (stopped by its PID whatever happens), synthesizes as always and
writes the emulator override files beside a copy (tools/rehearsal/emulator.py), then follows the First deploy runbook:
1. bootstrap, as each account's administrator (the emulator's root credentials, through a stand-in
   administrator role in the account): `state-backend` in the state account, then `bootstrap-<env>`
   in each environment account (GitHub OIDC provider, deploy and plan roles, boundary), local state;
2. each environment only through the identities the project creates, reached as CI reaches them:
   a GitHub-style OIDC token for `repo:<ci_repository>:environment:<env>` is exchanged for the deploy
   role's session (sts:AssumeRoleWithWebIdentity), and the backend assumes the state role from it.
   `terraform init` against the S3 backend (state in the emulated bucket, DynamoDB and S3 lockfile
   locking), `apply`, a second `plan -detailed-exitcode` that must find no changes, and `destroy`;
   the environments run side by side (separate accounts and state files). `dev` goes through the
   users' own path instead: `cdktf deploy dev` / `cdktf destroy dev`, then applies and destroys it again;
   `staging` is deployed from the base commit and upgraded to the head (tools/rehearsal/upgrade.py); on `prod`, two
   plans race for the state lock: the second must be refused, and the state must still plan clean afterwards;
3. the check AWS would make and moto does not (tools/rehearsal/permissions.py): every call the provider made
   during apply, plan and destroy, with what AWS requires alongside it, evaluated against the deploy
   role's policies; any denial fails the environment;
4. the bootstraps are destroyed last. Prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tools.common.terraform import ROOT
from tools.rehearsal import data_path, upgrade
from tools.rehearsal.emulator import ENDPOINT_VARIABLE
from tools.rehearsal.harness import (
    CDKTF,
    Emulator,
    deploy,
    deploy_role_session,
    destroy,
    emulated_synth,
    environment,
    run,
    second_plan,
    state_count,
    terraform,
    with_provider_log,
)
from tools.rehearsal.verdicts import (
    NOT_PLANNED,
    LockRace,
    Recreate,
    SecondPlan,
    Teardown,
    verdict,
)

WORK = ROOT / "build" / "e2e"
CLI_STACK = "dev"  # rehearsed through `cdktf deploy` / `cdktf destroy`, then re-created
UPGRADE_STACK = "staging"  # deployed from the base commit, then upgraded to the head (tools/rehearsal/upgrade.py)
LOCK_STACK = "prod"  # where two plans race for the state lock


@dataclass
class Result:
    stack: str
    path: str = "terraform"
    applied: int = 0
    second_plan: SecondPlan = NOT_PLANNED
    destroyed: Teardown = Teardown.NOT_RUN
    lock: LockRace | None = None  # the race for the state lock (prod)
    recreated: Recreate | None = None  # the environment applied again after its destroy (dev)
    data_path: list = field(default_factory=list)  # tools/rehearsal/data_path.py checks, after apply, before destroy
    actions: int = 0  # distinct IAM actions the recorded calls needed
    denied: list[str] = field(default_factory=list)
    seconds: float = 0.0
    left_out: list[str] = field(default_factory=list)
    calls_checked: bool = True  # an environment's: its calls are checked against its deploy role (not a bootstrap's)
    error: str = ""  # what stopped it, if anything did

    @property
    def ok(self) -> bool:
        done = not self.error and self.second_plan.clean and self.destroyed is Teardown.OK
        if not self.calls_checked:
            return done
        # The upgrade rehearsal (tools/rehearsal/upgrade.py) applies and destroys on its own: no data-path checks.
        data_path_ok = self.path.startswith("upgrade") or data_path.passed(self.data_path)
        return (
            done
            and (self.lock is None or self.lock.ok)
            and (self.recreated is None or self.recreated.ok)
            and not self.denied
            and self.actions > 0
            and data_path_ok
        )


def rehearse_terraform(stack: str, out: Path, env: dict[str, str], result: Result, tear_down: bool) -> Path:
    work, result.applied = deploy(stack, out, env, WORK)
    result.second_plan = second_plan(work, env, stack, WORK)
    if stack == LOCK_STACK:
        result.lock = race_for_the_lock(work, env, stack)
    if tear_down:
        result.data_path = data_path.rehearse(work / "cdk.tf.json", env)
        result.destroyed = destroy(work, env)
    return work


def rehearse_cdktf(stack: str, env: dict[str, str], result: Result) -> None:
    """The users' own path: the project's cdktf-cli synthesizes and deploys, then destroys."""
    result.path = "cdktf"
    project = WORK / "cdktf-project"
    log = WORK / "cdktf.log"
    # --skip-provider-lock: `terraform providers lock` asks the registry itself, ignoring the CLI config's
    # filesystem mirror, so it cannot run offline; the lock file `init` writes from the mirror is used.
    env = with_provider_log(env, WORK / f"{stack}-provider-cdktf.log")
    # The app cdktf runs: the project's synth, then the emulator's overrides beside it (emulated_app.py).
    app = f"{sys.executable} -m tools.rehearsal.emulated_app"
    cdktf = lambda verb: run(
        [
            str(CDKTF),
            verb,
            stack,
            "--auto-approve",
            "--skip-provider-lock",
            "--app",
            app,
            "--output",
            str(project / "cdktf.out"),
        ],
        ROOT,
        env,
        log,
    )
    cdktf("deploy")
    stack_dir = project / "cdktf.out" / "stacks" / stack
    result.applied = state_count(stack_dir, env)
    result.second_plan = second_plan(stack_dir, env, stack, WORK)
    result.data_path = data_path.rehearse(stack_dir / "cdk.tf.json", env)
    cdktf("destroy")
    result.destroyed = Teardown.OK if state_count(stack_dir, env) == 0 else Teardown.LEFT_RESOURCES
    # A destroyed environment comes back under the same names (final snapshot, secrets, prefixed names).
    cdktf("deploy")
    again = state_count(stack_dir, env)
    cdktf("destroy")
    left = state_count(stack_dir, env)
    result.recreated = Recreate(first=result.applied, again=again, left=left)


def race_for_the_lock(work: Path, env: dict[str, str], stack: str) -> LockRace:
    """Plan A takes the lock (refresh of the whole state keeps it busy); plan B, started while A holds it,
    must be refused; afterwards the state still plans clean (judged as the second plan is)."""
    racer = threading.Thread(target=terraform, args=(["plan", "-input=false", "-lock-timeout=0s"], work, env))
    racer.start()
    lock_exists = _lock_probe(work, env)
    deadline = time.monotonic() + 30
    # The S3 lockfile of this key exists only while a plan holds the lock.
    lock_held = False
    while time.monotonic() < deadline and not lock_held:
        lock_held = lock_exists()
        time.sleep(0.1)
    second = terraform(["plan", "-input=false", "-lock-timeout=0s"], work, env, ok=(0, 1))
    racer.join()
    refused = second.returncode == 1 and "Error acquiring the state lock" in second.stderr
    return LockRace(observed=lock_held, refused=refused, after=second_plan(work, env, f"{stack}-after-lock-race", WORK))


def _lock_probe(work: Path, env: dict[str, str]):
    """A function telling whether the stack's S3 lockfile exists (client built once, polled often)."""
    import boto3
    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the emulator's self-signed certificate
    config = json.loads((work / "cdk.tf.json").read_text())["terraform"]["backend"]["s3"]
    client = boto3.client(
        "s3",
        endpoint_url=env[ENDPOINT_VARIABLE],
        region_name=config["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        verify=False,
    )

    def lock_exists() -> bool:
        try:
            client.head_object(Bucket=config["bucket"], Key=config["key"] + ".tflock")
            return True
        except Exception:
            return False

    return lock_exists


def check_permissions(stack: str, out: Path, result: Result) -> None:
    """Every call recorded in the environment's provider logs, evaluated against its deploy role's policies."""
    from tools.rehearsal import permissions

    logs = [
        log
        for pattern in (
            f"work/{stack}/provider-*.log",
            f"{stack}-provider-*.log",
            f"cdktf-project/cdktf.out/stacks/{stack}/provider-*.log",
        )
        for log in sorted(WORK.glob(pattern))
    ]
    report = permissions.check_stack(out / "stacks" / f"bootstrap-{stack}" / "cdk.tf.json", logs)
    (WORK / f"{stack}-permissions.txt").write_text(permissions.summary(report) + "\n")
    result.actions = len(report.actions)
    result.denied = report.denied + report.unknown


def rehearse_upgrade(stack: str, out: Path, env: dict[str, str], base: str, result: Result) -> None:
    """The base commit's stack applied, the head's planned over it (a stateful loss fails), applied, re-planned,
    its calls checked, destroyed: tools/rehearsal/upgrade.py. Its summary is printed."""
    upgraded = upgrade.rehearse_upgrade(stack, env, base, out, WORK / "upgrade")
    print(upgraded.report(), flush=True)
    result.path = f"upgrade from {upgraded.base}"[:60]
    result.applied, result.second_plan, result.destroyed = (
        upgraded.head_applied,
        upgraded.second_plan,
        upgraded.destroyed,
    )
    result.actions, result.denied = (
        upgraded.actions,
        upgraded.denied + [f"stateful loss: {loss}" for loss in upgraded.losses],
    )
    if upgraded.error:
        raise RuntimeError(upgraded.error)


def rehearse_environment(
    stack: str, out: Path, env: dict[str, str], left_out: list[str], base: str | None = None
) -> Result:
    result = Result(stack, left_out=left_out)
    started = time.monotonic()
    try:
        env = deploy_role_session(env, stack)
        if stack == UPGRADE_STACK and base:
            rehearse_upgrade(stack, out, env, base, result)
        elif stack == CLI_STACK:
            rehearse_cdktf(stack, env, result)
        else:
            rehearse_terraform(stack, out, env, result, tear_down=True)
        if not (stack == UPGRADE_STACK and base):
            check_permissions(stack, out, result)
    except RuntimeError as error:
        result.error = str(error).splitlines()[0]
        print(f"{stack}: {error}", file=sys.stderr)
    result.seconds = time.monotonic() - started
    print(f"{stack}: {verdict(result.ok)} after {result.seconds:.0f} s", file=sys.stderr, flush=True)
    for denial in result.denied:
        print(f"{stack}: DENIED {denial}", file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", default=["dev", "staging", "prod"], help="environments to rehearse")
    args = parser.parse_args(argv)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    emulator = Emulator(WORK / "moto.log")
    results: list[Result] = []
    bootstraps = ["state-backend", *(f"bootstrap-{stack}" for stack in args.stacks)]
    try:
        env = environment(emulator)
        out = WORK / "cdktf.out"
        left_out = emulated_synth(out, env, WORK / "synth.log", args.stacks)
        # The upgrade's base commit is chosen (synths of earlier commits, no emulator) beside the bootstraps.
        chooser = ThreadPoolExecutor(max_workers=1)
        base_choice = chooser.submit(upgrade_base, args.stacks)
        # 1. As each account's administrator: the state account first (the accounts' roles reach state there).
        works = {"state-backend": bootstrap_stack("state-backend", out, env, left_out, results)}
        with ThreadPoolExecutor(max_workers=len(args.stacks) or 1) as pool:
            works.update(
                zip(
                    bootstraps[1:],
                    pool.map(lambda stack: bootstrap_stack(stack, out, env, left_out, results), bootstraps[1:]),
                    strict=False,
                )
            )
        base = base_choice.result()
        chooser.shutdown()
        # 2. The environments live in separate accounts and state files: side by side, through their deploy roles.
        with ThreadPoolExecutor(max_workers=len(args.stacks) or 1) as pool:
            results += pool.map(
                lambda stack: rehearse_environment(stack, out, env, left_out.get(stack, []), base), args.stacks
            )
        # 3. Teardown of the bootstraps, accounts before the state account.
        for stack in reversed(bootstraps):
            result = next(r for r in results if r.stack == stack)
            started = time.monotonic()
            result.destroyed = destroy(works[stack], env)
            result.seconds += time.monotonic() - started
    except RuntimeError as error:
        print(error, file=sys.stderr)
    finally:
        emulator.stop()
    print(report(results))
    return 0 if results and all(r.ok for r in results) and len(results) == len(args.stacks) + len(bootstraps) else 1


def upgrade_base(stacks: list[str]) -> str | None:
    """The commit whose synthesized UPGRADE_STACK the head replaces (E2E_UPGRADE_BASE=<ref> to choose one, `none`
    to rehearse it from nothing)."""
    if UPGRADE_STACK not in stacks:
        return None
    chosen = os.environ.get("E2E_UPGRADE_BASE")
    if chosen == "none":  # set, with its reason, where the upgrade cannot be rehearsed yet (.ci/run says why)
        print(
            f"{UPGRADE_STACK}: upgrade rehearsal off (E2E_UPGRADE_BASE=none); rehearsed from nothing", file=sys.stderr
        )
        return None
    base = chosen or upgrade.choose_base(UPGRADE_STACK, work=WORK / "upgrade")
    print(
        f"{UPGRADE_STACK}: upgrade from {base}"
        if base
        else f"{UPGRADE_STACK}: no earlier commit synthesizes it differently; rehearsed from nothing",
        file=sys.stderr,
        flush=True,
    )
    return base


def bootstrap_stack(stack: str, out: Path, env: dict[str, str], left_out: dict, results: list[Result]) -> Path:
    """Applied and re-planned by the account's administrator; destroyed after the environments."""
    result = Result(stack, left_out=left_out.get(stack, []), calls_checked=False)
    results.append(result)
    started = time.monotonic()
    work = rehearse_terraform(stack, out, env, result, tear_down=False)
    result.seconds = time.monotonic() - started
    return work


def report(results: list[Result]) -> str:
    lines = [
        "| stack | path | resources applied | second-plan changes | destroy | lock race / re-create | "
        "API actions checked | denied | data path | seconds | result |",
        "|---|---|---:|---|---|---|---:|---:|---|---:|---|",
    ]
    for r in results:
        checked = (str(r.actions), str(len(r.denied))) if r.actions or r.denied else ("-", "-")
        lines.append(
            f"| {r.stack} | {r.path} | {r.applied} | {r.second_plan} | {r.destroyed} | "
            f"{r.lock or r.recreated or '-'} | {checked[0]} | {checked[1]} | "
            f"{data_path.summary(r.data_path)} | "
            f"{r.seconds:.0f} | "
            f"{verdict(r.ok)} |"
        )
    left_out = sorted({address.split(".")[0] for r in results for address in r.left_out})
    if left_out:
        from tools.rehearsal.emulator import EXCLUDED, SUBSTITUTED

        lines.append("\nLeft out of the emulated copy (tools/rehearsal/emulator.py):")
        unexcluded = (None, "references an excluded resource")
        lines += [f"- `{rtype}`: {EXCLUDED.get(rtype) or SUBSTITUTED.get(rtype, unexcluded)[1]}" for rtype in left_out]
    from tools.rehearsal.emulator import EMULATOR_DRIFT

    lines.append("\nAccepted emulator drift on the second plan:")
    lines += [f"- `{rtype}` `{path}`: {reason}" for (rtype, path), reason in sorted(EMULATOR_DRIFT.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
