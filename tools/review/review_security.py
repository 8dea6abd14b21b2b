"""checkov for the review: the stacks a change touches, scanned on the base and on the head, compared.

    from tools.review.review_security import scan_side
    results = scan_side(out / "stacks", ["dev"], work)   # [{"stack", "failed", "skips"}], JSON-ready

Each stack's cdk.tf.json is scanned (checkov's terraform_json framework; with `plans`, its offline plan JSON too, as
tools.scan.scan does) with the baseline of its declared skips (modules/checkov.py), by tools.scan.scan's forking
worker (one checkov import). Results are kept under `work/cache/<sha256 of the inputs>/`: a stack the change does
not touch, or a base scanned before, is not scanned again. tools.review.review_render compares the two sides:
findings introduced and fixed, skips added and removed with their reasons.

`sarif_to_constructs` rewrites a checkov SARIF file so each result points at the construct that made the
resource (its construct path as a logical location and in the message) and, where the synthesized metadata holds
a creation stack trace (cdktf writes `//.metadata.stackTrace` when stack traces are enabled), at the Python file
and line in the repository that created it; otherwise at the construct's module source file when one is known
— never at the generated, git-ignored cdktf.out/…/cdk.tf.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tools.scan.scan import CHECKOV_ENV, POLICIES, SKIP_KEY, baseline, declared_skips

ROOT = Path(__file__).resolve().parents[2]
CHECKOV_VERSION_KEY = "checkov-terraform_json-v1"


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256(CHECKOV_VERSION_KEY.encode())
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:24]


def scan_side(
    out: Path, stacks: list[str], work: Path, plans: dict[str, Path] | None = None, jobs: int = 2
) -> list[dict]:
    """checkov on each stack of `out` (a folder of <stack>/cdk.tf.json); cached by content."""
    return scan_many([(out, stack, (plans or {}).get(stack)) for stack in stacks], work, jobs)


def scan_sides(base: Path, head: Path, stacks: list[str], work: Path, jobs: int = 2) -> dict[str, list[dict]]:
    """Both sides in one checkov batch: {"base": [...], "head": [...]} (a stack missing on a side: no result)."""
    entries = [
        (side, stack)
        for side, out in (("base", base), ("head", head))
        for stack in stacks
        if (out / stack / "cdk.tf.json").is_file()
    ]
    outs = {"base": base, "head": head}
    results = scan_many([(outs[side], stack, None) for side, stack in entries], work, jobs)
    found = {"base": [], "head": []}
    for (side, _), result in zip(entries, results, strict=False):
        found[side].append(result)
    return found


def _policies() -> bytes:
    """The custom policies checkov loads, by content: a changed policy is a new scan, never a cached one."""
    return b"".join(path.name.encode() + path.read_bytes() for path in sorted(POLICIES.glob("*.py")))


def _cache_key(out: Path, stack: str, plan: Path | None) -> str:
    """The cache folder's name for one stack: its name, its config, its plan and the policies, by content."""
    config = (out / stack / "cdk.tf.json").read_bytes()
    return _digest(stack.encode(), config, plan.read_bytes() if plan else b"", _policies())


