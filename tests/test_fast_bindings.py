"""The lazy binding loader: same output as the plain import, and a safe fallback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from importlib.util import find_spec
from pathlib import Path

import pytest

import fast_bindings
from tests.conftest import ROOT, STACKS, subprocess_env
from tests.test_synth import tree


def test_this_session_runs_on_the_lazy_path():
    import cdktf_cdktf_provider_aws

    loaded = [name for name in sys.modules if name.startswith("cdktf_cdktf_provider_aws.")]
    # Far fewer than the package's 2,135 (the app uses ~40 resource types, each a module and its _private).
    assert 0 < len(loaded) < 300, f"{len(loaded)} binding submodules loaded"
    assert cdktf_cdktf_provider_aws.__name__ == fast_bindings.PACKAGE


def test_plain_and_lazy_synth_are_byte_identical(synth_dir, plain_synth_job):
    """Every stack, synthesized with the plain import (a fresh process, conftest's plain_synth_job) against this
    session's lazy synth.

    All stacks, not one: the plain path's cost is the import itself (all 2,135 Python submodules, ~14 s of CPU
    here whether it then builds one stack or seven; measured), so one stack would prove less for the same price.
    It is paid in the background, from the session's start, beside the other tests."""
    result, plain = plain_synth_job.result()
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "", result.stderr[-3000:]  # no fallback message, no node warning
    assert sorted(p.name for p in (plain / "stacks").iterdir()) == sorted(STACKS)
    assert tree(plain) == tree(synth_dir)


def test_node_defers_the_binding_modules_and_output_is_unchanged(synth_dir, cli_synth_job):
    """A fresh `python main.py` (the one `cdktf synth` runs, conftest's cli_synth_job): node's lazy index defers
    all 2,135 modules and loads only the few used."""
    result, out, report = cli_synth_job.result()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "fast_bindings" not in result.stdout + result.stderr
    assert "NODE_OPTIONS" not in os.environ and "JSII_NODE" not in os.environ  # the kernel's only
    figures = json.loads(report.read_text())
    assert figures["deferred"] == 2135
    assert 0 < len(figures["loaded"]) < 300 and "s3Bucket" in figures["loaded"]
    assert tree(out) == tree(synth_dir)


def test_node_runs_terraform_version_once_for_all_of_cdktfs_version_checks(cli_synth_job):
    """The same fresh synth of every stack: cdktf checks the Terraform version for each stack with moved blocks
    and for the terraform_data resource; node's hook runs `terraform version` for the first and gives its
    output to the others (a failing command is not kept: each check then reports its own failure)."""
    result, _, report = cli_synth_job.result()
    assert result.returncode == 0, result.stderr[-3000:]
    asked, ran = json.loads(report.read_text())["versionChecks"]["terraform version"]
    assert asked >= 2 and ran == 1


def test_a_repeated_attribute_read_is_answered_with_the_first_token(monkeypatch):
    """fast_bindings.kernel: a provider resource's attribute read twice reaches node once and gives the same
    token, which resolves to the reference; an `...Input` read always reaches node; a set on the object drops
    what was kept of it."""
    from cdktf import App, TerraformIterator, TerraformOutput, TerraformStack, Testing
    from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
    from jsii._kernel.types import GetRequest

    from fast_bindings import kernel

    sent, send = [], kernel._jsii_send
    monkeypatch.setattr(kernel, "_jsii_send", lambda self, request, rtype: sent.append(request) or send(self, request,
                                                                                                        rtype))
    reads = lambda name: sum(1 for r in sent if isinstance(r, GetRequest) and r.property == name)
    stack = TerraformStack(App(), "reads")
    bucket = S3Bucket(stack, "videos", bucket="videos")
    arn = bucket.arn
    assert bucket.arn == arn and reads("arn") == 1
    assert bucket.bucket_input == bucket.bucket_input == "videos" and reads("bucketInput") == 2
    bucket.bucket = "renamed"
    assert bucket.arn and reads("arn") == 2
    TerraformOutput(stack, "first", value=arn)
    assert json.loads(Testing.synth(stack))["output"]["first"]["value"] == "${aws_s3_bucket.videos.arn}"
    # A for_each changes the references of the object's parts too: everything kept is dropped.
    website = bucket.website
    assert website.index_document == website.index_document and reads("indexDocument") == 1
    bucket.for_each = TerraformIterator.from_list(["a", "b"])
    assert website.index_document and reads("indexDocument") == 2


