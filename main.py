#!/usr/bin/env python3
"""One cdktf App: the state backend, and per environment its account bootstrap and its platform stack.

    python main.py                  # all environments into cdktf.out/ (what `cdktf synth` runs)
    python main.py dev prod         # only these environments (and the state backend)

Synthesis is atomic: the app writes into a fresh sibling directory and swaps it
in only when every stack synthesized, so a bad input leaves the previous
cdktf.out/ untouched. Bad input exits with status 2 and one line naming the
file, the field, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

import fast_bindings

ROOT = Path(__file__).resolve().parent
STATE_STACK = "state-backend"
# `python main.py` re-runs itself as `python -O main.py` (see `_optimized`) unless this is "1".
TYPE_CHECKS_VARIABLE = "VIDEO_INGEST_BINDING_TYPE_CHECKS"


def build_app(outdir: str, environment_names, config_dir: Path):
    """Loads and validates every environment, then builds the App (nothing is written yet)."""
    from environments.config import load_all

    state, environments = load_all(environment_names, config_dir)

    from cdktf import App

    from modules.naming import Naming
    from stacks.account_bootstrap import AccountBootstrapStack, stack_name
    from stacks.platform import PlatformStack
    from stacks.state_backend import StateBackendStack

    app = App(outdir=outdir)
    StateBackendStack(
        app,
        STATE_STACK,
        config=state,
        environments=[Naming(env.name, env.account_id, env.region) for env in environments],
    )
    for env in environments:
        AccountBootstrapStack(app, stack_name(env.name), env=env, state=state)
        PlatformStack(app, env.name, env=env, state=state)
    return app


def synth_atomically(outdir: Path, environment_names, config_dir: Path) -> None:
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.new-", dir=outdir.parent))
    try:
        build_app(str(staging), environment_names, config_dir).synth()
        if outdir.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old-", dir=outdir.parent))
            outdir.rename(retired / "out")
            staging.rename(outdir)
            shutil.rmtree(retired)
        else:
            staging.rename(outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    fast_bindings.install()
    from environments.config import ENVIRONMENT_NAMES, ENVIRONMENTS_DIR, ConfigError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("environments", nargs="*", help=f"default: {' '.join(ENVIRONMENT_NAMES)}")
    parser.add_argument("--config-dir", type=Path, default=ENVIRONMENTS_DIR, help="folder of <env>.toml files")
    parser.add_argument("--outdir", type=Path, default=Path(os.environ.get("CDKTF_OUTDIR", ROOT / "cdktf.out")))
    args = parser.parse_args(argv)
    try:
        synth_atomically(args.outdir, args.environments or ENVIRONMENT_NAMES, args.config_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        print(f"nothing written; {args.outdir} is unchanged", file=sys.stderr)
        return 2
    return 0


def _optimized() -> None:
    """Re-runs this command as `python -O main.py` (same interpreter options and arguments) unless it already is
    one or VIDEO_INGEST_BINDING_TYPE_CHECKS=1. -O compiles out the `if __debug__:` blocks that jsii generates in
    every binding method to check its arguments' types at run time (~0.3 s of a synth of every stack here), the
    way jsii switches them off (aws/jsii#3660); the kernel still checks every value it receives (aws/jsii#5165).
    The test suite keeps them: it synthesizes every stack in its own process, without -O, so a wrong type in
    this project's code fails there with jsii's message. Nothing the synth runs uses `assert` or `__debug__`
    (tests/structure/test_structure.py), so -O changes nothing else of ours. `make install` writes the venv's -O
    bytecode (tools/perf/bytecode.py)."""
    if not sys.flags.optimize and os.environ.get(TYPE_CHECKS_VARIABLE) != "1":
        os.execv(sys.executable, [sys.executable, "-O", *sys.orig_argv[1:]])


def _exit(code: int) -> None:
    """Exit handlers (the jsii kernel's stop among them) and flushed output, then no interpreter teardown:
    freeing every object one by one costs ~0.1 s here, and the process ends anyway."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _optimized()
    gc.disable()  # a short-lived process: no cycle collection while the constructs are built (~0.1 s here)
    _exit(main())
