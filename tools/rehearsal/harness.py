"""What the rehearsals share (tools/rehearsal/e2e.py, tools/rehearsal/upgrade.py): the emulator process, the
process environment that reaches it, terraform runs logged per working copy, the second plan's judgement, and
a CI job's deploy-role session. Every function is given the folder it writes to; nothing here is a setting
another module rewrites."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tools.common.errors import CommandFailed
from tools.common.terraform import ROOT, terraform_env
from tools.rehearsal.emulator import EMULATOR_DRIFT, ENDPOINT_VARIABLE, emulate
from tools.rehearsal.verdicts import SecondPlan, Teardown

CDKTF = ROOT / "node_modules" / ".bin" / "cdktf"
RECORD_CALLS = "E2E_RECORD_CALLS"  # set in an environment's process env: its calls are checked


class Emulator:
    """moto server in its own process group on a free loopback port."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.rehearsal.emulator_server",
                "--port",
                str(self.port),
                "--cert-dir",
                str(log.parent / "tls"),
            ],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Managed policies exist (attachments need them); certificates are issued at once instead of
            # after moto's default minute of "pending validation", which only made every stack wait.
            env=dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true", MOTO_ACM_VALIDATION_WAIT="0"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1, context=ssl._create_unverified_context())
                return
            except OSError as error:
                if self.process.poll() is not None:
                    raise SystemExit(f"moto exited: see {log}") from error
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
    env = terraform_env(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_EC2_METADATA_DISABLED="true",
        **{ENDPOINT_VARIABLE: emulator.url},
        CHECKPOINT_DISABLE="1",
        # the venv's bin first: its python for cdktf's `python main.py`, its node (Node 24,
        # linked by `make install`) for cdktf-cli and jsii
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "TF_CLI_ARGS_init"):
        env.pop(variable, None)
    return env


def run(
    command: list[str], cwd: Path, env: dict[str, str], log: Path, ok=(0,), timeout: int = 1800
) -> subprocess.CompletedProcess:
    """Runs with its output streamed into `log` (follow it with tail -f); returns it as stdout."""
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}    [{time.strftime('%H:%M:%S')}]\n")
        start = out.tell()
        out.flush()
        try:
            result = subprocess.run(
                command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout
            )
            code = result.returncode
        except subprocess.TimeoutExpired:
            code = -1
    with log.open() as written:
        written.seek(start)
        output = written.read()
    with log.open("a") as out:
        out.write(f"(exit {code} after {time.monotonic() - started:.0f} s)\n")
    if code not in ok:
        raise CommandFailed(
            f"{' '.join(command[:2])} failed in {cwd.name} (exit {code}); see {log}:\n" + output[-2500:],
            command=command,
            code=code,
            log=log,
        )
    return subprocess.CompletedProcess(command, code, output, output)


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
        return {
            path: values
            for key in set(before) | set(after)
            for path, values in changed_paths(before.get(key), after.get(key), f"{prefix}{key}.").items()
        }
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return {
            path: values
            for b, a in zip(before, after, strict=False)
            for path, values in changed_paths(b, a, prefix).items()
        }
    return {} if before == after else {prefix.rstrip("."): (before, after)}


def second_plan(work: Path, env: dict[str, str], stack: str, reports: Path) -> SecondPlan:
    """The plan after an apply, judged: clean when empty or when it differs only by the listed emulator drifts.
    Every difference, with the values before and after, goes to <reports>/<stack>-drift.txt."""
    replan = terraform(["plan", "-input=false", "-detailed-exitcode", "-out=replan.tfplan"], work, env, ok=(0, 2))
    if replan.returncode == 0:
        return SecondPlan()
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
        details += [
            f"    {path}: {json.dumps(before)[:300]} -> {json.dumps(after)[:300]}"
            for path, (before, after) in sorted(values.items())
        ]
        details += [f"    forces replacement: {path}" for path in change["change"].get("replace_paths") or []]
    (reports / f"{stack}-drift.txt").write_text("\n".join(details) + "\n")
    return SecondPlan(unexplained=tuple(unexplained), explained=explained)


def state_count(work: Path, env: dict[str, str]) -> int:
    listed = terraform(["state", "list"], work, env).stdout.split()
    return len([line for line in listed if not line.startswith("data.")])


def working_copy(out: Path, stack: str, root: Path) -> Path:
    """The stack's JSON and its override files (an emulated synth's, tools/rehearsal/emulator.py) copied to
    <root>/work/<stack>, where terraform runs on them."""
    work = root / "work" / stack
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for override in sorted((out / "stacks" / stack).glob("*_override.tf.json")):
        shutil.copy2(override, work / override.name)
    config = json.loads((out / "stacks" / stack / "cdk.tf.json").read_text())
    if "local" in config["terraform"].get("backend", {}):
        config["terraform"]["backend"]["local"]["path"] = "terraform.tfstate"  # inside the rehearsal folder
    (work / "cdk.tf.json").write_text(json.dumps(config, indent=2))
    return work


def emulated_synth(out: Path, env: dict[str, str], log: Path, stacks: list[str] | None = None) -> dict[str, list[str]]:
    """The head's stacks synthesized as always (plain), then emulated into `out` (tools/rehearsal/emulator.py):
    returns the addresses left out per stack."""
    plain = out.with_name(out.name + ".plain")
    run([sys.executable, "main.py", "--outdir", str(plain), *(stacks or [])], ROOT, env, log)
    shutil.rmtree(out, ignore_errors=True)
    return emulate(plain, out, env[ENDPOINT_VARIABLE])


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
    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "sts.amazonaws.com",
        "sub": f"repo:{config['identity']['ci_repository']}:environment:{stack}",
    }
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
    token = f"{encode({'alg': 'RS256', 'kid': 'emulator'})}.{encode(claims)}.emulator"
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the emulator's self-signed certificate
    sts = boto3.client(
        "sts",
        endpoint_url=env[ENDPOINT_VARIABLE],
        region_name=config["region"],
        aws_access_key_id="anonymous",
        aws_secret_access_key="anonymous",
        verify=False,
    )
    hours = config["identity"].get("deploy_session_hours", 3)
    credentials = sts.assume_role_with_web_identity(
        RoleArn=Naming(stack, config["account_id"], config["region"]).deploy_role_arn,
        RoleSessionName=f"ci-{stack}",
        WebIdentityToken=token,
        DurationSeconds=hours * 3600,
    )["Credentials"]
    return dict(
        env,
        AWS_ACCESS_KEY_ID=credentials["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
        AWS_SESSION_TOKEN=credentials["SessionToken"],
        **{RECORD_CALLS: "1"},
    )


def deploy(stack: str, out: Path, env: dict[str, str], root: Path) -> tuple[Path, int]:
    """The stack copied under `root`, initialised and applied; its working copy and how many resources it holds."""
    work = working_copy(out, stack, root)
    terraform(["init", "-input=false"], work, env)
    terraform(["apply", "-input=false", "-auto-approve"], work, env)
    return work, state_count(work, env)


def destroy(work: Path, env: dict[str, str]) -> Teardown:
    terraform(["destroy", "-input=false", "-auto-approve"], work, env)
    return Teardown.OK if state_count(work, env) == 0 else Teardown.LEFT_RESOURCES
