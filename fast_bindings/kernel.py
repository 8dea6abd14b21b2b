"""jsii's kernel without its relay process: Python talks to the kernel's own node process directly.

jsii (Python) starts `node bin/jsii-runtime.js`, and that script only starts a second node process,
`lib/program.js` (the kernel), and relays every request and response between its stdin/stdout and the kernel's fd 3
(and wraps the kernel's stdout/stderr as JSON lines on its own stderr). A synth of every stack makes ~2,600
requests, each through that relay both ways. `install()` replaces `_NodeProcess.start`, `stop` and `send` (jsii
1.142, pinned) so that Python starts `lib/program.js` itself, with fd 3 one end of a socket pair whose other end
Python reads and writes: the same kernel, the same protocol and the same node arguments
(`--max-old-space-size=4069` as jsii passes it, `--preserve-symlinks` as the relay does), one process fewer and no
relay. The kernel's stdout and stderr are this process's (the relay decoded them to the same place). Measured here
(2 cores, median of nine interleaved runs): 0.23 s less wall and CPU per synth of every stack, byte-identical
output.

The assemblies' `load` requests (constructs, cdktf, the AWS provider: sent while their Python packages are
imported) are written without waiting for their answers, which nobody reads (jsii's `Kernel.load` returns None):
node loads the assemblies while Python goes on importing the app, on the other core. The hello and those answers
are read, and a failed load raised, before the first request whose answer is used. Measured here: a synth of every
stack 1.92 s instead of 2.11 s (median of nine interleaved runs); `python main.py` on a bad input exits in 0.5 s,
before node has finished loading.

Creates, sets and `addOverride` calls are written without waiting too (903 of the 1,009 creates, all 61 sets and
108 calls of a synth of every stack), so node builds each construct while Python prepares the next. A create's
answer is the reference the kernel will give the object: the kernel numbers the objects it registers 10000, 10001,
... and every answer names the objects it registered (`_Kernel.readline` keeps the next number), and the interfaces
answered are those of the first object of that class and interfaces, which is waited for. Only while node cannot
need an answer from Python to build an object, i.e. while no object implemented in Python exists (a create with
overrides turns this off for good). The answers are read in order before the next request that waits; each create's
reference is compared with the one given (a difference raises), and an error in node (a construct name already
taken, say) is raised there, after every owed answer is read, naming the request and the app's lines that made it;
jsii as it ships raises it at that line itself. At most MAX_OWED answers are left unread (node writes them with a
blocking write and reads nothing meanwhile: thousands unread would stop both sides). A failed create shifts the
numbers of the creates written after it: their Python objects would point at other objects, so every later request
raises instead. An error in requests written last, which nothing waited for, is printed when the kernel stops.
Measured here: 0.2-0.27 s less per synth of every stack (median of 12-14 interleaved runs), byte-identical output.

A provider resource's attribute read (`bucket.arn`, `vpc.id`, `role.name`: a getter of a class of the AWS
provider's assembly) answers a token standing for the reference `${aws_s3_bucket.<id>.arn}`; cdktf makes a new
token at every read, all resolving to that reference. Of the 1,437 reads of a synth of every stack, 832 repeat one
already made. The first token answered for an object's attribute is kept, and a repeat is answered with it without
asking node: only answers that are tokens (a string `${TfToken[...]}`), never an `...Input` getter (the value
configured, not a reference), and an object's kept answers are dropped at any set or call on it (a reset, an
override, a new logical id), and all of them at a set of `forEach` (the references of an object's parts, its output
references, depend on its parent's). So a repeated read gives the same string where jsii as it ships gives a new
one: code that compared or deduplicated token strings would see the difference (the identity test compares every
stack with jsii as it ships). Measured here: 0.17 s less wall and 0.19 s less CPU per synth of every stack (median
of ten interleaved runs); the output is byte-identical (tests/test_fast_bindings.py compares every stack with jsii
as it ships, which asks node every time).

If jsii is not the version this was written for, its embedded runtime has no `lib/program.js`, or JSII_RUNTIME
names another runtime, nothing is replaced (jsii's own relay runs) and `install()` returns False.
"""
from __future__ import annotations

import atexit
import collections
import json
import os
import platform
import re
import signal
import socket
import sys
import time
import traceback

JSII_VERSION = "1.142.0"
_jsii_send = None  # jsii's own _NodeProcess.send, for every request but a load
_jsii = None  # jsii._kernel.providers.process, set by install()


BYREF = re.compile(rb'"\$jsii\.byref":"[^"]*@(\d+)"')  # an object reference in the kernel's answers


