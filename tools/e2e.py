#!/usr/bin/env python3
"""Deploy rehearsal against a local AWS emulator (moto server on 127.0.0.1), run as CI runs a deploy.

    python -m tools.e2e [ENV ...]       # make e2e; default: dev staging prod

Starts moto on a free loopback port (stopped by its PID whatever happens), synthesizes in
emulator mode (stacks/emulator.py), then follows the README's First deploy runbook:
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
   `staging` is deployed from the base commit and upgraded to the head (tools/upgrade.py); on `prod`, two
   plans race for the state lock: the second must be refused, and the state must still plan clean afterwards;
3. the check AWS would make and moto does not (tools/permissions.py): every call the provider made
   during apply, plan and destroy, with what AWS requires alongside it, evaluated against the deploy
   role's policies; any denial fails the environment;
4. the bootstraps are destroyed last. Prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tools import data_path
from tools.terraform import ROOT, terraform_env

WORK = ROOT / "build" / "e2e"
CDKTF = ROOT / "node_modules" / ".bin" / "cdktf"
CLI_STACK = "dev"          # rehearsed through `cdktf deploy` / `cdktf destroy`, then re-created
UPGRADE_STACK = "staging"  # deployed from the base commit, then upgraded to the head (tools/upgrade.py)
LOCK_STACK = "prod"        # where two plans race for the state lock


@dataclass
class Result:
    stack: str
    path: str = "terraform"
    applied: int = 0
    replan_changes: str = "-"
    destroyed: str = "-"
    lock: str = ""
    recreated: str = ""        # the environment applied again after its destroy (dev)
    data_path: list = field(default_factory=list)  # tools/data_path.py checks, after apply, before destroy
    actions: int = 0           # distinct IAM actions the recorded calls needed
    denied: list[str] = field(default_factory=list)
    seconds: float = 0.0
    left_out: list[str] = field(default_factory=list)
    ok: bool = False


class Emulator:
    """moto server in its own process group on a free loopback port."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.emulator_server", "--port", str(self.port),
             "--cert-dir", str(log.parent / "tls")], cwd=ROOT,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            # Managed policies exist (attachments need them); certificates are issued at once instead of
            # after moto's default minute of "pending validation", which only made every stack wait.
            env=dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true", MOTO_ACM_VALIDATION_WAIT="0"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1, context=ssl._create_unverified_context())
                return
            except OSError:
                if self.process.poll() is not None:
                    raise SystemExit(f"moto exited: see {log}")
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"moto did not answer on {self.url} within 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def environment(emulator: Emulator) -> dict[str, str]:
    env = terraform_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                        AWS_DEFAULT_REGION="eu-west-1", AWS_EC2_METADATA_DISABLED="true",
                        VIDEO_INGEST_EMULATOR_ENDPOINT=emulator.url,
                        CHECKPOINT_DISABLE="1",
                        # the venv's bin first: its python for cdktf's `python main.py`, its node (Node 24,
                        # linked by `make install`) for cdktf-cli and jsii
                        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "TF_CLI_ARGS_init"):
        env.pop(variable, None)
    return env


def run(command: list[str], cwd: Path, env: dict[str, str], log: Path, ok=(0,),
        timeout: int = 1800) -> subprocess.CompletedProcess:
    """Runs with its output streamed into `log` (follow it with tail -f); returns it as stdout."""
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}    [{time.strftime('%H:%M:%S')}]\n")
        start = out.tell()
        out.flush()
        try:
            result = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                                    timeout=timeout)
            code = result.returncode
        except subprocess.TimeoutExpired:
            code = -1
    with log.open() as written:
        written.seek(start)
        output = written.read()
    with log.open("a") as out:
        out.write(f"(exit {code} after {time.monotonic() - started:.0f} s)\n")
    if code not in ok:
        raise RuntimeError(f"{' '.join(command[:2])} failed in {cwd.name} (exit {code}); see {log}:\n"
                           + output[-2500:])
    return subprocess.CompletedProcess(command, code, output, output)


