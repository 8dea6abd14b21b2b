"""Per-resource checkov suppressions, written next to the resource they cover.

`skip(resource, "CKV_AWS_18", "why")` records the suppression in the resource's
`//` block of the synthesized JSON (Terraform ignores `//` keys). `tools/scan/scan.py`
collects every such record into a checkov baseline, so a skip covers exactly one
check on exactly one resource, and the scan prints each one with its reason.
"""

from __future__ import annotations

from cdktf import TerraformResource

SKIP_KEY = "checkov_skip"


def short_log_retention(log_group: TerraformResource, days: int, environment: str) -> None:
    """CKV_AWS_338 asks for a year of log retention; an environment may keep less by config (cost)."""
    if days < 365:
        skip(
            log_group,
            "CKV_AWS_338",
            f"{environment}: {days}-day log retention chosen in config (cost); the prod-safe default is 365.",
        )


def skip(resource: TerraformResource, check_id: str, reason: str) -> None:
    if not check_id.startswith("CKV") or len(reason.strip()) < 20:
        raise ValueError(f"checkov skip {check_id!r} on {resource.node.id!r}: needs a check id and a real reason")
    resource.add_override(f"//.{SKIP_KEY}.{check_id}", reason)
