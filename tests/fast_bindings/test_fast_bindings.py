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
from tests.conftest import STACKS, subprocess_env
from tests.stacks.test_synth import tree


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


def test_the_kernel_runs_on_the_projects_node():
    """jsii's kernel runs on the node `make install` links into the venv (Node 24 LTS from PyPI), not on
    whatever `node` comes first on PATH."""
    node = Path(fast_bindings.node_executable())
    assert node == Path(sys.executable).parent / "node", node
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.strip().lstrip("v").split(".")[0]) >= 22, version
    kernel = [
        pid
        for pid in Path("/proc").iterdir()
        if pid.name.isdigit()
        and _parent(pid) == os.getpid()
        and (pid / "exe").exists()
        and (pid / "exe").resolve() == node.resolve()
    ]
    assert kernel, "no child of this process runs the project's node"


def _parent(proc: Path) -> int:
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return -1
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _node(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [fast_bindings.node_executable(), "--require", str(fast_bindings.NODE_HOOK), "-e", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )


def _fake_package(root: Path, modules: int) -> Path:
    """node_modules/@cdktf/provider-aws/lib/index.js in the generated layout; each module counts its loads."""
    lib = root / "node_modules" / "@cdktf" / "provider-aws" / "lib"
    lib.mkdir(parents=True)
    names = [f"m{i}" for i in range(modules)]
    lines = [
        '"use strict";',
        'Object.defineProperty(exports, "__esModule", { value: true });',
        " = ".join(f"exports.{name}" for name in reversed(names)) + " = void 0;",
    ]
    for name in names:
        (lib / f"{name}-mod.js").write_text(
            f"globalThis.loads = (globalThis.loads || 0) + 1; exports.name = '{name}';\n"
        )
        lines.append(f'exports.{name} = require("./{name}-mod");')
    (lib / "index.js").write_text("\n".join(lines) + "\n// generated by cdktf get\n")
    return lib / "index.js"


def test_node_hook_keeps_the_exports_and_loads_on_first_use(tmp_path):
    index = _fake_package(tmp_path, 1200)
    result = _node(
        f"""
        const index = require({json.dumps(str(index))});
        const before = globalThis.loads || 0;
        const keys = Object.keys(index);
        const first = index.m7, again = index.m7;
        console.log(JSON.stringify({{before, keys: keys.length, head: keys.slice(0, 3), name: first.name,
            same: first === again && first === require({json.dumps(str(index.parent / "m7-mod.js"))}),
            after: globalThis.loads, settled: "value" in Object.getOwnPropertyDescriptor(index, "m7")}}));""",
        tmp_path,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    seen = json.loads(result.stdout)
    assert seen == {
        "before": 0,
        "keys": 1200,
        "head": ["m0", "m1", "m2"],
        "name": "m7",
        "same": True,
        "after": 1,
        "settled": True,
    }


def test_node_hook_leaves_an_unknown_layout_alone_and_says_so(tmp_path):
    index = _fake_package(tmp_path, 20)
    result = _node(f"require({json.dumps(str(index))}); console.log(globalThis.loads)", tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == "20"
    assert "layout not recognised" in result.stderr


@pytest.mark.slow  # a jsii kernel of its own
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
        "x = 1\nfrom ._jsii import *\n" + "".join(f"from . import m{i}\n" for i in range(1500))
    )
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


@pytest.mark.slow  # a jsii kernel of its own
def test_the_direct_kernel_answers_each_request_before_the_next_as_jsii_does(tmp_path):
    """A kernel of its own (fast_bindings.kernel), through jsii's own send: the hello is read at start, the load of a
    missing assembly raises at once (jsii's error, at the line that asked), the next request is answered normally,
    and the kernel exits cleanly at stop."""
    from jsii._kernel.providers import process

    from fast_bindings import kernel

    node = process._NodeProcess()
    node.start()  # as jsii's ProcessProvider does before its first request
    try:
        assert isinstance(node._process, kernel._Kernel)
        with pytest.raises(Exception, match="no.tgz|ENOENT|no such file"):
            node.send(
                process.LoadRequest(name="nothing", version="0.0.0", tarball=str(tmp_path / "no.tgz")),
                process.LoadResponse,
            )
        assert node.send(process.StatsRequest(), process.StatsResponse).objectCount >= 0
    finally:
        node.stop()
    assert node._process.returncode == 0


def test_the_kernel_module_keeps_no_second_client():
    """Only the relay-less spawn: jsii's own send, no requests written ahead, no predicted references, no cache."""
    from fast_bindings import kernel

    source = Path(kernel.__file__).read_text()
    assert "def _send" not in source and not [
        name for name in ("owed", "attribute_tokens", "next_id", "pipelining") if name in source
    ]