RECORD_CALLS = "E2E_RECORD_CALLS"  # set in an environment's process env: its calls are checked


def with_provider_log(env: dict[str, str], log: Path) -> dict[str, str]:
    """The provider logs every AWS request and retry into `log`: always for an environment (the
    permission check reads it), for the bootstraps with E2E_PROVIDER_DEBUG=1."""
    if os.environ.get("E2E_PROVIDER_DEBUG") != "1" and not env.get(RECORD_CALLS):
        return env
    return dict(env, TF_LOG_PROVIDER="DEBUG", TF_LOG_PATH=str(log))


def terraform(args: list[str], work: Path, env: dict[str, str], ok=(0,)) -> subprocess.CompletedProcess:
    env = with_provider_log(env, work / f"provider-{args[0]}.log")
    return run(["terraform", *args, "-no-color"], work, env, work / "rehearsal.log", ok)


def changed_paths(before, after, prefix: str = "") -> dict[str, tuple]:
    """Leaf attribute paths that differ, with both values (list indices dropped: `rule.destination.bucket`)."""
    if isinstance(before, dict) and isinstance(after, dict):
        return {path: values for key in set(before) | set(after)
                for path, values in changed_paths(before.get(key), after.get(key), f"{prefix}{key}.").items()}
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return {path: values for b, a in zip(before, after) for path, values in changed_paths(b, a, prefix).items()}
    return {} if before == after else {prefix.rstrip("."): (before, after)}


def second_plan(work: Path, env: dict[str, str], stack: str) -> str:
    """"0" when the second plan is empty, or differs only by the named emulator drifts; else the changes.
    Every difference, with the values before and after, goes to build/e2e/<stack>-drift.txt."""
    from stacks.emulator import EMULATOR_DRIFT

    replan = terraform(["plan", "-input=false", "-detailed-exitcode", "-out=replan.tfplan"], work, env, ok=(0, 2))
    if replan.returncode == 0:
        return "0"
    shown = json.loads(terraform(["show", "-json", "replan.tfplan"], work, env).stdout)
    unexplained, explained, details = [], 0, []
    for change in shown.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions == ["no-op"]:
            continue
        values = changed_paths(change["change"]["before"], change["change"]["after"])
        paths = set(values) if actions == ["update"] else {"(" + "/".join(actions) + ")"}
        accepted = all((change["type"], path) in EMULATOR_DRIFT for path in paths)
        explained += accepted
        if not accepted:
            unexplained.append(f"{change['address']}: {', '.join(sorted(paths))}")
        details.append(f"{change['address']} {'/'.join(actions)}{' (listed emulator drift)' if accepted else ''}")
        details += [f"    {path}: {json.dumps(before)[:300]} -> {json.dumps(after)[:300]}"
                    for path, (before, after) in sorted(values.items())]
        details += [f"    forces replacement: {path}" for path in change["change"].get("replace_paths") or []]
    (WORK / f"{stack}-drift.txt").write_text("\n".join(details) + "\n")
    if unexplained:
        return f"{len(unexplained)} ({unexplained[0]}{' …' if len(unexplained) > 1 else ''})"
    return f"0 (+{explained} emulator drift)"


def state_count(work: Path, env: dict[str, str]) -> int:
    listed = terraform(["state", "list"], work, env).stdout.split()
    return len([line for line in listed if not line.startswith("data.")])


def working_copy(out: Path, stack: str) -> Path:
    work = WORK / "work" / stack
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = json.loads((out / "stacks" / stack / "cdk.tf.json").read_text())
    if "local" in config["terraform"].get("backend", {}):
        config["terraform"]["backend"]["local"]["path"] = "terraform.tfstate"  # inside the rehearsal folder
    (work / "cdk.tf.json").write_text(json.dumps(config, indent=2))
    return work


