#!/usr/bin/env python3
"""`make cost ENV=…`: the monthly cost estimate of an environment, from its synthesized stack, offline.

    python -m tools.cost.cost dev [--synth-out cdktf.out]

Counts what the stack creates (NAT gateways and their public IPv4 addresses, load balancers, Fargate services
with their task sizes, minimum tasks and Spot share, the database's class, Multi-AZ, storage and proxy, the
CloudFront distribution, web ACLs and their rules, KMS keys, secrets, alarms, dashboards, API Gateway caches,
interface endpoints, Config, GuardDuty, CloudTrail where present) and prices it with tools/cost/prices.py (per
region: each resource's provider decides it) and the usage assumptions of `[cost.usage]` in
environments/<env>.toml (modules/cost.py `CostUsage`: traffic, data, logs, storage per class). Prints the estimate per
service, the total, the price table's date, and the total against `cost.monthly_budget_usd` (a warning from
80 %). A bad config value: one line naming file, field and value, exit 2. Free tiers are not deducted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools.cost.prices import APIGW_CACHE_HOUR, HOURS_PER_MONTH, PRICES_DATE, RDS_CLASSES, RDS_VCPUS, price

ROOT = Path(__file__).resolve().parents[2]
BUDGET_WARNING = 0.8
REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.")


@dataclass
class Line:
    service: str
    item: str
    quantity: float
    unit_price: float
    region: str

    @property
    def usd(self) -> float:
        return self.quantity * self.unit_price


@dataclass
class Estimate:
    env: str
    lines: list[Line] = field(default_factory=list)

    @property
    def services(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, 0.0) + line.usd
        return dict(sorted(totals.items(), key=lambda item: -item[1]))

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def as_json(self) -> dict:
        return {
            "env": self.env,
            "total": round(self.total, 4),
            "prices_date": PRICES_DATE,
            "services": {k: round(v, 4) for k, v in self.services.items()},
            "lines": [dict(asdict(line), usd=round(line.usd, 4)) for line in self.lines],
        }


def _count(body: dict) -> int:
    count = body.get("count", 1)
    return count if isinstance(count, int) else 1


def _regions(config: dict) -> dict[str, str]:
    """provider reference (`aws`, `aws.edge`) -> region."""
    found = {}
    for provider in config.get("provider", {}).get("aws", []):
        found["aws" + (f".{provider['alias']}" if provider.get("alias") else "")] = provider.get("region", "")
    return found


@dataclass
class _Pricing:
    """What every part of the estimate needs: the stack's resources, its providers' regions, the usage, the lines."""

    est: Estimate
    resources: dict
    regions: dict[str, str]
    usage: object

    @property
    def home(self) -> str:
        return self.regions.get("aws", "")

    def of(self, rtype: str) -> dict[str, dict]:
        return self.resources.get(rtype, {})

    def region_of(self, body: dict) -> str:
        return self.regions.get(body.get("provider", "aws"), self.home)

    def add(
        self, service: str, item: str, quantity: float, key: str, body: dict | None = None, region: str | None = None
    ) -> None:
        region = region or (self.region_of(body) if body else self.home)
        self.est.lines.append(Line(service, item, quantity, price(region, key), region))


def estimate(env: str, config: dict, usage) -> Estimate:
    """The monthly estimate of one synthesized stack, with `usage` (a modules.cost.CostUsage)."""
    pricing = _Pricing(Estimate(env), config.get("resource", {}), _regions(config), usage)
    for part in (
        _network,
        _load_balancers,
        _fargate,
        _databases,
        _edge_and_api,
        _keys_and_monitoring,
        _storage,
        _account_services,
    ):
        part(pricing)
    return pricing.est


def _network(c: _Pricing) -> None:
    """NAT gateways (hours per gateway; data shared), their public IPv4 addresses, interface endpoints."""
    hours, usage = HOURS_PER_MONTH, c.usage
    nats = list(c.of("aws_nat_gateway").values())
    for name, body in c.of("aws_nat_gateway").items():
        c.add("NAT gateways", f"{name}: hours", hours * _count(body), "nat_gateway_hour", body)
    if nats:
        c.add("NAT gateways", "data processed (cost.usage.nat_data_gb)", usage.nat_data_gb, "nat_gateway_gb", nats[0])
    for name, body in c.of("aws_eip").items():
        c.add("Public IPv4", f"{name}: hours", hours * _count(body), "public_ipv4_hour", body)
    for name, body in c.of("aws_vpc_endpoint").items():
        if body.get("vpc_endpoint_type") == "Interface":
            zones = max(1, len(body.get("subnet_ids") or []))
            c.add("VPC endpoints", f"{name}: {zones} zone(s)", hours * zones, "interface_endpoint_hour", body)


def _load_balancers(c: _Pricing) -> None:
    hours = HOURS_PER_MONTH
    for name, body in c.of("aws_lb").items():
        if body.get("load_balancer_type", "application") == "application":
            c.add("Load balancer", f"{name}: hours", hours * _count(body), "alb_hour", body)
            c.add(
                "Load balancer",
                f"{name}: LCU-hours (cost.usage.alb_lcu)",
                hours * c.usage.alb_lcu,
                "alb_lcu_hour",
                body,
            )


def _fargate(c: _Pricing) -> None:
    """Per service, its task size, its tasks (minimum of its scaling target, plus usage), the Spot share."""
    hours, usage = HOURS_PER_MONTH, c.usage
    definitions = c.of("aws_ecs_task_definition")
    targets = {
        m.group(2): body
        for body in c.of("aws_appautoscaling_target").values()
        for m in REFERENCE.finditer(str(body.get("resource_id", "")))
        if m.group(1) == "aws_ecs_service"
    }
    for name, service in c.of("aws_ecs_service").items():
        definition = next(
            (
                definitions[m.group(2)]
                for m in REFERENCE.finditer(str(service.get("task_definition")))
                if m.group(2) in definitions
            ),
            None,
        )
        if not definition:
            continue
        vcpu, memory_gb = int(definition.get("cpu", 256)) / 1024, int(definition.get("memory", 512)) / 1024
        minimum = targets.get(name, {}).get("min_capacity", service.get("desired_count", 0))
        worker = "worker" in name
        task_hours = (
            usage.worker_task_hours
            if worker and minimum == 0
            else hours * (minimum + (0 if worker else usage.extra_api_tasks))
        )
        spot = spot_share(service.get("capacity_provider_strategy") or [], max(1, round(task_hours / hours)))
        region = c.region_of(service)
        for kind, share, factor in (("on-demand", 1 - spot, 1.0), ("Spot", spot, price(region, "fargate_spot_factor"))):
            if share <= 0:
                continue
            label = f"{name}: {task_hours * share:.0f} {kind} task-hours of {vcpu:g} vCPU/{memory_gb:g} GB"
            c.est.lines.append(
                Line(
                    "Fargate",
                    label + " (vCPU)",
                    task_hours * share * vcpu,
                    price(region, "fargate_vcpu_hour") * factor,
                    region,
                )
            )
            c.est.lines.append(
                Line(
                    "Fargate",
                    label + " (memory)",
                    task_hours * share * memory_gb,
                    price(region, "fargate_gb_hour") * factor,
                    region,
                )
            )


def _databases(c: _Pricing) -> None:
    hours, usage = HOURS_PER_MONTH, c.usage
    for name, body in c.of("aws_db_instance").items():
        region, klass = c.region_of(body), body.get("instance_class", "")
        copies = 2 if body.get("multi_az") else 1
        if klass not in RDS_CLASSES.get(region, {}):
            raise KeyError(f"tools/cost/prices.py: no RDS price for {klass!r} in {region}")
        c.est.lines.append(
            Line(
                "RDS",
                f"{name}: {klass} × {copies} (Multi-AZ)" if copies > 1 else f"{name}: {klass}",
                hours * copies,
                RDS_CLASSES[region][klass],
                region,
            )
        )
        c.add(
            "RDS",
            f"{name}: {body.get('allocated_storage', 20)} GB storage × {copies}",
            body.get("allocated_storage", 20) * copies,
            "rds_storage_gb_month",
            body,
        )
        if usage.database_backup_gb:
            c.add(
                "RDS",
                "backup storage (cost.usage.database_backup_gb)",
                usage.database_backup_gb,
                "rds_backup_gb_month",
                body,
            )
    for name, body in c.of("aws_db_proxy").items():
        classes = [b.get("instance_class", "") for b in c.of("aws_db_instance").values()]
        vcpus = max(2, max((RDS_VCPUS.get(k, 2) for k in classes), default=2))
        c.add("RDS Proxy", f"{name}: {vcpus} vCPU", hours * vcpus, "rds_proxy_vcpu_hour", body)


def _edge_and_api(c: _Pricing) -> None:
    usage = c.usage
    for name in c.of("aws_cloudfront_distribution"):
        c.add(
            "CloudFront",
            f"{name}: data out (cost.usage.cloudfront_data_gb)",
            usage.cloudfront_data_gb,
            "cloudfront_gb",
            region="global",
        )
        c.add(
            "CloudFront",
            f"{name}: HTTPS requests (millions)",
            usage.cloudfront_requests_millions,
            "cloudfront_million_https",
            region="global",
        )
    for name, body in c.of("aws_wafv2_web_acl").items():
        rules = len(body.get("rule") or [])
        c.add("WAF", f"{name}: web ACL", 1, "waf_acl_month", body)
        if rules:
            c.add("WAF", f"{name}: {rules} rules", rules, "waf_rule_month", body)
        c.add("WAF", f"{name}: requests (millions)", usage.waf_requests_millions, "waf_million_requests", body)
    for name, body in c.of("aws_api_gateway_rest_api").items():
        c.add(
            "API Gateway", f"{name}: requests (millions)", usage.api_requests_millions, "apigw_million_requests", body
        )
    for name, body in c.of("aws_api_gateway_stage").items():
        if body.get("cache_cluster_enabled"):
            size = str(body.get("cache_cluster_size", "0.5"))
            c.est.lines.append(
                Line(
                    "API Gateway",
                    f"{name}: cache {size} GB",
                    HOURS_PER_MONTH,
                    APIGW_CACHE_HOUR[size],
                    c.region_of(body),
                )
            )


COUNTED = (
    ("aws_kms_key", "KMS", "kms_key_month", "keys"),
    ("aws_secretsmanager_secret", "Secrets Manager", "secret_month", "secrets"),
    ("aws_cloudwatch_metric_alarm", "CloudWatch", "cloudwatch_alarm_month", "alarms"),
    ("aws_cloudwatch_dashboard", "CloudWatch", "cloudwatch_dashboard_month", "dashboards"),
)


def _keys_and_monitoring(c: _Pricing) -> None:
    """Keys, secrets, alarms and dashboards per region; logs ingested and kept."""
    for rtype, service, key, label in COUNTED:
        by_region: dict[str, int] = {}
        for body in c.of(rtype).values():
            by_region[c.region_of(body)] = by_region.get(c.region_of(body), 0) + _count(body)
        for region, count in sorted(by_region.items()):
            c.add(service, f"{count} {label} ({region})", count, key, region=region)
    if c.of("aws_cloudwatch_log_group"):
        c.add("CloudWatch", "log ingestion (cost.usage.log_ingest_gb)", c.usage.log_ingest_gb, "cloudwatch_logs_gb")
        c.add(
            "CloudWatch",
            "log storage (cost.usage.log_storage_gb)",
            c.usage.log_storage_gb,
            "cloudwatch_logs_storage_gb_month",
        )


S3_CLASSES = (
    ("s3_standard_gb", "s3_standard_gb_month", "Standard"),
    ("s3_standard_ia_gb", "s3_standard_ia_gb_month", "Standard-IA"),
    ("s3_glacier_ir_gb", "s3_glacier_ir_gb_month", "Glacier Instant Retrieval"),
    ("s3_deep_archive_gb", "s3_deep_archive_gb_month", "Glacier Deep Archive"),
)


def _storage(c: _Pricing) -> None:
    """S3 per storage class (the GB come from the usage, the buckets from the stack)."""
    if c.of("aws_s3_bucket"):
        for field_name, key, label in S3_CLASSES:
            if getattr(c.usage, field_name):
                c.add("S3", f"{label} (cost.usage.{field_name})", getattr(c.usage, field_name), key)


def _account_services(c: _Pricing) -> None:
    """Config, GuardDuty and CloudTrail, where the stack creates them."""
    usage = c.usage
    if c.of("aws_config_configuration_recorder"):
        c.add("Config", "configuration items (cost.usage.config_items)", usage.config_items, "config_item")
    if c.of("aws_guardduty_detector"):
        c.add(
            "GuardDuty",
            "CloudTrail events analysed (millions)",
            usage.cloudtrail_events_millions,
            "guardduty_million_events",
        )
    for name, body in c.of("aws_cloudtrail").items():
        if body.get("event_selector") or body.get("advanced_event_selector"):
            c.add(
                "CloudTrail",
                f"{name}: data events (per 100,000)",
                usage.cloudtrail_events_millions * 10,
                "cloudtrail_100k_data_events",
                body,
            )


def spot_share(strategy: list[dict], tasks: int) -> float:
    """The share of `tasks` ECS places on FARGATE_SPOT: `base` tasks on their provider first, the rest by weight."""
    if not strategy:
        return 0.0
    placed = {item["capacity_provider"]: 0.0 for item in strategy}
    remaining = float(tasks)
    for item in strategy:
        base = min(remaining, item.get("base", 0) or 0)
        placed[item["capacity_provider"]] += base
        remaining -= base
    weights = sum(item.get("weight", 0) or 0 for item in strategy)
    if remaining > 0 and weights:
        for item in strategy:
            placed[item["capacity_provider"]] += remaining * (item.get("weight", 0) or 0) / weights
    return placed.get("FARGATE_SPOT", 0.0) / tasks if tasks else 0.0


def load_usage(env: str, directory: Path | None = None):
    """The environment's validated cost config (environments/config.py: ConfigError on a bad value)."""
    import fast_bindings

    fast_bindings.install()  # the config classes' modules import the AWS bindings: lazily, as the synth does
    from environments.config import ENVIRONMENTS_DIR, load_environment

    return load_environment(env, directory or ENVIRONMENTS_DIR).cost


