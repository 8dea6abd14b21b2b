#!/usr/bin/env python3
"""Diagrams generated from the synthesized stacks (never drawn by hand), two per environment:

    python -m tools.diagrams.diagram [ENV ...]     # docs/diagrams/<env>-architecture.{svg,png}
                                          # docs/diagrams/<env>-resources.{dot,svg,png}

The architecture view (`tools/diagrams/architecture.py`, drawn with the `diagrams` package): one icon per
significant resource, its parts folded in, regions, the VPC and its tiers, and the flows between them.

The resource graph: one cluster per module (the construct path under the stack: network, storage, ...),
one node per resource type in it (with a count), and an edge wherever a resource references another
(`${aws_x.name.attr}`), merged per pair of nodes. Graphviz `dot` renders SVG and PNG.

Both read only `cdktf.out/stacks/<env>/cdk.tf.json` (`make diagram` synthesizes first).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from tools.diagrams import architecture
from tools.diagrams import render as drawing

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "cdktf.out" / "stacks"
DIAGRAMS = ROOT / "docs" / "diagrams"
REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.")
TIER_COLOURS = {
    "network": "#dbeafe",
    "security": "#fee2e2",
    "storage": "#dcfce7",
    "database": "#fef9c3",
    "compute": "#ede9fe",
    "load-balancer": "#e0f2fe",
    "api": "#fae8ff",
    "cdn": "#ffedd5",
    "ingest": "#ccfbf1",
    "monitoring": "#f1f5f9",
    "cost": "#f5f5f4",
    "backup": "#fef3c7",
}


def module_of(body: dict) -> str:
    """`dev/network/vpc` -> `network` (the first construct under the stack)."""
    path = body.get("//", {}).get("metadata", {}).get("path", "")
    parts = path.split("/")
    return parts[1] if len(parts) > 2 else "stack"


def graph(config: dict) -> tuple[dict[str, Counter], set[tuple[tuple[str, str], tuple[str, str]]]]:
    """Module -> resource type counts, and edges between (module, type) nodes."""
    owners: dict[tuple[str, str], str] = {}
    nodes: dict[str, Counter] = defaultdict(Counter)
    for rtype, resources in config.get("resource", {}).items():
        for name, body in resources.items():
            module = module_of(body)
            owners[(rtype, name)] = module
            nodes[module][rtype] += 1
    edges = set()
    for rtype, resources in config.get("resource", {}).items():
        for name, body in resources.items():
            source = (owners[(rtype, name)], rtype)
            text = json.dumps({k: v for k, v in body.items() if k != "//"})
            for target_type, target_name in REFERENCE.findall(text):
                target_module = owners.get((target_type, target_name))
                if target_module and (target_module, target_type) != source:
                    edges.add((source, (target_module, target_type)))
    return dict(nodes), edges


def module_edges(edges) -> set[tuple[str, str]]:
    return {(a[0], b[0]) for a, b in edges if a[0] != b[0]}


def to_dot(title: str, nodes: dict[str, Counter], edges) -> str:
    node_id = lambda module, rtype: f'"{module}:{rtype}"'
    lines = [
        f'digraph "{title}" {{',
        '  graph [rankdir=LR, fontname="Helvetica", fontsize=20, '
        f'label="video-ingest {title}", labelloc=t, compound=true, newrank=true];',
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=10];',
        '  edge [color="#64748b", arrowsize=0.6];',
    ]
    for module in sorted(nodes):
        lines.append(
            f'  subgraph "cluster_{module}" {{ label="{module}"; style="rounded,filled"; '
            f'fillcolor="{TIER_COLOURS.get(module, "#ffffff")}";'
        )
        for rtype, count in sorted(nodes[module].items()):
            label = rtype.removeprefix("aws_") + (f" ×{count}" if count > 1 else "")
            lines.append(f'    {node_id(module, rtype)} [label="{label}"];')
        lines.append("  }")
    for (sm, st), (tm, tt) in sorted(edges):
        style = "" if sm != tm else ' [color="#cbd5e1"]'
        lines.append(f"  {node_id(sm, st)} -> {node_id(tm, tt)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_binary() -> str:
    dot = shutil.which("dot")
    if not dot:
        raise SystemExit("Graphviz `dot` not found: `make install` installs it (Debian package graphviz)")
    return dot


def render(env: str, out: Path = OUT, target: Path = DIAGRAMS) -> list[Path]:
    """The resource graph: `<env>-resources.{dot,svg,png}`."""
    dot = dot_binary()
    config = json.loads((out / env / "cdk.tf.json").read_text())
    nodes, edges = graph(config)
    target.mkdir(parents=True, exist_ok=True)
    source = target / f"{env}-resources.dot"
    source.write_text(to_dot(env, nodes, edges))
    written = [source]
    for fmt in ("svg", "png"):
        path = target / f"{env}-resources.{fmt}"
        subprocess.run([dot, f"-T{fmt}", "-o", str(path), str(source)], check=True)
        written.append(path)
    return written


def render_architecture(env: str, out: Path = OUT, target: Path = DIAGRAMS) -> tuple[list[Path], int]:
    """The architecture view: `<env>-architecture.{svg,png}`, and how many nodes it has."""
    dot_binary()
    view = architecture.load(out, env)
    for rtype in view.unruled:
        print(
            f"warning: {env}: {rtype} has no rule in tools/diagrams/rules.py; the view names it, undrawn",
            file=sys.stderr,
        )
    return drawing.render(view, target), len(view.nodes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("environments", nargs="*", default=["dev", "staging", "prod"])
    parser.add_argument("--out", type=Path, default=OUT, help="the synthesized stacks (default cdktf.out/stacks)")
    parser.add_argument("--target", type=Path, default=DIAGRAMS, help="where to write (default docs/diagrams)")
    args = parser.parse_args(argv)
    for env in args.environments:
        views, count = render_architecture(env, args.out, args.target)
        written = [*views, *render(env, args.out, args.target)]
        print(f"{env}: {count} nodes; " + ", ".join(shown(p) for p in written))
    return 0


def shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(main())
