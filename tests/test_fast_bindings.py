"""The lazy binding loader: same output as the plain import, and a safe fallback."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from importlib.util import find_spec
from pathlib import Path

import fast_bindings
from tests.conftest import ROOT, STACKS, subprocess_env
from tests.test_synth import tree


def test_this_session_runs_on_the_lazy_path():
    import cdktf_cdktf_provider_aws

    loaded = [name for name in sys.modules if name.startswith("cdktf_cdktf_provider_aws.")]
    assert 0 < len(loaded) < 200, f"{len(loaded)} binding submodules loaded"
    assert cdktf_cdktf_provider_aws.__name__ == fast_bindings.PACKAGE


def test_plain_and_lazy_synth_are_byte_identical(synth_dir, tmp_path):
    """Every stack, synthesized with the plain import (a subprocess) against this session's lazy synth."""
    plain = tmp_path / "plain"
    result = subprocess.run([sys.executable, "main.py", "--outdir", str(plain)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=subprocess_env() | {"VIDEO_INGEST_PLAIN_BINDINGS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (plain / "stacks").iterdir()) == sorted(STACKS)
    assert tree(plain) == tree(synth_dir)


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
