"""jsii's kernel without its relay process: Python talks to the kernel's own node process directly.

jsii (Python) starts `node bin/jsii-runtime.js`, and that script only starts a second node process,
`lib/program.js` (the kernel), and relays every request and response between its stdin/stdout and the kernel's fd 3
(and wraps the kernel's stdout/stderr as JSON lines on its own stderr). A synth of every stack makes ~2,600
requests, each through that relay both ways. `install()` replaces `_NodeProcess.start` and `stop` (jsii 1.142,
pinned) so that Python starts `lib/program.js` itself, with fd 3 one end of a socket pair whose other end Python
reads and writes: the same kernel, the same node arguments (`--max-old-space-size=4069` as jsii passes it,
`--preserve-symlinks` as the relay does) and jsii's own `send`, `handshake` and serialization, request by request
and each answer waited for, as jsii does: one process fewer and no relay. The kernel's stdout and stderr are this
process's (the relay decoded them to the same place). docs/benchmarks.md has the measurements.

What is replaced is jsii's private process class, not its protocol: the requests and answers are jsii's own,
in jsii's order. If jsii is not the version this was written for, its embedded runtime has no `lib/program.js`, or
JSII_RUNTIME names another runtime, nothing is replaced (jsii's own relay runs) and `install()` returns False.
"""

from __future__ import annotations

import atexit
import os
import platform
import signal
import socket
import time

JSII_VERSION = "1.142.0"


class _Kernel:
    """What jsii's `_NodeProcess` uses of a `subprocess.Popen`: stdin, stdout (here both the socket), wait()."""

    def __init__(self, pid: int, channel: socket.socket):
        self.pid, self._channel = pid, channel
        self.stdin, self.stderr = channel.makefile("wb"), None
        self.stdout = channel.makefile("rb")  # jsii reads its answers with stdout.readline()
        self.returncode: int | None = None

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGTERM)
                os.waitpid(self.pid, 0)
                self.returncode = -signal.SIGTERM
            else:
                time.sleep(0.002)
        return self.returncode

    def close(self) -> None:
        self.stdout.close()
        self._channel.close()


def _program(runtime: str) -> str:
    """lib/program.js beside jsii's bin/jsii-runtime.js (both extracted by `_NodeProcess._jsii_runtime`)."""
    return os.path.join(os.path.dirname(os.path.dirname(runtime)), "lib", "program.js")


def _start(self) -> None:
    environ = dict(os.environ, JSII_AGENT=f"Python/{platform.python_version()}")
    program = _program(self._jsii_runtime())
    ours, theirs = socket.socketpair()
    if theirs.fileno() == 3:  # posix_spawn's dup2 of fd 3 onto itself would leave it close-on-exec
        theirs.set_inheritable(True)
    node = environ.get("JSII_NODE", "node")
    try:
        pid = os.posix_spawnp(
            node,
            [node, "--max-old-space-size=4069", "--preserve-symlinks", program],
            environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, theirs.fileno(), 3),
            ],
        )
    finally:
        theirs.close()
    self._process = _Kernel(pid, ours)
    atexit.register(self.stop)
    self.handshake()


def _stop(self) -> None:
    atexit.unregister(self.stop)
    kernel = getattr(self, "_process", None)
    if kernel is None or kernel.returncode is not None:
        return
    if not kernel.stdin.closed:
        kernel.stdin.write(b'{"exit":0}\n')
        kernel.stdin.close()
    kernel.wait(timeout=5)
    kernel.close()
    self._ctx_stack.close()


def install() -> bool:
    """Replaces jsii's relay by the direct kernel, before the kernel starts; False if this jsii is not the one
    this was written for (then jsii runs as it ships)."""
    import jsii
    from jsii._embedded import jsii as embedded
    from jsii._kernel.providers import process

    if (
        "JSII_RUNTIME" in os.environ
        or jsii.__version__ != JSII_VERSION
        or "lib/program.js" not in embedded.EMBEDDED_FILES.values()
        or not all(
            hasattr(process._NodeProcess, name) for name in ("_jsii_runtime", "handshake", "start", "stop", "send")
        )
    ):
        return False
    process._NodeProcess.start = _start
    process._NodeProcess.stop = _stop
    return True