def compare(env: str, base_out: Path, head_out: Path, base_ref: str = "") -> dict:
    """The estimate of base and head (the head's usage assumptions for both: the delta is what the change does)."""
    cost = load_usage(env)
    read = (
        lambda out: json.loads((out / "stacks" / env / "cdk.tf.json").read_text())
        if (out / "stacks" / env / "cdk.tf.json").is_file()
        else None
    )
    base, head = read(base_out), read(head_out)
    return {
        "base": estimate(env, base, cost.usage).as_json() if base else None,
        "head": estimate(env, head, cost.usage).as_json() if head else None,
        "threshold_usd": cost.review_threshold_usd,
        "budget_usd": cost.monthly_budget_usd,
        "prices_date": PRICES_DATE,
    }


def report(est: Estimate, budget: float) -> tuple[str, bool]:
    lines = [
        f"{est.env}: estimated monthly cost (offline price table of {PRICES_DATE}, tools/cost/prices.py; usage "
        f"assumptions: environments/{est.env}.toml [cost.usage])",
        "",
    ]
    for service, usd in est.services.items():
        lines.append(f"  {service:<18} ${usd:>10,.2f}")
    lines.append(f"  {'total':<18} ${est.total:>10,.2f}")
    share = est.total / budget if budget else 0
    warn = share >= BUDGET_WARNING
    lines += [
        "",
        f"budget cost.monthly_budget_usd = {budget:,.0f} USD: the estimate is {share:.0%} of it"
        + (" — WARNING: at or above 80 %" if warn else ""),
    ]
    return "\n".join(lines), warn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env")
    parser.add_argument("--synth-out", type=Path, default=ROOT / "cdktf.out")
    parser.add_argument("--detail", action="store_true", help="every priced line")
    parser.add_argument("--config-dir", type=Path, help="the environment files (default: environments/)")
    args = parser.parse_args(argv)
    import fast_bindings

    fast_bindings.install()
    from environments.config import ConfigError

    try:
        cost = load_usage(args.env, args.config_dir)
    except ConfigError as error:  # one line naming file, field and value
        print(error, file=sys.stderr)
        return 2
    stack = args.synth_out / "stacks" / args.env / "cdk.tf.json"
    if not stack.is_file():
        print(f"cost: {stack} missing: run `make synth` first", file=sys.stderr)
        return 1
    est = estimate(args.env, json.loads(stack.read_text()), cost.usage)
    text, warn = report(est, cost.monthly_budget_usd)
    print(text)
    if args.detail:
        for line in est.lines:
            print(
                f"  {line.service:<16} {line.item:<70} {line.quantity:>10,.2f} × {line.unit_price:<9g} "
                f"{line.region:<13} ${line.usd:,.2f}"
            )
    if warn:
        print(f"cost: {args.env}'s estimate is at or above 80 % of its budget", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
