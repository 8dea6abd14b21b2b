"""Usage assumptions of the cost estimate (`make cost`, tools/cost.py): `[cost.usage]` in environments/*.toml.

What the synthesized stack cannot say: how much traffic, data and log volume an environment sees in a month.
Every field has a default (a small environment) and limits; a bad value is one line naming the file, the field
and the value (`environments/dev.toml: cost.usage.nat_data_gb = -1: must be 0-1000000 GB`). Pure Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from modules.limits import Range


@dataclass(frozen=True, kw_only=True)
class CostUsage:
    """Monthly usage per environment; the resources themselves (counts, sizes, classes) come from the stack."""
    nat_data_gb: Annotated[float, Range(0, 1_000_000, "GB")] = 100.0  # GB through the NAT gateways, all together
    alb_lcu: Annotated[float, Range(0, 10_000, "LCU")] = 1.0  # average load balancer capacity units per hour
    extra_api_tasks: Annotated[float, Range(0, 1_000, "tasks")] = 0.0  # API tasks above min_tasks, on average
    worker_task_hours: Annotated[float, Range(0, 1_000_000, "hours")] = 100.0  # worker task-hours (they scale from 0)
    database_backup_gb: Annotated[float, Range(0, 1_000_000, "GB")] = 0.0  # backup storage beyond the allocated size
    cloudfront_data_gb: Annotated[float, Range(0, 10_000_000, "GB")] = 100.0  # CDN data out to viewers
    cloudfront_requests_millions: Annotated[float, Range(0, 100_000, "million")] = 1.0  # CDN HTTPS requests
    api_requests_millions: Annotated[float, Range(0, 100_000, "million")] = 1.0  # API Gateway requests
    waf_requests_millions: Annotated[float, Range(0, 100_000, "million")] = 2.0  # requests inspected by each web ACL
    log_ingest_gb: Annotated[float, Range(0, 1_000_000, "GB")] = 5.0  # CloudWatch Logs ingested
    log_storage_gb: Annotated[float, Range(0, 1_000_000, "GB")] = 10.0  # CloudWatch Logs kept
    s3_standard_gb: Annotated[float, Range(0, 100_000_000, "GB")] = 50.0  # videos and uploads in S3 Standard
    s3_standard_ia_gb: Annotated[float, Range(0, 100_000_000, "GB")] = 0.0  # in Standard-IA (lifecycle)
    s3_glacier_ir_gb: Annotated[float, Range(0, 100_000_000, "GB")] = 0.0  # in Glacier Instant Retrieval
    s3_deep_archive_gb: Annotated[float, Range(0, 100_000_000, "GB")] = 0.0  # in Glacier Deep Archive
    config_items: Annotated[float, Range(0, 100_000_000, "items")] = 1000.0  # AWS Config items (where recorded)
    cloudtrail_events_millions: Annotated[float, Range(0, 100_000, "million")] = 1.0  # events for GuardDuty/CloudTrail