def rehearse_terraform(stack: str, out: Path, env: dict[str, str], result: Result, destroy: bool) -> Path:
    work = working_copy(out, stack)
    terraform(["init", "-input=false"], work, env)
    terraform(["apply", "-input=false", "-auto-approve"], work, env)
    result.applied = state_count(work, env)
    result.replan_changes = second_plan(work, env, stack)
    if stack == LOCK_STACK:
        result.lock = race_for_the_lock(work, env, stack)
    if destroy:
        result.data_path = data_path.rehearse(work / "cdk.tf.json", env)
        terraform(["destroy", "-input=false", "-auto-approve"], work, env)
        result.destroyed = "ok" if state_count(work, env) == 0 else "left resources"
    return work


def rehearse_cdktf(stack: str, env: dict[str, str], result: Result) -> None:
    """The users' own path: the project's cdktf-cli synthesizes and deploys, then destroys."""
    result.path = "cdktf"
    project = WORK / "cdktf-project"
    log = WORK / "cdktf.log"
    # --skip-provider-lock: `terraform providers lock` asks the registry itself, ignoring the CLI config's
    # filesystem mirror, so it cannot run offline; the lock file `init` writes from the mirror is used.
    env = with_provider_log(env, WORK / f"{stack}-provider-cdktf.log")
    cdktf = lambda verb: run([str(CDKTF), verb, stack, "--auto-approve", "--skip-provider-lock",
                              "--output", str(project / "cdktf.out")], ROOT, env, log)
    cdktf("deploy")
    stack_dir = project / "cdktf.out" / "stacks" / stack
    result.applied = state_count(stack_dir, env)
    result.replan_changes = second_plan(stack_dir, env, stack)
    result.data_path = data_path.rehearse(stack_dir / "cdk.tf.json", env)
    cdktf("destroy")
    result.destroyed = "ok" if state_count(stack_dir, env) == 0 else "left resources"
    # A destroyed environment comes back under the same names (final snapshot, secrets, prefixed names).
    cdktf("deploy")
    again = state_count(stack_dir, env)
    cdktf("destroy")
    left = state_count(stack_dir, env)
    result.recreated = f"{again} applied again, destroyed" if again == result.applied and left == 0 else \
        f"FAILED: {again} of {result.applied} applied again, {left} left"


def race_for_the_lock(work: Path, env: dict[str, str], stack: str) -> str:
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
    after = second_plan(work, env, f"{stack}-after-lock-race")
    if not lock_held:
        return "lock never observed"
    if not refused:
        return "second plan NOT blocked"
    return "second plan blocked, state clean" if after.startswith("0") else f"state changed after race: {after}"


def _lock_probe(work: Path, env: dict[str, str]):
    """A function telling whether the stack's S3 lockfile exists (client built once, polled often)."""
    import boto3
    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the emulator's self-signed certificate
    config = json.loads((work / "cdk.tf.json").read_text())["terraform"]["backend"]["s3"]
    client = boto3.client("s3", endpoint_url=env["VIDEO_INGEST_EMULATOR_ENDPOINT"], region_name=config["region"],
                          aws_access_key_id="testing", aws_secret_access_key="testing", verify=False)

    def lock_exists() -> bool:
        try:
            client.head_object(Bucket=config["bucket"], Key=config["key"] + ".tflock")
            return True
        except Exception:
            return False

    return lock_exists


def deploy_role_session(env: dict[str, str], stack: str) -> dict[str, str]:
    """The process environment of a CI job of `stack`: the deploy role's session, reached by web identity
    with a token shaped like GitHub's for `repo:<ci_repository>:environment:<stack>` (the environment file
    says which repository; the emulator checks the role exists and its trust admits the token)."""
    import base64
    import tomllib

    import boto3
    import urllib3

    from modules.naming import Naming  # names only: no cdktf in this process

    config = tomllib.loads((ROOT / "environments" / f"{stack}.toml").read_text())
    claims = {"iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com",
              "sub": f"repo:{config['identity']['ci_repository']}:environment:{stack}"}
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
    token = f"{encode({'alg': 'RS256', 'kid': 'emulator'})}.{encode(claims)}.emulator"
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the emulator's self-signed certificate
    sts = boto3.client("sts", endpoint_url=env["VIDEO_INGEST_EMULATOR_ENDPOINT"], region_name=config["region"],
                       aws_access_key_id="anonymous", aws_secret_access_key="anonymous", verify=False)
    hours = config["identity"].get("deploy_session_hours", 3)
    credentials = sts.assume_role_with_web_identity(
        RoleArn=Naming(stack, config["account_id"], config["region"]).deploy_role_arn, RoleSessionName=f"ci-{stack}",
        WebIdentityToken=token, DurationSeconds=hours * 3600)["Credentials"]
    return dict(env, AWS_ACCESS_KEY_ID=credentials["AccessKeyId"], AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
                AWS_SESSION_TOKEN=credentials["SessionToken"], **{RECORD_CALLS: "1"})


