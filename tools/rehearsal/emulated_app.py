"""The app `cdktf deploy` runs in the rehearsal's users' path (tools/rehearsal/e2e.py, `--app`): the project's
own synth (`python main.py`, into cdktf-cli's CDKTF_OUTDIR), then the emulator's overrides beside each stack
(tools/rehearsal/emulator.py), so cdktf-cli deploys the same stacks against the emulator.

    VIDEO_INGEST_EMULATOR_ENDPOINT=https://127.0.0.1:<port> python -m tools.rehearsal.emulated_app [ENV ...]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools.common.terraform import ROOT
from tools.rehearsal.emulator import ENDPOINT_VARIABLE, emulate


def main(argv: list[str] | None = None) -> int:
    url = os.environ.get(ENDPOINT_VARIABLE)
    if not url:
        print(f"emulated_app: {ENDPOINT_VARIABLE} is not set (the rehearsal sets it)", file=sys.stderr)
        return 2
    out = Path(os.environ.get("CDKTF_OUTDIR") or ROOT / "cdktf.out")
    synth = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--outdir", str(out), *(argv or sys.argv[1:])], cwd=ROOT
    )
    if synth.returncode != 0:
        return synth.returncode
    emulate(out, out, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