def _prepare(folder: Path, out: Path, stack: str) -> None:
    """The scanned copy of the stack's config and the baseline of its declared skips, in its cache folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results_json.json").unlink(missing_ok=True)
    shutil.copy2(out / stack / "cdk.tf.json", folder / "cdk.tf.json")
    (folder / "baseline.json").write_text(json.dumps(baseline(declared_skips(stack, out)), indent=2))


def _checkov_argv(folder: Path, plan: Path | None) -> list[str]:
    return [
        "--skip-download",
        "--framework",
        "terraform_json",
        *(["terraform_plan"] if plan else []),
        "-f",
        str(folder / "cdk.tf.json"),
        *(["-f", str(plan)] if plan else []),
        "--external-checks-dir",
        str(POLICIES),  # the platform's own invariants (CKV_VIDEO_*), as tools.scan
        "--baseline",
        str(folder / "baseline.json"),
        "--output-baseline-as-skipped",
        "--compact",
        "-o",
        "json",
        "-o",
        "sarif",
        "--output-file-path",
        str(folder),
    ]


def _run_checkov(todo: list[tuple[int, str, Path, dict]], jobs: int) -> None:
    """One batch through tools.scan.scan's forking worker; each stack's result.json written in its folder."""
    batch = subprocess.run(
        [sys.executable, "-m", "tools.scan.scan", "--fork-checkov", str(jobs)],
        cwd=ROOT,
        input=json.dumps([command for *_, command in todo]),
        capture_output=True,
        text=True,
        env=dict(os.environ, **CHECKOV_ENV),
    )
    if batch.returncode != 0:
        raise RuntimeError(f"checkov could not be started (exit {batch.returncode}): {batch.stderr[-2000:]}")
    for (_index, stack, folder, _), code in zip(todo, json.loads(batch.stdout), strict=False):
        report = folder / "results_json.json"
        if code not in (0, 1) or not report.is_file():
            log = folder / "checkov.log"
            raise RuntimeError(
                f"checkov failed on {stack} (exit {code}): {log.read_text()[-2000:] if log.is_file() else ''}"
            )
        (folder / "result.json").write_text(json.dumps(_result(stack, folder), indent=1))


def scan_many(entries: list[tuple[Path, str, Path | None]], work: Path, jobs: int = 2) -> list[dict]:
    work = work.resolve()  # checkov runs in each stack's folder: every path it gets is absolute
    entries = [(out.resolve(), stack, plan.resolve() if plan else None) for out, stack, plan in entries]
    results, todo = {}, []
    for index, (out, stack, plan) in enumerate(entries):
        folder = work / "cache" / _cache_key(out, stack, plan)
        if (folder / "result.json").is_file():
            results[index] = json.loads((folder / "result.json").read_text())
            continue
        if any(f == folder for _, _, f, _ in todo):  # the same input twice (an untouched stack): scanned once
            continue
        _prepare(folder, out, stack)
        todo.append((index, stack, folder, {"argv": _checkov_argv(folder, plan), "cwd": str(folder)}))
    if todo:
        _run_checkov(todo, jobs)
    for index, (out, stack, plan) in enumerate(entries):
        if index not in results:
            results[index] = json.loads((work / "cache" / _cache_key(out, stack, plan) / "result.json").read_text())
    return [results[index] for index in range(len(entries))]


def _result(stack: str, folder: Path) -> dict:
    """Failed checks by `<type>.<name>` and the declared skips of the scanned copy (`folder/cdk.tf.json`)."""
    config = json.loads((folder / "cdk.tf.json").read_text())
    names = {name: f"{rtype}.{name}" for rtype, named in config.get("resource", {}).items() for name in named}
    reports = json.loads((folder / "results_json.json").read_text())
    reports = reports if isinstance(reports, list) else [reports]
    failed = sorted(
        {
            (f["check_id"], _address(f["resource"], names), f["check_name"])
            for r in reports
            for f in r["results"]["failed_checks"]
        }
    )
    skips = _skips(stack, config)
    return {"stack": stack, "failed": [list(f) for f in failed], "skips": skips}


def _skips(stack: str, config: dict) -> list[list[str]]:
    return sorted(
        [stack, f"{rtype}.{name}", check_id, reason]
        for rtype, named in config.get("resource", {}).items()
        for name, body in named.items()
        for check_id, reason in body.get("//", {}).get(SKIP_KEY, {}).items()
    )


def _address(resource: str, names: dict[str, str]) -> str:
    """checkov names a plan's resource `<type>.<name>` and a JSON one `resource.<name>`: `<type>.<name>` both."""
    if resource.startswith("resource."):
        return names.get(resource.split(".", 1)[1], resource)
    return resource


# ---------------------------------------------------------------------------------------------- SARIF

STACK_FRAME = re.compile(r"\(?(/[^\s:()]+\.py):(\d+)")