def check_permissions(stack: str, out: Path, result: Result) -> None:
    """Every call recorded in the environment's provider logs, evaluated against its deploy role's policies."""
    from tools import permissions

    logs = [log for pattern in (f"work/{stack}/provider-*.log", f"{stack}-provider-*.log",
                                f"cdktf-project/cdktf.out/stacks/{stack}/provider-*.log")
            for log in sorted(WORK.glob(pattern))]
    report = permissions.check_stack(out / "stacks" / f"bootstrap-{stack}" / "cdk.tf.json", logs)
    (WORK / f"{stack}-permissions.txt").write_text(permissions.summary(report) + "\n")
    result.actions = len(report.actions)
    result.denied = report.denied + report.unknown


def rehearse_upgrade(stack: str, out: Path, env: dict[str, str], base: str, result: Result) -> None:
    """The base commit's stack applied, the head's planned over it (a stateful loss fails), applied, re-planned,
    its calls checked, destroyed: tools/upgrade.py. Its summary is printed."""
    from tools import upgrade

    upgraded = upgrade.rehearse_upgrade(stack, env, base, out, WORK / "upgrade")
    print(upgraded.report(), flush=True)
    result.path = f"upgrade from {upgraded.base}"[:60]
    result.applied, result.replan_changes, result.destroyed = upgraded.head_applied, upgraded.replan_changes, \
        upgraded.destroyed
    result.actions, result.denied = upgraded.actions, upgraded.denied + [f"stateful loss: {loss}"
                                                                         for loss in upgraded.losses]
    if upgraded.error:
        raise RuntimeError(upgraded.error)


def rehearse_environment(stack: str, out: Path, env: dict[str, str], left_out: list[str],
                         base: str | None = None) -> Result:
    result = Result(stack, left_out=left_out)
    started = time.monotonic()
    try:
        env = deploy_role_session(env, stack)
        if stack == UPGRADE_STACK and base:
            rehearse_upgrade(stack, out, env, base, result)
        elif stack == CLI_STACK:
            rehearse_cdktf(stack, env, result)
        else:
            rehearse_terraform(stack, out, env, result, destroy=True)
        if not (stack == UPGRADE_STACK and base):
            check_permissions(stack, out, result)
        result.ok = result.replan_changes.startswith("0") and result.destroyed == "ok" and \
            result.lock in ("", "second plan blocked, state clean") and not result.denied and result.actions > 0 \
            and not result.recreated.startswith("FAILED") and (stack == UPGRADE_STACK and base or
                                                               data_path.passed(result.data_path))
    except RuntimeError as error:
        print(f"{stack}: {error}", file=sys.stderr)
    result.seconds = time.monotonic() - started
    print(f"{stack}: {'ok' if result.ok else 'FAILED'} after {result.seconds:.0f} s", file=sys.stderr, flush=True)
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
        run([sys.executable, "main.py", "--outdir", str(out), *args.stacks], ROOT, env, WORK / "synth.log")
        left_out = json.loads((out / "emulator-exclusions.json").read_text())
        # The upgrade's base commit is chosen (synths of earlier commits, no emulator) beside the bootstraps.
        chooser = ThreadPoolExecutor(max_workers=1)
        base_choice = chooser.submit(upgrade_base, args.stacks)
        # 1. As each account's administrator: the state account first (the accounts' roles reach state there).
        works = {"state-backend": bootstrap_stack("state-backend", out, env, left_out, results)}
        with ThreadPoolExecutor(max_workers=len(args.stacks) or 1) as pool:
            works.update(zip(bootstraps[1:], pool.map(
                lambda stack: bootstrap_stack(stack, out, env, left_out, results), bootstraps[1:])))
        base = base_choice.result()
        chooser.shutdown()
        # 2. The environments live in separate accounts and state files: side by side, through their deploy roles.
        with ThreadPoolExecutor(max_workers=len(args.stacks) or 1) as pool:
            results += pool.map(lambda stack: rehearse_environment(stack, out, env, left_out.get(stack, []), base),
                                args.stacks)
        # 3. Teardown of the bootstraps, accounts before the state account.
        for stack in reversed(bootstraps):
            result = next(r for r in results if r.stack == stack)
            started = time.monotonic()
            terraform(["destroy", "-input=false", "-auto-approve"], works[stack], env)
            result.destroyed = "ok" if state_count(works[stack], env) == 0 else "left resources"
            result.ok = result.replan_changes.startswith("0") and result.destroyed == "ok"
            result.seconds += time.monotonic() - started
    except RuntimeError as error:
        print(error, file=sys.stderr)
    finally:
        emulator.stop()
    print(report(results))
    return 0 if results and all(r.ok for r in results) and len(results) == len(args.stacks) + len(bootstraps) else 1


