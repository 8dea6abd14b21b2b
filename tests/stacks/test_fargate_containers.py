"""The placeholder containers run here as Fargate would run them (marker `fargate`: `pytest -m fargate`).

For each ECS task definition of the synthesized dev stack, every container whose image is busybox runs its own
`command` (read from the synthesized container definitions, never copied) with Debian's busybox (`make
system-packages` installs it), as Fargate runs it:
- as its configured `user` (`setpriv --reuid U --regid G --clear-groups`, inside the container's root);
- in a root of its own (a scratch directory: busybox, its libraries, /dev/null), bind-mounted read-only when
  `readonlyRootFilesystem` is set, in a mount and network namespace of the task (`unshare`: loopback only,
  shared by the task's containers as awsvpc does);
- with each task volume created as Fargate creates a bind mount the image does not declare as a `VOLUME`:
  root-owned, mode 0755, shared by every container that mounts it, read-only where the mount point says so;
- in `dependsOn` order (START: started; COMPLETE/SUCCESS: exited, with 0 for SUCCESS; HEALTHY: its health check
  passed). A container whose image is not busybox (the X-Ray daemon) cannot run here; it counts as started.
Then each essential container must still run, its health check command must succeed (as its user, inside it),
and each TCP port it maps must answer an HTTP GET on 127.0.0.1.

Needs root (mount namespaces, chroot) and busybox; skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import resources

pytestmark = [pytest.mark.fargate, pytest.mark.slow]  # runs the containers commands
BUSYBOX = shutil.which("busybox")
SETPRIV = shutil.which("setpriv")
NSENTER, CHROOT, UNSHARE, MOUNT = (shutil.which(tool) or tool for tool in ("nsenter", "chroot", "unshare", "mount"))
START_SECONDS = 20  # how long a container may take to become healthy (bounded: startPeriod may say more)
STEP_SECONDS = 30  # any single step
HOLDER_SECONDS = 300  # the namespace holder outlives any test


def requirements() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mount namespaces, chroot, setpriv)"
    for tool, path in (
        ("busybox", BUSYBOX),
        ("setpriv", SETPRIV),
        ("unshare", shutil.which("unshare")),
        ("nsenter", shutil.which("nsenter")),
        ("chroot", shutil.which("chroot")),
    ):
        if not path:
            return f"{tool} missing (busybox: `make system-packages`)"
    return None


def libraries(binary: str) -> list[str]:
    """The shared libraries `binary` loads (ldd), to copy into a scratch root."""
    listed = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    found = []
    for line in listed.splitlines():
        parts = line.split()
        for part in parts:
            if part.startswith("/") and os.path.exists(part):
                found.append(part)
    return found


def scratch_root(root: Path) -> Path:
    """A container root: busybox with every applet in /bin, setpriv, their libraries, /dev/null, /etc."""
    for directory in ("bin", "usr/bin", "dev", "etc", "proc"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    shutil.copy2(SETPRIV, root / "usr" / "bin" / "setpriv")
    for library in {*libraries(BUSYBOX), *libraries(SETPRIV)}:
        target = root / library.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, target)
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    (root / "dev" / "null").touch()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root


class Task:
    """A task's namespaces (mount + network), held open by a sleeping process, and its containers."""

    def __init__(self, work: Path, definition: dict):
        self.work = work
        self.containers = {c["name"]: c for c in json.loads(definition["container_definitions"])}
        self.volumes = {v["name"]: v for v in definition.get("volume") or []}
        self.holder = subprocess.Popen(
            [UNSHARE, "--mount", "--net", "--propagation", "private", "sleep", str(HOLDER_SECONDS)],
            start_new_session=True,
        )
        self.enter = [NSENTER, f"--target={self.holder.pid}", "--mount", "--net"]
        self.running: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        deadline = time.monotonic() + STEP_SECONDS
        while os.readlink(f"/proc/{self.holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare did not enter new namespaces"
            time.sleep(0.05)
        self.inside([BUSYBOX, "ip", "link", "set", "lo", "up"])

    def inside(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        done = subprocess.run(self.enter + argv, capture_output=True, text=True, timeout=STEP_SECONDS, **kwargs)
        assert done.returncode == 0, f"{argv}: {done.stderr}"
        return done

    def runnable(self, name: str) -> bool:
        return "busybox" in self.containers[name].get("image", "")

    def prepare(self, name: str) -> Path:
        """The container's root, its volumes mounted as Fargate mounts them, read-only where configured."""
        container = self.containers[name]
        root = scratch_root(self.work / "roots" / name)
        for mount in container.get("mountPoints") or []:
            volume = self.work / "volumes" / mount["sourceVolume"]
            if not volume.exists():  # created once per task, as Fargate does: root:root 0755
                volume.mkdir(parents=True)
                os.chown(volume, 0, 0)
                os.chmod(volume, 0o755)
            (root / mount["containerPath"].lstrip("/")).mkdir(parents=True, exist_ok=True)
        self.inside([MOUNT, "--bind", str(root), str(root)])
        for mount in container.get("mountPoints") or []:
            target = root / mount["containerPath"].lstrip("/")
            self.inside([MOUNT, "--bind", str(self.work / "volumes" / mount["sourceVolume"]), str(target)])
            if mount.get("readOnly"):
                self.inside([MOUNT, "-o", "remount,bind,ro", str(target)])
        self.inside([MOUNT, "--bind", "/dev/null", str(root / "dev" / "null")])
        if container.get("readonlyRootFilesystem"):
            self.inside([MOUNT, "-o", "remount,bind,ro", str(root)])
        return root

    def as_user(self, name: str, argv: list[str]) -> list[str]:
        """`argv` in the container: its root, its user, its environment."""
        user = str(self.containers[name].get("user") or "0")
        uid, _, gid = user.partition(":")
        return self.enter + [
            CHROOT,
            str(self.work / "roots" / name),
            "/usr/bin/setpriv",
            "--reuid",
            uid,
            "--regid",
            gid or uid,
            "--clear-groups",
            "--",
            *argv,
        ]

    def environment(self, name: str) -> dict[str, str]:
        container = self.containers[name]
        env = {"PATH": "/bin:/usr/bin", "HOME": "/"}
        env.update({e["name"]: e["value"] for e in container.get("environment") or []})
        env.update({s["name"]: "placeholder-secret" for s in container.get("secrets") or []})
        return env

    def start(self, name: str) -> None:
        container = self.containers[name]
        for dependency in container.get("dependsOn") or []:
            self.satisfy(dependency["containerName"], dependency["condition"])
        if name in self.running or not self.runnable(name):
            return
        self.prepare(name)
        command = (container.get("entryPoint") or []) + (container.get("command") or [])
        assert command, f"{name}: no command to run (busybox has no default)"
        self.logs[name] = self.work / f"{name}.log"
        self.running[name] = subprocess.Popen(
            self.as_user(name, command),
            env=self.environment(name),
            stdout=self.logs[name].open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def satisfy(self, name: str, condition: str) -> None:
        self.start(name)
        if name not in self.running:
            return  # not runnable here (not busybox): counts as started
        process = self.running[name]
        if condition in ("COMPLETE", "SUCCESS"):
            code = process.wait(timeout=STEP_SECONDS)
            assert condition == "COMPLETE" or code == 0, f"{name} exited {code}: {self.output(name)}"
        elif condition == "HEALTHY":
            assert self.healthy(name), f"{name} never became healthy: {self.output(name)}"

    def healthy(self, name: str) -> bool:
        check = self.containers[name].get("healthCheck")
        if not check:
            return True
        kind, *rest = check["command"]
        argv = ["/bin/sh", "-c", rest[0]] if kind == "CMD-SHELL" else rest
        deadline = time.monotonic() + min(START_SECONDS, check.get("startPeriod", START_SECONDS) or START_SECONDS)
        while True:
            done = subprocess.run(
                self.as_user(name, argv),
                env=self.environment(name),
                capture_output=True,
                timeout=check.get("timeout", 5) + 5,
            )
            if done.returncode == 0:
                return True
            if time.monotonic() > deadline or self.running[name].poll() is not None:
                return False
            time.sleep(0.5)

    def answers(self, port: int) -> str:
        """The status line an HTTP GET of 127.0.0.1:<port>/ gets inside the task's network (or the error)."""
        probe = (
            "import sys, urllib.request, urllib.error\n"
            "try:\n"
            f"    print(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=5).status)\n"
            "except urllib.error.HTTPError as e:\n    print(e.code)\n"
            "except Exception as e:\n    print('no answer:', e); sys.exit(1)\n"
        )
        done = subprocess.run(
            [NSENTER, f"--target={self.holder.pid}", "--net", sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=STEP_SECONDS,
        )
        return done.stdout.strip() if done.returncode == 0 else f"no answer: {done.stdout.strip()}"

    def output(self, name: str) -> str:
        log = self.logs.get(name)
        return log.read_text()[-800:] if log and log.exists() else ""

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STEP_SECONDS)
        os.killpg(self.holder.pid, signal.SIGKILL)
        self.holder.wait(timeout=STEP_SECONDS)


def run_task(work: Path, definition: dict) -> list[str]:
    """Runs one task as Fargate would; what went wrong (empty: every essential container healthy, answering)."""
    task = Task(work, definition)
    problems = []
    try:
        essential = [name for name, c in task.containers.items() if c.get("essential", True) and task.runnable(name)]
        if not essential:
            return ["no busybox container to run"]
        for name in task.containers:
            task.start(name)
        for name in essential:
            container = task.containers[name]
            if not task.healthy(name):
                problems.append(f"{name} (user {container.get('user')}) is not healthy; it said: {task.output(name)!r}")
                continue
            if task.running[name].poll() is not None:
                problems.append(f"{name} exited {task.running[name].returncode}: {task.output(name)!r}")
            for mapping in container.get("portMappings") or []:
                if mapping.get("protocol", "tcp") == "tcp":
                    answer = task.answers(mapping["containerPort"])
                    if not answer.isdigit():
                        problems.append(f"{name}: port {mapping['containerPort']}: {answer}")
    except AssertionError as error:
        problems.append(str(error))
    finally:
        task.stop()
    return problems


def test_each_placeholder_container_runs_as_fargate_runs_it(stacks, tmp_path):
    missing = requirements()
    if missing:
        pytest.skip(missing)
    definitions = resources(stacks["dev"], "aws_ecs_task_definition")
    assert definitions
    problems = {name: run_task(tmp_path / name, body) for name, body in sorted(definitions.items())}
    assert {name: found for name, found in problems.items() if found} == {}


def with_init_owner(definition: dict, command: list[str] | None = None) -> dict:
    """`definition` with a root init container that chowns the `tmp` volume to 10001 before the first container
    starts (what the platform fix adds), and optionally that container's command replaced."""
    containers = json.loads(definition["container_definitions"])
    containers.append(
        {
            "name": "volume-owner",
            "image": "public.ecr.aws/docker/library/busybox:1.36",
            "essential": False,
            "user": "0",
            "readonlyRootFilesystem": True,
            "command": ["sh", "-c", "chown 10001:10001 /tmp"],
            "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
        }
    )
    containers[0]["dependsOn"] = [
        *containers[0].get("dependsOn", []),
        {"containerName": "volume-owner", "condition": "SUCCESS"},
    ]
    if command:
        containers[0]["command"] = command
    return dict(definition, container_definitions=json.dumps(containers))


def test_the_emulation_passes_a_chowned_volume_and_refuses_writes_to_the_read_only_root(stacks, tmp_path):
    """The harness itself: the api task with an init container that chowns its volume runs healthy and answers;
    the same container writing to its read-only root instead fails."""
    missing = requirements()
    if missing:
        pytest.skip(missing)
    [api] = [body for name, body in resources(stacks["dev"], "aws_ecs_task_definition").items() if "api" in name]
    assert run_task(tmp_path / "chowned", with_init_owner(api)) == []
    writes_root = ["sh", "-c", "mkdir -p /www && exec httpd -f -p 8080 -h /www"]
    [problem] = run_task(tmp_path / "root", with_init_owner(api, writes_root))
    assert "can't create directory '/www': Read-only file system" in problem
