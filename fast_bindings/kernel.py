"""jsii's kernel without its relay process: Python talks to the kernel's own node process directly.

jsii (Python) starts `node bin/jsii-runtime.js`, and that script only starts a second node process,
`lib/program.js` (the kernel), and relays every request and response between its stdin/stdout and the
kernel's fd 3 (and wraps the kernel's stdout/stderr as JSON lines on its own stderr). A synth of every stack
makes ~2,600 requests, each through that relay both ways. `install()` replaces `_NodeProcess.start`, `stop`
and `send` (jsii 1.142, pinned) so that Python starts `lib/program.js` itself, with fd 3 one end of a socket pair
whose other end Python reads and writes: the same kernel, the same protocol and the same node arguments
(`--max-old-space-size=4069` as jsii passes it, `--preserve-symlinks` as the relay does), one process fewer
and no relay. The kernel's stdout and stderr are this process's (the relay decoded them to the same place).
Measured here (2 cores, median of nine interleaved runs): 0.23 s less wall and CPU per synth of every stack,
byte-identical output.

The assemblies' `load` requests (constructs, cdktf, the AWS provider: sent while their Python packages are
imported) are written without waiting for their answers, which nobody reads (jsii's `Kernel.load` returns
None): node loads the assemblies while Python goes on importing the app, on the other core. The hello and
those answers are read, and a failed load raised, before the first request whose answer is used. Measured
here: a synth of every stack 1.92 s instead of 2.11 s (median of nine interleaved runs); `python main.py` on a
bad input exits in 0.5 s, before node has finished loading.

A provider resource's attribute read (`bucket.arn`, `vpc.id`, `role.name`: a getter of a class of the AWS
provider's assembly) answers a token standing for the reference `${aws_s3_bucket.<id>.arn}`; cdktf makes a new
token at every read, all resolving to that reference. Of the 1,437 reads of a synth of every stack, 832 repeat
one already made. The first token answered for an object's attribute is kept, and a repeat is answered with
it without asking node: only answers that are tokens (a string `${TfToken[...]}`), never an `...Input` getter
(the value configured, not a reference), and an object's kept answers are dropped at any set or call on it
(a reset, an override, a new logical id). Measured here: ~0.35 s less CPU per synth of every stack; the output
is byte-identical (tests/test_fast_bindings.py compares every stack with jsii as it ships, which asks node
every time).

If jsii is not the version this was written for, its embedded runtime has no `lib/program.js`, or
JSII_RUNTIME names another runtime, nothing is replaced (jsii's own relay runs) and `install()` returns False.
"""
from __future__ import annotations

import atexit
import json
import os
import platform
import signal
import socket
import time

JSII_VERSION = "1.142.0"
_jsii_send = None  # jsii's own _NodeProcess.send, for every request but a load
_jsii = None  # jsii._kernel.providers.process, set by install()


class _Kernel:
    """What jsii's `_NodeProcess` uses of a `subprocess.Popen`: stdin, stdout (here the socket), wait(); and the
    answers not read yet (the hello, the loads')."""

    def __init__(self, pid: int, channel: socket.socket):
        self.pid, self._channel = pid, channel
        self.stdin, self.stdout, self.stderr = channel.makefile("wb"), channel.makefile("rb"), None
        self.returncode: int | None = None
        self.greeted, self.unanswered_loads = False, 0
        self.attribute_tokens: dict[str, dict[str, object]] = {}  # objref -> property -> the first answer

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
        pid = os.posix_spawnp(node, [node, "--max-old-space-size=4069", "--preserve-symlinks", program], environ,
                              file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                                            (os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
    finally:
        theirs.close()
    self._process = _Kernel(pid, ours)
    atexit.register(self.stop)


def _send(self, request, response_type):
    """A load is written and not waited for; a provider attribute read already answered with a token is answered
    with that token; any other request first reads what is owed (`_settle`)."""
    kernel = self._process
    if isinstance(request, _jsii.LoadRequest):
        kernel.stdin.write(json.dumps(self._serializer.unstructure(request), default=_jsii.jdefault)
                           .encode("utf8") + b"\n")
        kernel.stdin.flush()
        kernel.unanswered_loads += 1
        return None
    if isinstance(request, _jsii.GetRequest):
        known = kernel.attribute_tokens.get(request.objref.ref, {}).get(request.property)
        if known is not None:
            return known
    elif isinstance(request, (_jsii.SetRequest, _jsii.InvokeRequest)):
        kernel.attribute_tokens.pop(request.objref.ref, None)
    _settle(self)
    response = _jsii_send(self, request, response_type)
    if isinstance(request, _jsii.GetRequest) and _is_attribute_token(request, response):
        kernel.attribute_tokens.setdefault(request.objref.ref, {})[request.property] = response
    return response


PROVIDER_OBJECTS = "@cdktf/provider-aws."  # the start of the objref of an object of the provider's classes
TOKEN = "${TfToken["  # how cdktf writes a string token


def _is_attribute_token(request, response) -> bool:
    value = getattr(response, "value", None)
    return (request.objref.ref.startswith(PROVIDER_OBJECTS) and not request.property.endswith("Input")
            and isinstance(value, str) and value.startswith(TOKEN))


def _settle(self) -> None:
    kernel = self._process
    if not kernel.greeted:
        kernel.greeted = True
        self.handshake()
    while kernel.unanswered_loads:
        kernel.unanswered_loads -= 1
        answer = self._serializer.structure(self._next_message(), _jsii._ProcessResponse)
        if isinstance(answer, _jsii._ErrorResponse):
            raise RuntimeError(f"jsii could not load an assembly: {answer.error}") \
                from _jsii.JavaScriptError(answer.stack)


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

    if "JSII_RUNTIME" in os.environ or jsii.__version__ != JSII_VERSION \
            or "lib/program.js" not in embedded.EMBEDDED_FILES.values() \
            or not all(hasattr(process._NodeProcess, name) for name in ("_jsii_runtime", "handshake", "start", "send")) \
            or not all(hasattr(process, name) for name in ("LoadRequest", "GetRequest", "SetRequest", "InvokeRequest",
                                                           "_ProcessResponse", "_ErrorResponse", "jdefault",
                                                           "JavaScriptError")):
        return False
    global _jsii, _jsii_send
    _jsii = process
    if process._NodeProcess.start is not _start:
        _jsii_send = process._NodeProcess.send
    process._NodeProcess.start = _start
    process._NodeProcess.stop = _stop
    process._NodeProcess.send = _send
    return True
