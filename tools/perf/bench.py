#!/usr/bin/env python3
"""Synth benchmark: `python main.py` (all stacks) as it runs, vs jsii as it ships ("plain").

"lazy" is the command users run: lazy bindings, direct kernel, `python -O` (fast_bindings, main.py).
"plain" is the same app with VIDEO_INGEST_PLAIN_BINDINGS=1 and VIDEO_INGEST_BINDING_TYPE_CHECKS=1: every
binding imported, jsii's relay process, the bindings' runtime type checks.

    python -m tools.perf.bench [--runs 5]

Each run is a fresh process, as users run it. Wall time per run; peak resident
memory sampled every 10 ms over the whole process tree, split into python (the
app) and node (the jsii runtime). Prints the node the kernel ran on, a Markdown
table, the speed-up and whether both paths wrote byte-identical output. Figures,
not a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc/<pid>/task/*/children)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                stack += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def _rss_by_kind(pid: int) -> dict[str, int]:
    usage = {"python": 0, "node": 0}
    for member in _tree(pid):
        try:  # by executable: Node >= 22 names its main thread (comm) "MainThread"
            name = Path(os.readlink(f"/proc/{member}/exe")).name
            pages = int(Path(f"/proc/{member}/statm").read_text().split()[1])
        except OSError:
            continue
        kind = "node" if name.startswith("node") else "python"
        usage[kind] += pages * PAGE
    return usage


def run_once(plain: bool, outdir: Path) -> dict:
    env = dict(os.environ)
    for name in ("VIDEO_INGEST_PLAIN_BINDINGS", "VIDEO_INGEST_BINDING_TYPE_CHECKS"):
        env.pop(name, None)
        if plain:
            env[name] = "1"
    peak = {"python": 0, "node": 0, "tree": 0}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "main.py", "--outdir", str(outdir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            usage = _rss_by_kind(process.pid)
            for kind, value in usage.items():
                peak[kind] = max(peak[kind], value)
            peak["tree"] = max(peak["tree"], sum(usage.values()))
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"synth failed ({'plain' if plain else 'lazy'}): {stderr.decode()[-2000:]}")
    return {"seconds": elapsed, **peak}


def node_runtime() -> str:
    """The node the jsii kernel runs on (fast_bindings.node_executable: the venv's own unless JSII_NODE), and
    its version."""
    from fast_bindings import node_executable

    node = node_executable()
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    real = Path(shutil.which(node) or node).resolve()
    return f"Node.js {version}: {node}" + (f" -> {real}" if str(real) != node else "")


def reference_seconds() -> float:
    """A fixed pure-Python loop (20 million additions) in a fresh interpreter: how fast this machine's CPU is
    right now. On these shared machines it moved by 40 % within an hour (1.24 s to 1.75 s), and every synth
    with it, so each benchmark prints it beside its figures."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "s = 0\nfor i in range(20_000_000): s += i"], check=True)
    return time.perf_counter() - started


def tree_bytes(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    results: dict[str, list[dict]] = {"plain": [], "lazy": []}
    reference = [reference_seconds()]
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {name: Path(tmp) / name for name in results}
        run_once(False, outputs["lazy"])  # warm-up: file cache and jsii package cache, not counted
        for _ in range(args.runs):  # interleaved, so drift on a noisy machine hits both sides alike
            for name in results:
                results[name].append(run_once(name == "plain", outputs[name]))
        identical = tree_bytes(outputs["plain"]) == tree_bytes(outputs["lazy"])
    reference.append(reference_seconds())
    mib = lambda value: f"{value / 2**20:,.0f}"
    print(
        f"Synth of all stacks (`python main.py`), {args.runs} runs each, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"jsii kernel on {node_runtime()}")
    print(
        f"reference loop (tools.perf.bench.reference_seconds): {reference[0]:.2f} s before, "
        f"{reference[1]:.2f} s after\n"
    )
    print("| import path | median s | min s | max s | peak RSS python MiB | peak RSS node MiB | peak RSS tree MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for name, runs in results.items():
        seconds = [r["seconds"] for r in runs]
        peaks = {kind: max(r[kind] for r in runs) for kind in ("python", "node", "tree")}
        summary[name] = (statistics.median(seconds), peaks)
        print(
            f"| {name} | {statistics.median(seconds):.2f} | {min(seconds):.2f} | {max(seconds):.2f} | "
            f"{mib(peaks['python'])} | {mib(peaks['node'])} | {mib(peaks['tree'])} |"
        )
    (plain_s, plain_peak), (lazy_s, lazy_peak) = summary["plain"], summary["lazy"]
    print(
        f"\nspeed-up: {plain_s / lazy_s:.1f}x; python memory: {lazy_peak['python'] / plain_peak['python']:.0%} "
        f"of plain; whole tree: {lazy_peak['tree'] / plain_peak['tree']:.0%} of plain; "
        f"outputs byte-identical: {'yes' if identical else 'NO'}"
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