def creation_site(body: dict, root: Path = ROOT) -> tuple[str, int] | None:
    """The first frame of the resource's creation stack trace inside the repository (not in a library): the
    Python file (relative) and line that created it, where the synthesized metadata carries a trace."""
    metadata = body.get("//", {}).get("metadata", {})
    for frame in metadata.get("stackTrace") or []:
        match = STACK_FRAME.search(str(frame))
        if not match:
            continue
        path = Path(match.group(1))
        try:
            relative = path.resolve().relative_to(root)
        except ValueError:
            continue
        if relative.parts[0] in (".venv", "node_modules") or relative.parts[0].startswith("cdktf"):
            continue
        return str(relative), int(match.group(2))
    return None


def construct_source(path: str, root: Path = ROOT) -> tuple[str, int] | None:
    """Without a stack trace: the module named by the construct path (`dev/database/primary` ->
    modules/database.py) and the line that passes the construct's id (`"primary"`), else the module's line 1."""
    parts = path.split("/")[1:]
    for index, part in enumerate(parts):
        module = root / "modules" / f"{part.replace('-', '_')}.py"
        if not module.is_file():
            continue
        text = module.read_text().splitlines()
        for name in reversed(parts[index + 1 :]):
            for number, line in enumerate(text, 1):
                if f'"{name}"' in line:
                    return str(module.relative_to(root)), number
        return str(module.relative_to(root)), 1
    return None


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.review.review_security sarif build/scan [cdktf.out/stacks]`: every stack's SARIF rewritten."""
    import argparse

    parser = argparse.ArgumentParser(description="checkov SARIF located at constructs and Python source")
    parser.add_argument("command", choices=["sarif"])
    parser.add_argument("scan_dir", type=Path)
    parser.add_argument("synth_out", type=Path, nargs="?", default=ROOT / "cdktf.out" / "stacks")
    args = parser.parse_args(argv)
    for sarif_file in sorted(args.scan_dir.glob("*/results_sarif.sarif")):
        stack = sarif_file.parent.name
        config = json.loads((args.synth_out / stack / "cdk.tf.json").read_text())
        sarif = sarif_to_constructs(json.loads(sarif_file.read_text()), config, stack)
        sarif_file.write_text(json.dumps(sarif, indent=1))
        print(f"{sarif_file}: {sum(len(r.get('results', [])) for r in sarif.get('runs', []))} results at constructs")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def sarif_to_constructs(sarif: dict, config: dict, stack: str, root: Path = ROOT) -> dict:
    """Each result located at its construct: the construct path as a logical location and in the message; the
    creating Python file and line where the metadata allows; the stack's module source otherwise."""
    bodies = {
        f"{rtype}.{name}": body for rtype, named in config.get("resource", {}).items() for name, body in named.items()
    }
    for run in sarif.get("runs", []):
        for result in run.get("results", []):
            address = _result_address(result, bodies)
            body = bodies.get(address, {})
            path = body.get("//", {}).get("metadata", {}).get("path", "")
            file, line = creation_site(body, root) or construct_source(path, root) or ("main.py", 1)
            result["locations"] = [
                {
                    "physicalLocation": {"artifactLocation": {"uri": file}, "region": {"startLine": line}},
                    "logicalLocations": [{"fullyQualifiedName": path or address, "kind": "resource"}],
                }
            ]
            text = result.get("message", {}).get("text", "")
            result["message"] = {"text": f"{text} — {stack}: {address}" + (f" (construct {path})" if path else "")}
    return sarif


SNIPPET_NAME = re.compile(r'^\s*"([^"]+)": \{', re.MULTILINE)


def _result_address(result: dict, bodies: dict[str, dict]) -> str:
    """The resource a SARIF result is about: the name that opens its snippet (checkov quotes the resource's block
    of the indented cdk.tf.json), else the longest address named anywhere in the result."""
    names = {address.split(".", 1)[1]: address for address in bodies}
    for location in result.get("locations", []):
        snippet = location.get("physicalLocation", {}).get("region", {}).get("snippet", {}).get("text", "")
        match = SNIPPET_NAME.search(snippet)
        if match and match.group(1) in names:
            return names[match.group(1)]
    text = json.dumps(result)
    found = [address for address in bodies if address in text]
    if found:
        return max(found, key=len)
    found = [name for name in names if f"resource.{name}" in text or f".{name}" in text]
    return names[max(found, key=len)] if found else ""