class _Kernel:
    """What jsii's `_NodeProcess` uses of a `subprocess.Popen`: stdin, stdout (here the socket), wait(); and the
    requests written whose answers are not read yet (after the hello)."""

    def __init__(self, pid: int, channel: socket.socket):
        self.pid, self._channel = pid, channel
        self.stdin, self.stderr = channel.makefile("wb"), None
        self._lines = channel.makefile("rb")
        self.stdout = self  # jsii reads its answers with stdout.readline()
        self.returncode: int | None = None
        self.greeted = False
        self.owed: collections.deque = collections.deque()  # (request, the answer given for it, where it was made)
        self.next_id: int | None = None  # the number the kernel gives the next object it registers, once known
        self.pipelining = True  # off for good once an object exists that node could call back
        self.interfaces: dict[tuple, list | None] = {}  # (fqn, interfaces asked) -> interfaces in the answer
        self.attribute_tokens: dict[str, dict[str, object]] = {}  # objref -> property -> the first answer
        self.broken = ""  # why no request can be made any more (objects were given references node did not give)

    def readline(self) -> bytes:
        """An answer; the highest object number in it tells the number of the next object (the kernel numbers
        the objects it registers 10000, 10001, ...; an answer names every object it registered)."""
        line = self._lines.readline()
        if b'"$jsii.byref"' in line:
            top = max(int(number) for number in BYREF.findall(line)) + 1
            if self.next_id is None or top > self.next_id:
                self.next_id = top
        return line

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
        self._lines.close()
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
    """A load, and a create, set or `addOverride` call that node cannot answer with a callback, are written and
    not waited for (`_answer_now`; their answers are read, checked and any error raised before the next request
    that waits: `_settle`); a provider attribute read already answered with a token is answered with that token;
    any other request waits."""
    kernel = self._process
    if kernel.broken:
        raise RuntimeError(kernel.broken)
    if isinstance(request, _jsii.GetRequest):
        known = kernel.attribute_tokens.get(request.objref.ref, {}).get(request.property)
        if known is not None:
            return known
    elif isinstance(request, _jsii.SetRequest) and request.property == "forEach":
        kernel.attribute_tokens.clear()  # the references of the object's parts (output references) change too
    elif isinstance(request, (_jsii.SetRequest, _jsii.InvokeRequest)):
        kernel.attribute_tokens.pop(request.objref.ref, None)
    answer = _answer_now(kernel, request)
    if answer is not _WAIT:
        if len(kernel.owed) >= MAX_OWED:
            _settle(self)
        _write(self, request)
        kernel.owed.append((request, answer, _made_at()))
        return answer
    _settle(self)
    if isinstance(request, _jsii.CreateRequest) and request.overrides:
        kernel.pipelining = False  # an object implemented in Python: node may call it back from now on
    response = _jsii_send(self, request, response_type)
    if isinstance(request, _jsii.GetRequest) and _is_attribute_token(request, response):
        kernel.attribute_tokens.setdefault(request.objref.ref, {})[request.property] = response
    elif isinstance(request, _jsii.CreateRequest) and isinstance(response, _jsii.CreateResponse):
        kernel.interfaces[request.fqn, tuple(request.interfaces or ())] = response.interfaces
    return response


_WAIT = object()
# At most this many answers owed: the kernel writes its answers with a blocking write and reads no request
# meanwhile, so answers left unread beyond what the socket holds (~270 small ones) would stop both sides for good.
MAX_OWED = 64


def _answer_now(kernel: _Kernel, request):
    """The answer of a request that need not be waited for, or _WAIT. A load's answer is None (jsii never reads
    it); a create's is the reference the kernel will give the object (`<fqn>@<next number>`, with the interfaces
    the kernel answered for the first object of that class and interfaces, which was waited for; checked when
    its answer is read); a set's is empty. Only while no object exists that node could call back (none created
    with overrides: a Python implementation of a member) and once the next number is known, so node never needs
    an answer from Python before it answers these."""
    if isinstance(request, _jsii.LoadRequest):
        return None
    if not (kernel.pipelining and kernel.greeted and kernel.next_id is not None):
        return _WAIT
    if isinstance(request, _jsii.CreateRequest) and not request.overrides:
        shape = (request.fqn, tuple(request.interfaces or ()))
        if shape not in kernel.interfaces:
            return _WAIT
        kernel.next_id += 1
        return _jsii.CreateResponse(ref=f"{request.fqn}@{kernel.next_id - 1}", interfaces=kernel.interfaces[shape])
    if isinstance(request, _jsii.SetRequest):
        return _jsii.SetResponse()
    if isinstance(request, _jsii.InvokeRequest) and request.method in VOID_METHODS:
        return _jsii.InvokeResponse()
    return _WAIT


# Methods that answer nothing, written without waiting like a set: cdktf's TerraformElement.addOverride, which
# every resource, provider and backend has (checkov's skips and the backends' settings use it).
VOID_METHODS = frozenset({"addOverride"})


def _write(self, request) -> None:
    """The request as jsii's own send writes it."""
    data = self._serializer.unstructure(request)
    if _jsii._stack_traces_enabled():
        stack_trace = _jsii.capture_stack_trace()
        if stack_trace:
            data["$jsii.stacktrace"] = stack_trace
    self._process.stdin.write(json.dumps(data, default=_jsii.jdefault).encode("utf8") + b"\n")
    self._process.stdin.flush()


