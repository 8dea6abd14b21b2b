"""Load the AWS provider bindings lazily: only the submodules the app uses, on both sides of jsii.

Python: `cdktf_cdktf_provider_aws/__init__.py` ends with ~2,135 `from . import <submodule>`
lines, so any import of the package loads every resource binding (~10 s, ~500 MB of
Python) although an app uses a few dozen (upstream terraform-cdk #3753). `install()`
executes that `__init__` without those lines (everything else in it, including the jsii
assembly load, runs unchanged) and registers the submodule map that jsii >= 1.142 uses
to import a type's module on demand when node hands back an object of a type not yet
loaded. Submodules then load on first import, as in any Python package.

Node: the package's `lib/index.js` likewise `require`s all 2,135 JavaScript modules
(~1.2 s) when the jsii kernel loads the assembly. `install()` starts the kernel with
`node_hook.js` preloaded (NODE_OPTIONS=--require, for that process only), which turns
each of those lines into a getter that requires its module on first use (and runs cdktf's
`terraform version` check once per process instead of once per check).

The kernel: Python talks to it directly instead of through jsii's relay process (`kernel.py`).

Either way `install()` starts the kernel itself, on the project's node (`node_executable()`:
the venv's Node 24 that `make install` links, unless JSII_NODE says otherwise) and with
the one deprecation warning cdktf triggers silenced by its code (see `_kernel_env`).

Output is byte-identical to the plain path (tested). If the installed package does not
have the layout this expects, each side falls back to the plain load and says so once
on stderr. `VIDEO_INGEST_PLAIN_BINDINGS=1` forces the plain path, jsii as it ships (plain import,
relay process): the benchmark and the identity test compare the two.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

from fast_bindings import kernel

PACKAGE = "cdktf_cdktf_provider_aws"
ASSEMBLY = "@cdktf/provider-aws"
_EAGER_IMPORT = re.compile(r"^from \. import (\w+)\n", re.MULTILINE)
_MIN_EAGER_IMPORTS = 1000  # the pinned 20.1.0 has 2,135; far fewer means the layout changed
NODE_HOOK = Path(__file__).resolve().parent / "node_hook.js"


def install() -> str:
    """Returns "lazy", "plain" (forced or fallback) or "loaded" (already imported, nothing to do)."""
    if PACKAGE in sys.modules:
        return "loaded"
    if os.environ.get("VIDEO_INGEST_PLAIN_BINDINGS") == "1":
        return _plain()
    spec = importlib.util.find_spec(PACKAGE)
    source = open(spec.origin, encoding="utf-8").read() if spec and spec.origin else ""
    lazy = lazy_source(source)
    if lazy is None:
        print(f"fast_bindings: {PACKAGE} layout not recognised; using the plain (slow) import", file=sys.stderr)
        return _plain()
    body, submodules = lazy
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    if not kernel.install():
        print(f"fast_bindings: jsii is not {kernel.JSII_VERSION}; its kernel runs behind its relay", file=sys.stderr)
    try:
        with _kernel_env(lazy=True):  # the package __init__ loads the assemblies: the kernel starts here
            exec(compile(body, spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[PACKAGE]
        raise
    _register_submodules(submodules)
    return "lazy"


def lazy_source(source: str) -> tuple[str, list[str]] | None:
    """The package `__init__` without its eager submodule imports, and their names; None if the
    layout is not the one this module was written for (then the plain import is the safe choice)."""
    submodules = _EAGER_IMPORT.findall(source)
    if len(submodules) < _MIN_EAGER_IMPORTS or "from ._jsii import *" not in source:
        return None
    return _EAGER_IMPORT.sub("", source), submodules


def jsii_submodule_name(python_name: str) -> str:
    """`s3_bucket_policy` -> `s3BucketPolicy`: jsii-pacmak's python names are snake_case of these."""
    head, *rest = python_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def node_executable() -> str:
    """The node the jsii kernel runs on: $JSII_NODE if set, else the venv's own (`.venv/bin/node`, which
    `make install` links to the pinned Node 24 from PyPI), else whatever `node` is on PATH."""
    if os.environ.get("JSII_NODE"):
        return os.environ["JSII_NODE"]
    own = Path(sys.executable).parent / "node"
    return str(own) if own.exists() else shutil.which("node") or "node"


def _plain() -> str:
    """The package's own import, all of it; the kernel still starts on the project's node."""
    with _kernel_env(lazy=False):
        importlib.import_module(PACKAGE)
    return "plain"


@contextlib.contextmanager
def _kernel_env(lazy: bool):
    """The environment the jsii kernel starts in, restored after (jsii reads it when it spawns node), so no
    other node program this process runs (cdktf-cli, say) inherits it:
    - JSII_NODE: `node_executable()`, unless set;
    - NODE_OPTIONS += --disable-warning=DEP0044: cdktf 0.21's `TerraformOutput` calls `util.isArray`, which
      Node >= 22 reports as deprecated once per synth; it is cdktf's to change and harmless (same result as
      Array.isArray), so only that code is silenced, every other warning still shows;
    - NODE_OPTIONS += --require node_hook.js when `lazy`.
    """
    if any(name == "_jsii" or name.endswith("._jsii") for name in sys.modules):
        if lazy:
            print(
                "fast_bindings: the jsii kernel was started before install(); node loads every binding module",
                file=sys.stderr,
            )
        yield
        return
    options = ["--disable-warning=DEP0044"]
    if lazy:
        options.append("--require " + '"' + str(NODE_HOOK).replace("\\", "\\\\").replace('"', '\\"') + '"')
    saved = {name: os.environ.get(name) for name in ("JSII_NODE", "NODE_OPTIONS")}
    os.environ["JSII_NODE"] = node_executable()
    os.environ["NODE_OPTIONS"] = " ".join(filter(None, [saved["NODE_OPTIONS"], *options]))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def _register_submodules(submodules: list[str]) -> None:
    from jsii import _reference_map

    _reference_map._submodule_fqn_map.update(
        {f"{ASSEMBLY}.{jsii_submodule_name(name)}": f"{PACKAGE}.{name}" for name in submodules}
    )
