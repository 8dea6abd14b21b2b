#!/usr/bin/env python3
"""`python -O` bytecode for what `python main.py` imports (`make install` runs this once).

`python main.py` runs as `python -O main.py` (main.py, `_optimized`), and pip writes only the plain bytecode.
This compiles, with -O, the distribution of the AWS bindings and everything it requires (cdktf, constructs,
jsii and theirs): the packages the synth imports, ~12 s on 2 cores, about half of compiling the whole venv.
Without it, and with PYTHONDONTWRITEBYTECODE set, every synth would compile the binding modules it loads.
"""

from __future__ import annotations

import compileall
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT_DISTRIBUTION = "cdktf-cdktf-provider-aws"


def closure(name: str = ROOT_DISTRIBUTION) -> list[metadata.Distribution]:
    """The installed distribution `name` and, recursively, the installed ones it requires (extras left out)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [name]
    while todo:
        key = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if key in found:
            continue
        try:
            found[key] = metadata.distribution(key)
        except metadata.PackageNotFoundError:  # a requirement for another platform or Python
            continue
        todo += [
            re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
            for requirement in found[key].requires or []
            if "extra ==" not in requirement
        ]
    return list(found.values())


def top_levels(distribution: metadata.Distribution) -> set[Path]:
    """The top-level packages and modules a distribution installed (its RECORD), as paths."""
    return {
        Path(distribution.locate_file(file.parts[0]))
        for file in distribution.files or []
        if file.suffix == ".py" and ".." not in file.parts and not file.parts[0].endswith(".dist-info")
    }


def main() -> int:
    if not sys.flags.optimize:
        print("run with python -O: the bytecode written is the one of the running interpreter", file=sys.stderr)
        return 2
    ok = True
    for path in sorted(set().union(*map(top_levels, closure()))):
        ok &= bool(
            compileall.compile_dir(path, quiet=1, workers=0)
            if path.is_dir()
            else compileall.compile_file(path, quiet=1)
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