def upgrade_base(stacks: list[str]) -> str | None:
    """The commit whose synthesized UPGRADE_STACK the head replaces (E2E_UPGRADE_BASE=<ref> to choose one)."""
    if UPGRADE_STACK not in stacks:
        return None
    from tools import upgrade

    base = os.environ.get("E2E_UPGRADE_BASE") or upgrade.choose_base(UPGRADE_STACK, work=WORK / "upgrade")
    print(f"{UPGRADE_STACK}: upgrade from {base}" if base else f"{UPGRADE_STACK}: no earlier commit synthesizes it "
          "differently; rehearsed from nothing", file=sys.stderr, flush=True)
    return base


def bootstrap_stack(stack: str, out: Path, env: dict[str, str], left_out: dict, results: list[Result]) -> Path:
    """Applied and re-planned by the account's administrator; destroyed after the environments."""
    result = Result(stack, left_out=left_out.get(stack, []))
    results.append(result)
    started = time.monotonic()
    work = rehearse_terraform(stack, out, env, result, destroy=False)
    result.seconds = time.monotonic() - started
    return work


def report(results: list[Result]) -> str:
    lines = ["| stack | path | resources applied | second-plan changes | destroy | lock race / re-create | "
             "API actions checked | denied | data path | seconds | result |",
             "|---|---|---:|---|---|---|---:|---:|---|---:|---|"]
    for r in results:
        checked = (str(r.actions), str(len(r.denied))) if r.actions or r.denied else ("-", "-")
        lines.append(f"| {r.stack} | {r.path} | {r.applied} | {r.replan_changes} | {r.destroyed} | "
                     f"{r.lock or r.recreated or '-'} | {checked[0]} | {checked[1]} | {data_path.summary(r.data_path)} | "
                     f"{r.seconds:.0f} | "
                     f"{'ok' if r.ok else 'FAILED'} |")
    left_out = sorted({address.split(".")[0] for r in results for address in r.left_out})
    if left_out:
        from stacks.emulator import EXCLUDED, SUBSTITUTED

        lines.append("\nLeft out in emulator mode (stacks/emulator.py):")
        lines += [f"- `{rtype}`: {EXCLUDED.get(rtype) or SUBSTITUTED.get(rtype, (None, 'references an excluded resource'))[1]}"
                  for rtype in left_out]
    from stacks.emulator import EMULATOR_DRIFT

    lines.append("\nAccepted emulator drift on the second plan:")
    lines += [f"- `{rtype}` `{path}`: {reason}" for (rtype, path), reason in sorted(EMULATOR_DRIFT.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
