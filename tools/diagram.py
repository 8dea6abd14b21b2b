#!/usr/bin/env python3
"""Architecture diagrams generated from the synthesized stacks (never drawn by hand).

    python -m tools.diagram [ENV ...]     # docs/diagrams/<env>.{dot,svg,png}

One cluster per module (the construct path under the stack: network, storage, ...),
one node per resource type in it (with a count), and an edge wherever a resource
references another (`${aws_x.name.attr}`), merged per pair of nodes. Graphviz `dot`
renders SVG and PNG.
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

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "cdktf.out" / "stacks"
DIAGRAMS = ROOT / "docs" / "diagrams"
REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.")
TIER_COLOURS = {"network": "#dbeafe", "security": "#fee2e2", "storage": "#dcfce7", "database": "#fef9c3",
                "compute": "#ede9fe", "load-balancer": "#e0f2fe", "api": "#fae8ff", "cdn": "#ffedd5",
                "ingest": "#ccfbf1", "monitoring": "#f1f5f9", "cost": "#f5f5f4", "backup": "#fef3c7"}


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
    lines = [f'digraph "{title}" {{', '  graph [rankdir=LR, fontname="Helvetica", fontsize=20, '
             f'label="video-ingest {title}", labelloc=t, compound=true, newrank=true];',
             '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=10];',
             '  edge [color="#64748b", arrowsize=0.6];']
    for module in sorted(nodes):
        lines.append(f'  subgraph "cluster_{module}" {{ label="{module}"; style="rounded,filled"; '
                     f'fillcolor="{TIER_COLOURS.get(module, "#ffffff")}";')
        for rtype, count in sorted(nodes[module].items()):
            label = rtype.removeprefix("aws_") + (f" ×{count}" if count > 1 else "")
            lines.append(f'    {node_id(module, rtype)} [label="{label}"];')
        lines.append("  }")
    for (sm, st), (tm, tt) in sorted(edges):
        style = "" if sm != tm else ' [color="#cbd5e1"]'
        lines.append(f"  {node_id(sm, st)} -> {node_id(tm, tt)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(env: str, out: Path = OUT, target: Path = DIAGRAMS) -> list[Path]:
    dot = shutil.which("dot")
    if not dot:
        raise SystemExit("Graphviz `dot` not found: `make install` installs it (Debian package graphviz)")
    config = json.loads((out / env / "cdk.tf.json").read_text())
    nodes, edges = graph(config)
    target.mkdir(parents=True, exist_ok=True)
    source = target / f"{env}.dot"
    source.write_text(to_dot(env, nodes, edges))
    written = [source]
    for fmt in ("svg", "png"):
        path = target / f"{env}.{fmt}"
        subprocess.run([dot, f"-T{fmt}", "-o", str(path), str(source)], check=True)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("environments", nargs="*", default=["dev", "staging", "prod"])
    args = parser.parse_args(argv)
    for env in args.environments:
        print(", ".join(str(p.relative_to(ROOT)) for p in render(env)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