PROVIDER_OBJECTS = "@cdktf/provider-aws."  # the start of the objref of an object of the provider's classes
TOKEN = "${TfToken["  # how cdktf writes a string token


def _is_attribute_token(request, response) -> bool:
    value = getattr(response, "value", None)
    return (request.objref.ref.startswith(PROVIDER_OBJECTS) and not request.property.endswith("Input")
            and isinstance(value, str) and value.startswith(TOKEN))


def _settle(self) -> None:
    """Reads the hello and every answer owed, in order; each create's answer must be the reference it was given.
    The first error is raised once every owed answer is read (so the next request reads its own answer), naming
    the request and where the app made it, and ends the writing ahead for good. A reference given that node did
    not give (a failed create shifts the numbers of the creates after it) leaves Python objects pointing at the
    wrong objects: then every later request raises (`broken`)."""
    kernel = self._process
    if not kernel.greeted:
        kernel.greeted = True
        self.handshake()
    failure = None
    while kernel.owed:
        request, given, where = kernel.owed.popleft()
        answer = self._serializer.structure(self._next_message(), _jsii._ProcessResponse)
        if isinstance(answer, _jsii._ErrorResponse):
            failure = failure or _failure(request, answer, where)
        elif isinstance(answer, _jsii._CallbackResponse):  # node waits for Python now: nothing more to read
            kernel.broken = f"jsii kernel: node called back during {_describe(request)}, which was not waited for"
            kernel.owed.clear()
        elif isinstance(request, (_jsii.CreateRequest, _jsii.InvokeRequest)):
            made = self._serializer.structure(answer.ok, type(given))
            if made != given:
                kernel.broken = kernel.broken or (f"jsii kernel: {_describe(request)} was answered {made}, not "
                                                  f"{given}; objects made since have wrong references")
    if failure is not None or kernel.broken:
        kernel.pipelining = False
        raise failure or RuntimeError(kernel.broken)


def _describe(request) -> str:
    if isinstance(request, _jsii.CreateRequest):
        return f"the creation of a {request.fqn}"
    if isinstance(request, _jsii.SetRequest):
        return f"the setting of {request.property} on {request.objref.ref}"
    if isinstance(request, _jsii.InvokeRequest):
        return f"the call of {request.method} on {request.objref.ref}"
    return f"the load of {request.name}@{request.version}"


LIBRARIES = os.sep + "site-packages" + os.sep


def _made_at(keep: int = 4) -> list[traceback.FrameSummary]:
    """Where the app made the request being written (its innermost frames outside the installed libraries and
    this module, outermost first): file and line now, as the frames go on running."""
    frame, found = sys._getframe(2), []
    while frame is not None and len(found) < keep:
        if LIBRARIES not in frame.f_code.co_filename and frame.f_code.co_filename != __file__:
            found.append(traceback.FrameSummary(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return found[::-1]


def _failure(request, answer, where) -> Exception:
    if isinstance(request, _jsii.LoadRequest):
        return RuntimeError(f"jsii could not load an assembly: {answer.error}")
    message = f"{answer.error}\n(in {_describe(request)}, made at:\n{''.join(traceback.format_list(where))})"
    error = _jsii.JSIIError(message) if answer.name == _jsii.ErrorType.JSII_FAULT.value else RuntimeError(message)
    error.__cause__ = _jsii.JavaScriptError(answer.stack)
    return error


def _stop(self) -> None:
    atexit.unregister(self.stop)
    kernel = getattr(self, "_process", None)
    if kernel is None or kernel.returncode is not None:
        return
    if kernel.owed and not kernel.broken:
        try:
            _settle(self)  # an error in the last requests written ahead, which nothing waited for, is reported
        except Exception as error:  # noqa: BLE001 - at exit: reported, the exit goes on
            print(f"jsii kernel: a request written ahead failed:\n{error}", file=sys.stderr)
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
            or not all(hasattr(process._NodeProcess, name)
                       for name in ("_jsii_runtime", "handshake", "start", "send")) \
            or not all(hasattr(process, name) for name in (
                "LoadRequest", "GetRequest", "SetRequest", "SetResponse", "InvokeRequest", "InvokeResponse",
                "CreateRequest", "CreateResponse", "_ProcessResponse", "_ErrorResponse", "_CallbackResponse",
                "ErrorType", "JSIIError", "jdefault", "JavaScriptError", "_stack_traces_enabled",
                "capture_stack_trace")):
        return False
    global _jsii, _jsii_send
    _jsii = process
    if process._NodeProcess.start is not _start:
        _jsii_send = process._NodeProcess.send
    process._NodeProcess.start = _start
    process._NodeProcess.stop = _stop
    process._NodeProcess.send = _send
    return True
