"""What every CKV_VIDEO_* check shares: the whole synthesized configuration (cdk.tf.json) the checked resource
comes from, and the references between its resources.

checkov hands a Python resource check one resource at a time (`scan_resource_conf(conf)`), and on the
terraform_json framework it gives Python checks no graph (`check.graph` is None there). An invariant over
several resources therefore reads the file the resource came from: checkov sets `check.entity_path` to
`<scanned file>:<type>:<name>` before it calls the check, the scanned file relative to checkov's working
directory. The checks read cdk.tf.json, not the plan: it keeps every reference (`${aws_lb.x.dns_name}`) that the
plan leaves unknown until apply, and `lifecycle.prevent_destroy`, which a plan JSON does not carry. On a plan
(terraform_plan framework) `Policy.scan_resource_conf` answers UNKNOWN, which checkov does not report.

This file is loaded by checkov like the checks (it registers none), and imported by them by its own name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

REFERENCE = re.compile(r"\$\{\s*([A-Za-z0-9_]+)\.([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_]+|\[[0-9]+\])*)\s*\}")
# A reference anywhere inside an expression: `${tolist(aws_x.y.z).0.a}` too.
INNER_REFERENCE = re.compile(r"\b(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])*)")
_DOCUMENTS: dict[tuple[str, int, int], dict | None] = {}


def load(path: str) -> dict | None:
    """The JSON document at `path` (kept while the file is unchanged); None if it is not a Terraform JSON config."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _DOCUMENTS:
        try:
            with open(path, encoding="utf-8") as file:
                document = json.load(file)
        except (OSError, ValueError):
            document = None
        if not isinstance(document, dict) or "planned_values" in document or "resource_changes" in document:
            document = None  # a plan JSON: its references are unknown values, its lifecycle is gone
        _DOCUMENTS[key] = document
    return _DOCUMENTS[key]


def scanned_path(entity_path: str) -> str:
    """checkov's `<scanned file>:<type>:<name>` back to a file path (the scanned file is relative to its cwd)."""
    scanned = entity_path.rsplit(":", 2)[0]
    relative = os.path.normpath(os.path.join(os.getcwd(), scanned.lstrip("/")))
    return relative if os.path.exists(relative) else scanned


class Config:
    """The resources of one synthesized configuration, with reference helpers."""

    def __init__(self, document: dict):
        self.document = document
        self.resource = document.get("resource", {}) or {}

    def of(self, rtype: str) -> dict[str, dict]:
        return self.resource.get(rtype, {}) or {}

    def get(self, rtype: str, name: str) -> dict | None:
        return self.of(rtype).get(name)

    def resolve(self, value: Any) -> Any:
        """A value that is exactly `${type.name.attr}` of a literal attribute, resolved (one level)."""
        if isinstance(value, str):
            match = REFERENCE.fullmatch(value.strip())
            if match and match.group(3).count(".") == 1 and "[" not in match.group(3):
                body = self.get(match.group(1), match.group(2))
                attribute = match.group(3)[1:]
                if body is not None and isinstance(body.get(attribute), (str, int, float, bool)):
                    found = body.get(attribute)
                    return found if not isinstance(found, str) or "${" not in found else value
        return value


def render(config: Config, text: Any) -> str:
    """`text` with each `${type.name.attr}` whose target is a literal replaced by it, blanks dropped."""

    def literal(match: re.Match) -> str:
        resolved = config.resolve(match.group(0))
        return str(resolved) if resolved != match.group(0) else "${{{}.{}{}}}".format(*match.groups())

    return REFERENCE.sub(literal, "".join(str(text).split()))


def references(value: Any) -> Iterator[tuple[str, str, str]]:
    """Every `(type, name, attribute path)` referenced anywhere in a value (strings, lists, dicts)."""
    if isinstance(value, str):
        for expression in re.findall(r"\$\{(.*?)\}", value, flags=re.DOTALL):
            for match in INNER_REFERENCE.finditer(expression):
                yield match.group(1), match.group(2), match.group(3)
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def refers_to(value: Any, rtype: str, name: str) -> bool:
    return any(t == rtype and n == name for t, n, _ in references(value))


def depends_on(body: dict, rtype: str, name: str) -> bool:
    """Ordered after `rtype.name`: named in depends_on or referenced by any attribute."""
    return f"{rtype}.{name}" in (body.get("depends_on") or []) or refers_to(
        {k: v for k, v in body.items() if k != "//"}, rtype, name
    )


def blocks(value: Any) -> list[dict]:
    """A nested block as cdktf writes it: one object or a list of objects."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def containers(body: dict) -> list[dict] | None:
    """The task's container definitions (cdktf writes them as one JSON string); None if not readable here."""
    value = body.get("container_definitions")
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, list) else None


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class Policy(BaseResourceCheck):
    """A check over the whole configuration, reported on one resource: subclasses define `evaluate`, which
    returns (CheckResult, details) and may add a line per problem to `self.details` (shown by checkov)."""

    def __init__(
        self,
        name: str,
        id: str,
        supported_resources: list[str],
        categories: list[CheckCategories] | None = None,
        guideline: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            id=id,
            categories=categories or [CheckCategories.GENERAL_SECURITY],
            supported_resources=supported_resources,
            guideline=guideline or "docs/custom-policies.md",
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        document = load(scanned_path(self.entity_path))
        if document is None:
            return CheckResult.UNKNOWN  # a plan JSON (or an HCL file): read by checkov's own checks
        _, rtype, name = self.entity_path.rsplit(":", 2)
        config = Config(document)
        body = config.get(rtype, name)
        if body is None:
            return CheckResult.UNKNOWN
        problems = self.evaluate(config, rtype, name, body)
        if problems is None:
            return CheckResult.UNKNOWN
        self.details.extend(problems)
        return CheckResult.FAILED if problems else CheckResult.PASSED

    def evaluate(self, config: Config, rtype: str, name: str, body: dict) -> list[str] | None:
        """The problems found (empty: passed; None: not applicable)."""
        raise NotImplementedError
