#!/usr/bin/env python3
"""Test-suite timings: `make test-fast` (the inner loop, `-m "not slow"`) and `make test` (everything, the tool
cache warm), each run in a fresh process, wall seconds printed with the machine's load. Figures, not a test.

    python -m tools.perf.suite_timings [--runs 1] [--skip-full]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITES = {"test-fast": ["-m", "not slow"], "test": []}
TARGETS = {"test-fast": 20.0, "test": 60.0}  # seconds: what the inner loop and the whole suite should take


def run_suite(arguments: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *arguments], cwd=ROOT, capture_output=True, text=True
    )
    summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    if result.returncode != 0:
        raise SystemExit(f"pytest {' '.join(arguments)} failed:\n{result.stdout[-3000:]}")
    return time.perf_counter() - started, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--skip-full", action="store_true", help="time `make test-fast` only")
    args = parser.parse_args(argv)
    names = ["test-fast"] if args.skip_full else list(SUITES)
    if "test" in names:
        run_suite(SUITES["test"])  # warm-up: fills the tool cache (plans, checkov, plain synth), not counted
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    print("| target | median s | runs | target s | pytest says |\n|---|---:|---:|---:|---|")
    for name in names:
        timings = [run_suite(SUITES[name]) for _ in range(args.runs)]
        seconds = statistics.median(t for t, _ in timings)
        print(f"| make {name} | {seconds:.1f} | {args.runs} | < {TARGETS[name]:.0f} | {timings[-1][1]} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