def test_the_kernel_runs_on_the_projects_node():
    """jsii's kernel runs on the node `make install` links into the venv (Node 24 LTS from PyPI), not on
    whatever `node` comes first on PATH."""
    node = Path(fast_bindings.node_executable())
    assert node == Path(sys.executable).parent / "node", node
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.strip().lstrip("v").split(".")[0]) >= 22, version
    kernel = [pid for pid in Path("/proc").iterdir() if pid.name.isdigit() and _parent(pid) == os.getpid()
              and (pid / "exe").exists() and (pid / "exe").resolve() == node.resolve()]
    assert kernel, "no child of this process runs the project's node"


def _parent(proc: Path) -> int:
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return -1
    return int(stat[stat.rindex(")") + 2:].split()[1])


def _node(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([fast_bindings.node_executable(), "--require", str(fast_bindings.NODE_HOOK), "-e", script],
                          cwd=cwd,
                          capture_output=True, text=True, timeout=60, env=subprocess_env())


def _fake_package(root: Path, modules: int) -> Path:
    """node_modules/@cdktf/provider-aws/lib/index.js in the generated layout; each module counts its loads."""
    lib = root / "node_modules" / "@cdktf" / "provider-aws" / "lib"
    lib.mkdir(parents=True)
    names = [f"m{i}" for i in range(modules)]
    lines = ['"use strict";', 'Object.defineProperty(exports, "__esModule", { value: true });',
             " = ".join(f"exports.{name}" for name in reversed(names)) + " = void 0;"]
    for name in names:
        (lib / f"{name}-mod.js").write_text(f"globalThis.loads = (globalThis.loads || 0) + 1; exports.name = '{name}';\n")
        lines.append(f'exports.{name} = require("./{name}-mod");')
    (lib / "index.js").write_text("\n".join(lines) + "\n// generated by cdktf get\n")
    return lib / "index.js"


def test_node_hook_keeps_the_exports_and_loads_on_first_use(tmp_path):
    index = _fake_package(tmp_path, 1200)
    result = _node(f"""
        const index = require({json.dumps(str(index))});
        const before = globalThis.loads || 0;
        const keys = Object.keys(index);
        const first = index.m7, again = index.m7;
        console.log(JSON.stringify({{before, keys: keys.length, head: keys.slice(0, 3), name: first.name,
            same: first === again && first === require({json.dumps(str(index.parent / "m7-mod.js"))}),
            after: globalThis.loads, settled: "value" in Object.getOwnPropertyDescriptor(index, "m7")}}));""",
                   tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    seen = json.loads(result.stdout)
    assert seen == {"before": 0, "keys": 1200, "head": ["m0", "m1", "m2"], "name": "m7", "same": True,
                    "after": 1, "settled": True}


def test_node_hook_leaves_an_unknown_layout_alone_and_says_so(tmp_path):
    index = _fake_package(tmp_path, 20)
    result = _node(f"require({json.dumps(str(index))}); console.log(globalThis.loads)", tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == "20"
    assert "layout not recognised" in result.stderr


def test_submodule_map_matches_the_assembly():
    """jsii resolves on-demand types through this map: it must name every submodule the assembly has."""
    spec = find_spec(fast_bindings.PACKAGE)
    _, submodules = fast_bindings.lazy_source(Path(spec.origin).read_text())
    tarball = next((Path(spec.origin).parent / "_jsii").glob("*.jsii.tgz"))
    with tarfile.open(tarball) as archive:
        assembly = json.load(archive.extractfile("package/.jsii"))
    expected = set(assembly["submodules"])
    derived = {f"{fast_bindings.ASSEMBLY}.{fast_bindings.jsii_submodule_name(name)}" for name in submodules}
    assert derived == expected


def test_unrecognised_layout_falls_back_to_the_plain_import():
    assert fast_bindings.lazy_source("from ._jsii import *\nfrom . import only_one\n") is None
    assert fast_bindings.lazy_source("") is None
    body, names = fast_bindings.lazy_source(
        "x = 1\nfrom ._jsii import *\n" + "".join(f"from . import m{i}\n" for i in range(1500)))
    assert body == "x = 1\nfrom ._jsii import *\n" and names[:2] == ["m0", "m1"]


def test_the_kernel_is_reached_without_jsii_s_relay_process():
    """fast_bindings.kernel: this session's kernel is node running jsii's lib/program.js itself, a direct child
    of this process, and no node process of ours runs bin/jsii-runtime.js (the relay)."""
    import cdktf  # noqa: F401  (the kernel is running)

    children = [pid for pid in Path("/proc").iterdir() if pid.name.isdigit() and _parent(pid) == os.getpid()]
    commands = [(pid / "cmdline").read_bytes().split(b"\0") for pid in children if (pid / "cmdline").exists()]
    kernels = [argv for argv in commands if any(arg.endswith(b"lib/program.js") for arg in argv)]
    assert len(kernels) == 1, commands
    assert b"--max-old-space-size=4069" in kernels[0] and b"--preserve-symlinks" in kernels[0]
    assert not [argv for argv in commands if any(arg.endswith(b"jsii-runtime.js") for arg in argv)]


def test_the_direct_kernel_is_only_installed_on_the_jsii_it_was_written_for(monkeypatch):
    import jsii
    from jsii._kernel.providers import process

    from fast_bindings import kernel

    start, stop = process._NodeProcess.start, process._NodeProcess.stop
    monkeypatch.setattr(jsii, "__version__", "1.143.0")
    assert kernel.install() is False
    monkeypatch.setattr(jsii, "__version__", kernel.JSII_VERSION)
    monkeypatch.setenv("JSII_RUNTIME", "/somewhere/else/jsii-runtime.js")
    assert kernel.install() is False
    assert (process._NodeProcess.start, process._NodeProcess.stop) == (start, stop)


def test_main_runs_itself_with_python_O_unless_type_checks_are_asked_for(monkeypatch):
    """`python main.py` becomes `python -O main.py` (same interpreter options and arguments): the bindings'
    runtime type checks are compiled out for users; this session (no -O) keeps them."""
    import main

    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append((path, argv)))
    monkeypatch.setattr(sys, "orig_argv", [sys.executable, "-X", "utf8", "main.py", "dev", "--outdir", "x"])
    monkeypatch.delenv(main.TYPE_CHECKS_VARIABLE, raising=False)
    assert not sys.flags.optimize
    main._optimized()
    assert calls == [(sys.executable, [sys.executable, "-O", "-X", "utf8", "main.py", "dev", "--outdir", "x"])]
    monkeypatch.setenv(main.TYPE_CHECKS_VARIABLE, "1")
    main._optimized()
    assert len(calls) == 1


def test_a_load_is_not_waited_for_and_its_failure_raises_at_the_next_request(tmp_path):
    """A kernel of its own (fast_bindings.kernel): the load of a missing assembly returns at once; the next
    request reads the hello and that load's answer first, and raises its error."""
    from jsii._kernel.providers import process

    node = process._NodeProcess()
    node.start()  # as jsii's ProcessProvider does before its first request
    try:
        assert node.send(process.LoadRequest(name="nothing", version="0.0.0", tarball=str(tmp_path / "no.tgz")),
                         process.LoadResponse) is None
        assert len(node._process.owed) == 1 and not node._process.greeted
        with pytest.raises(RuntimeError, match="jsii could not load an assembly"):
            node.send(process.StatsRequest(), process.StatsResponse)
        assert not node._process.owed and node._process.greeted
        assert node.send(process.StatsRequest(), process.StatsResponse).objectCount >= 0
    finally:
        node.stop()
    assert node._process.returncode == 0


WRITE_AHEAD = """
import json
import fast_bindings
fast_bindings.install()
import jsii
from cdktf import App, TerraformStack
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket

kernel = jsii.kernel.provider._process._process
seen = {}
stack = TerraformStack(App(), "s")
first = S3Bucket(stack, "first")  # the first of its class and interfaces: waited for
seen["waited"] = len(kernel.owed)
buckets = [S3Bucket(stack, name) for name in ("second", "third")]
first.add_override("//.note", "an addOverride answers nothing: written ahead too")
seen["written ahead"] = len(kernel.owed)
seen["references"] = [b.__jsii_ref__.ref.rsplit("@", 1)[1] for b in [first, *buckets]]
seen["read"] = first.arn.startswith("${TfToken[")  # waits: reads the owed answers
seen["read everything"] = not kernel.owed
S3Bucket(stack, "second")  # the name is taken: node fails it, and numbers the next one as this one's
S3Bucket(stack, "fourth")
errors = []
for _ in range(2):
    try:
        first.bucket_domain_name  # a read that waits
    except RuntimeError as error:
        errors.append(str(error))
seen["errors"] = errors
seen["after"] = (len(kernel.owed), kernel.pipelining)
print(json.dumps(seen))
"""

MANY = """
import json
import fast_bindings
fast_bindings.install()
import jsii
from cdktf import App, TerraformStack
from constructs import Construct
from fast_bindings.kernel import MAX_OWED

kernel = jsii.kernel.provider._process._process
stack = TerraformStack(App(), "s")
Construct(stack, "first")
most = 0
for i in range(3000):  # more answers than the socket holds, were they all left unread
    Construct(stack, f"c{i}")
    most = max(most, len(kernel.owed))
print(json.dumps({"most owed": most, "limit": MAX_OWED, "children": len(stack.node.children)}))
"""

LAST = """
import fast_bindings
fast_bindings.install()
from cdktf import App, TerraformStack
from constructs import Construct

stack = TerraformStack(App(), "s")
Construct(stack, "first")
Construct(stack, "first")  # the last request, written ahead: nothing waits for its answer
"""

OVERRIDES = """
import json
import fast_bindings
fast_bindings.install()
import jsii
from cdktf import App, Aspects, IAspect, TerraformStack
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket

@jsii.implements(IAspect)
class Visit:
    def visit(self, node):
        pass

kernel = jsii.kernel.provider._process._process
stack = TerraformStack(App(), "s")
S3Bucket(stack, "first")
Aspects.of(stack).add(Visit())  # an object implemented in Python: node may call it back
S3Bucket(stack, "second")
print(json.dumps({"owed": len(kernel.owed), "pipelining": kernel.pipelining}))
"""


def _run_script(source: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(source)
    return subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=subprocess_env() | {"PYTHONPATH": str(ROOT)})


def _script(source: str, tmp_path: Path) -> dict:
    """What the script printed (JSON); it must succeed."""
    result = _run_script(source, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_creates_are_written_ahead_and_their_error_names_the_line_that_made_them(tmp_path):
    """fast_bindings.kernel: after the first object of a class (waited for), creates are written without waiting,
    each given the next reference number; the next request that waits reads them, and a create that failed in
    node (a name already taken) raises there, naming the request and the script's line that made it."""
    seen = _script(WRITE_AHEAD, tmp_path)
    assert seen["waited"] == 0 and seen["written ahead"] == 3
    numbers = [int(number) for number in seen["references"]]
    assert numbers == list(range(numbers[0], numbers[0] + 3))
    assert seen["read"] and seen["read everything"]
    failed, then = seen["errors"]
    assert "There is already a Construct with name 'second'" in failed
    assert "creation of a @cdktf/provider-aws.s3Bucket.S3Bucket" in failed
    line = next(n for n, text in enumerate(WRITE_AHEAD.splitlines(), 1) if text.startswith('S3Bucket(stack, "second")'))
    assert f'script.py", line {line}, in <module>\n    S3Bucket(stack, "second")' in failed
    # "fourth" was given the number node gave nobody: every later request says so instead of misdirecting
    assert "objects made since have wrong references" in then
    assert seen["after"] == [0, False]  # every answer read; nothing written ahead any more


def test_a_long_run_of_creates_never_leaves_more_answers_unread_than_the_limit(tmp_path):
    """Node writes its answers with a blocking write: had Python left 3,000 unread, both would wait for good."""
    seen = _script(MANY, tmp_path)
    assert seen == {"most owed": seen["limit"], "limit": 64, "children": 3001}


def test_an_error_nobody_waited_for_is_reported_at_exit(tmp_path):
    result = _run_script(LAST, tmp_path)
    assert "a request written ahead failed" in result.stderr
    assert "There is already a Construct with name 'first'" in result.stderr


def test_nothing_is_written_ahead_once_an_object_implemented_in_python_exists(tmp_path):
    assert _script(OVERRIDES, tmp_path) == {"owed": 0, "pipelining": False}
