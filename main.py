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
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import fast_bindings
from stacks import emulator

ROOT = Path(__file__).resolve().parent
STATE_STACK = "state-backend"


def emulator_settings() -> emulator.EmulatorSettings | None:
    """Emulator mode is chosen here, from the process environment, and passed to every stack explicitly."""
    url = os.environ.get(emulator.ENDPOINT_VARIABLE)
    return emulator.EmulatorSettings(url) if url else None


def build_app(outdir: str, environment_names, config_dir: Path,
              emulator_mode: emulator.EmulatorSettings | None = None):
    """Loads and validates every environment, then builds the App (nothing is written yet)."""
    from environments.config import load_all

    state, environments = load_all(environment_names, config_dir)

    from cdktf import App

    from modules.naming import Naming
    from stacks.account_bootstrap import AccountBootstrapStack, stack_name
    from stacks.platform import PlatformStack
    from stacks.state_backend import StateBackendStack

    app = App(outdir=outdir)
    StateBackendStack(app, STATE_STACK, config=state, emulator=emulator_mode,
                      environments=[Naming(env.name, env.account_id, env.region) for env in environments])
    for env in environments:
        AccountBootstrapStack(app, stack_name(env.name), env=env, state=state, emulator=emulator_mode)
        PlatformStack(app, env.name, env=env, state=state, emulator=emulator_mode)
    return app


def synth_atomically(outdir: Path, environment_names, config_dir: Path) -> None:
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.new-", dir=outdir.parent))
    emulator_mode = emulator_settings()
    try:
        build_app(str(staging), environment_names, config_dir, emulator_mode).synth()
        if emulator_mode:
            _emulator_mode(staging)
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


def _emulator_mode(outdir: Path) -> None:
    """Emulator rehearsal only: leave out what the emulator cannot serve (stacks/emulator.py)."""
    left_out = {}
    for stack_file in sorted(outdir.glob("stacks/*/cdk.tf.json")):
        config, removed = emulator.transform(json.loads(stack_file.read_text()))
        stack_file.write_text(json.dumps(config, indent=2))
        left_out[stack_file.parent.name] = removed
    (outdir / "emulator-exclusions.json").write_text(json.dumps(left_out, indent=2, sort_keys=True))


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


if __name__ == "__main__":
    sys.exit(main())
