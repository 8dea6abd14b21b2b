"""The architecture view of one environment, derived from its synthesized `cdk.tf.json` (never drawn by hand).

Every resource type the stacks synthesize has exactly one rule in `RULES`:

    Node(icon, label)      drawn: one icon per resource (or one per region for `aggregate` types)
    Part(parent)           folded into the resource of type `parent` it references (a bucket's versioning)
    UsedBy(users)          folded into whatever uses it (a task definition into its ECS service)
    Container(label)       drawn as a box around what is inside it (the VPC; its subnets make the tiers)
    Hidden(reason)         left out on purpose; the caption says so

`unruled_types()` names the synthesized types without a rule: a test fails on them (and the picture's caption
names them), so a new module can never vanish from the picture. Edges come from the references between
resources (`${aws_x.y.attr}`, and host names that are a certificate's domain), each classified by `FLOWS`
(a request, an upload or its event, replication or backup, an IAM read or write, an alarm, access logs, a
WAF in front) or ignored with a reason; `unclassified()` names the rest (a test fails on them too).
`rows()` stacks the regions and orders each one along its flows; `render()` draws it with the `diagrams`
package, which only it imports: the rules and the model need nothing beyond the standard library.
"""
from __future__ import annotations

import json
import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

PROJECT = "video-ingest"
REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_]+))?")
NOT_REFERENCES = ("//", "depends_on", "lifecycle", "provider", "tags")
REGION_ROLES = {None: "primary", "dr": "DR", "edge": "edge"}
EDGE = "edge"  # CloudFront is a global service: shown with its us-east-1 resources (certificate, WAF, alarms)


# ----------------------------------------------------------------------------------------------- the rules

@dataclass(frozen=True)
class Node:
    icon: str                                  # diagrams class, "<module>.<Class>" under diagrams.aws
    label: Callable[["View", "Res"], str]      # short: name, then what matters (size, counts, retention)
    group: str = ""                            # a box inside the region ("monitoring", "security")
    aggregate: bool = False                    # one node per region for every resource of the type
    region: str | None = None                  # a region role to show it in, instead of its provider's


@dataclass(frozen=True)
class Part:
    parent: str                                # type of the resource it configures, found by reference
    via: tuple[str, ...] = ()                  # only these attributes hold that reference


@dataclass(frozen=True)
class UsedBy:
    users: tuple[str, ...] = ()                # types whose references make it theirs, in preference order
    otherwise: Node | None = None              # drawn like this when nothing uses it


@dataclass(frozen=True)
class Container:
    label: Callable[["View", "Res"], str]


@dataclass(frozen=True)
class Hidden:
    reason: str


Rule = Node | Part | UsedBy | Container | Hidden


@dataclass(frozen=True)
class Res:
    type: str
    name: str
    body: dict
    region: str                                # region role: primary, DR, edge, ...

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.name)

    def get(self, attribute: str, default: Any = None) -> Any:
        return self.body.get(attribute, default)


# Labels ---------------------------------------------------------------------------------------------------

def short(view: "View", name: str) -> str:
    """`video-ingest-prod-videos-333333333333-eu-west-1` -> `videos`."""
    name = re.sub(rf"^{PROJECT}-{re.escape(view.env)}[-/]", "", name)
    name = re.sub(rf"^{PROJECT}-", "", name)
    return re.sub(r"-\d{12}-[a-z]{2}(-[a-z]+)+-\d$", "", name)


def first(items: Iterable[Any], default: Any = None) -> Any:
    return next(iter(items), default)


STORAGE_CLASSES = {"STANDARD_IA": "IA", "ONEZONE_IA": "One Zone-IA", "INTELLIGENT_TIERING": "Intelligent",
                   "GLACIER_IR": "Glacier IR", "GLACIER": "Glacier", "DEEP_ARCHIVE": "Deep Archive"}


def bucket_label(view: "View", res: "Res") -> str:
    """`videos bucket` and what its configuration says that a reader needs: acceleration, tiering, expiry."""
    replica = any(r.source[0] == "aws_s3_bucket_replication_configuration" and r.attribute == "rule"
                  for r in view.into[res.key])
    lines = [f"{short(view, res.get('bucket', res.name))} {'replica' if replica else 'bucket'}"]
    parts = view.parts_of(res)
    if any(p.type == "aws_s3_bucket_accelerate_configuration" and p.get("status") == "Enabled" for p in parts):
        lines.append("Transfer Acceleration")
    steps = []
    for lifecycle in (p for p in parts if p.type == "aws_s3_bucket_lifecycle_configuration"):
        for rule in lifecycle.get("rule", []):
            steps += [f"{STORAGE_CLASSES.get(t['storage_class'], t['storage_class'])} {t.get('days')} d"
                      for t in rule.get("transition", [])]
            prefix = first(f.get("prefix") for f in rule.get("filter", [])) or ""
            steps += [f"{prefix or 'expire'}{' expire' if prefix else ''} {e['days']} d"
                      for e in rule.get("expiration", []) if "days" in e]
    if steps:
        lines.append(" → ".join(steps))
    return "\n".join(lines)


def service_label(view: "View", res: "Res") -> str:
    parts = view.parts_of(res)
    task = first(p for p in parts if p.type == "aws_ecs_task_definition")
    target = first(p for p in parts if p.type == "aws_appautoscaling_target")
    lines = [f"{res.get('name')} service (Fargate)"]
    if task:
        lines.append(f"{task.get('cpu')} CPU / {task.get('memory')} MiB")
    if target:
        lines.append(f"{target.get('min_capacity')}–{target.get('max_capacity')} tasks")
    return "\n".join(lines)


def database_label(view: "View", res: "Res") -> str:
    size = res.get("instance_class", "")
    if res.get("replicate_source_db"):
        return f"read replica\n{size}"
    engine = {"postgres": "PostgreSQL"}.get(res.get("engine"), res.get("engine", "RDS"))
    return f"{engine} {res.get('engine_version', '')}".strip() + \
        f"\n{size}, {'Multi-AZ' if res.get('multi_az') else 'single-AZ'}"


def api_label(view: "View", res: "Res") -> str:
    parts = view.parts_of(res)
    stage = first(p for p in parts if p.type == "aws_api_gateway_stage")
    plans = [p for p in parts if p.type == "aws_api_gateway_usage_plan"]
    lines = ["API Gateway (REST)"]
    if stage:
        lines.append(f"stage {stage.get('stage_name')}" +
                     (f", cache {stage.get('cache_cluster_size')} GB" if stage.get("cache_cluster_enabled") else ""))
    lines.append(f"{len(plans)} usage plan{'s' if len(plans) != 1 else ''}")
    return "\n".join(lines)


def alb_label(view: "View", res: "Res") -> str:
    listeners = sorted((p for p in view.parts_of(res) if p.type == "aws_lb_listener"), key=lambda p: p.get("port"))
    ports = ", ".join(f":{p.get('port')}" + (" → 301" if first(a.get("type") for a in p.get("default_action", []))
                                             == "redirect" else "") for p in listeners)
    return f"ALB\n{ports}" if ports else "ALB"


def distribution_label(view: "View", res: "Res") -> str:
    lines = ["CloudFront", res.get("price_class", "")]
    extras = []
    if res.get("default_cache_behavior", {}).get("trusted_key_groups"):
        extras.append("signed URLs")
    if res.get("origin_group"):
        extras.append("DR failover")
    if extras:
        lines.append(", ".join(extras))
    return "\n".join(line for line in lines if line)


def waf_label(view: "View", res: "Res") -> str:
    scope = "edge" if res.get("scope") == "CLOUDFRONT" else "regional"
    return f"WAF ({scope})\n{len(res.get('rule', []))} rules"


def nat_label(view: "View", res: "Res") -> str:
    subnet = view.resource_at(res.get("subnet_id", ""))
    zone = subnet.get("availability_zone", "") if subnet else ""
    return f"NAT gateway\n{zone}".strip()


def queue_label(view: "View", res: "Res") -> str:
    kept = f"kept {int(res.get('message_retention_seconds', 345600)) // 86400} d"
    if view.referrers(res, "aws_sqs_queue", "redrive_policy"):
        return f"dead-letter queue\n{kept}"
    return f"{short(view, res.get('name', res.name))} queue\n{kept}"


def topic_label(view: "View", res: "Res") -> str:
    emails = [p for p in view.parts_of(res) if p.type == "aws_sns_topic_subscription" and p.get("protocol") == "email"]
    return f"SNS {short(view, res.get('name', res.name))}\n" + \
        (f"{len(emails)} e-mail subscriber{'s' if len(emails) != 1 else ''}" if emails else "no subscribers")


def alarms_label(view: "View", members: list["Res"]) -> str:
    return f"{len(members)} CloudWatch alarm{'s' if len(members) != 1 else ''}"


def repositories_label(view: "View", members: list["Res"]) -> str:
    return "ECR repositories\n" + ", ".join(sorted(short(view, m.get("name", m.name)) for m in members))


def vault_label(view: "View", res: "Res") -> str:
    plan = first(p for p in view.parts_of(res) if p.type == "aws_backup_plan")
    if plan:
        rule = first(plan.get("rule", []), {})
        schedule = "hourly" if rule.get("schedule", "").startswith("cron(0 * * * ") else rule.get("schedule", "")
        return f"Backup vault\n{schedule}, kept {rule.get('lifecycle', {}).get('delete_after', '?')} d"
    if any(r.source[0] == "aws_backup_plan" for r in view.into[res.key]):
        return "Backup vault\nDR copies"
    return f"Backup vault\n{short(view, res.get('name', res.name))}"


def backups_replication_label(view: "View", res: "Res") -> str:
    return f"RDS automated backups\nreplica, {res.get('retention_period')} d"


def role_label(view: "View", res: "Res") -> str:
    trust = res.get("assume_role_policy", "")
    how = "GitHub OIDC" if "token.actions.githubusercontent.com" in trust else \
        "MFA" if "MultiFactorAuthPresent" in trust else ""
    return f"{short(view, res.get('name', res.name))} role" + (f"\n{how}" if how else "")


def budget_label(view: "View", res: "Res") -> str:
    unit = {"MONTHLY": "month", "QUARTERLY": "quarter", "ANNUALLY": "year", "DAILY": "day"}
    return f"Budget\n{res.get('limit_amount')} {res.get('limit_unit')} a {unit.get(res.get('time_unit'), '?')}"


def named(text: str, attribute: str = "name") -> Callable[["View", "Res"], str]:
    def label(view: "View", res: "Res") -> str:
        value = res.get(attribute)
        return text.format(name=short(view, value) if isinstance(value, str) else res.name)
    return label


def fixed(text: str) -> Callable[["View", "Res"], str]:
    return lambda view, res: text


def vpc_label(view: "View", res: "Res") -> str:
    endpoints = sorted(p.get("service_name", "").rsplit(".", 1)[-1] for p in view.parts_of(res)
                       if p.type == "aws_vpc_endpoint")
    zones = {p.get("availability_zone") for p in view.parts_of(res) if p.type == "aws_subnet"}
    text = f"VPC {res.get('cidr_block')}, {len(zones)} AZ{'s' if len(zones) != 1 else ''}"
    return text + (f" · gateway endpoints: {', '.join(endpoints)}" if endpoints else "")


ROLE_NODE = Node("security.IAMRole", role_label, group="security")

_S3_PARTS = ("accelerate_configuration", "cors_configuration", "lifecycle_configuration", "logging",
             "notification", "ownership_controls", "policy", "public_access_block", "replication_configuration",
             "server_side_encryption_configuration", "versioning")

RULES: dict[str, Rule] = {
    # edge and entry
    "aws_cloudfront_distribution": Node("network.CloudFront", distribution_label, region=EDGE),
    "aws_cloudfront_cache_policy": UsedBy(("aws_cloudfront_distribution",)),
    "aws_cloudfront_response_headers_policy": UsedBy(("aws_cloudfront_distribution",)),
    "aws_cloudfront_key_group": UsedBy(("aws_cloudfront_distribution",)),
    "aws_cloudfront_public_key": UsedBy(("aws_cloudfront_key_group",)),
    "aws_cloudfront_origin_access_control": UsedBy(("aws_cloudfront_distribution",)),
    "aws_cloudfront_monitoring_subscription": Part("aws_cloudfront_distribution"),
    "aws_acm_certificate": UsedBy(("aws_acm_certificate_validation",)),
    "aws_acm_certificate_validation": UsedBy(("aws_lb_listener", "aws_cloudfront_distribution")),
    "aws_wafv2_web_acl": Node("security.WAF", waf_label),
    "aws_wafv2_web_acl_association": Part("aws_wafv2_web_acl", via=("web_acl_arn",)),
    "aws_wafv2_web_acl_logging_configuration": Part("aws_wafv2_web_acl", via=("resource_arn",)),
    "aws_api_gateway_rest_api": Node("network.APIGateway", api_label),
    **{f"aws_api_gateway_{kind}": Part("aws_api_gateway_rest_api", via=("rest_api_id",))
       for kind in ("deployment", "integration", "method", "method_settings", "request_validator", "resource",
                    "stage")},
    "aws_api_gateway_usage_plan": Part("aws_api_gateway_rest_api", via=("api_stages",)),
    "aws_api_gateway_usage_plan_key": Part("aws_api_gateway_usage_plan", via=("usage_plan_id",)),
    "aws_api_gateway_api_key": UsedBy(("aws_api_gateway_usage_plan_key",)),
    "aws_api_gateway_client_certificate": UsedBy(("aws_api_gateway_stage",)),
    "aws_api_gateway_account": Hidden("account-wide API Gateway setting (its CloudWatch Logs role)"),
    # network
    "aws_vpc": Container(vpc_label),
    **{f"aws_{kind}": Part("aws_vpc", via=("vpc_id",))
       for kind in ("subnet", "route_table", "network_acl", "security_group", "default_security_group",
                    "flow_log", "vpc_endpoint")},
    "aws_route": Part("aws_route_table", via=("route_table_id",)),
    "aws_route_table_association": Part("aws_route_table", via=("route_table_id",)),
    "aws_network_acl_rule": Part("aws_network_acl"),
    "aws_vpc_security_group_ingress_rule": Part("aws_security_group", via=("security_group_id",)),
    "aws_vpc_security_group_egress_rule": Part("aws_security_group", via=("security_group_id",)),
    "aws_internet_gateway": Node("network.InternetGateway", fixed("Internet gateway")),
    "aws_nat_gateway": Node("network.NATGateway", nat_label),
    "aws_eip": UsedBy(("aws_nat_gateway",)),
    "aws_lb": Node("network.ElbApplicationLoadBalancer", alb_label),
    "aws_lb_listener": Part("aws_lb"),
    "aws_lb_target_group": UsedBy(("aws_lb_listener",)),
    # compute
    "aws_ecs_service": Node("compute.Fargate", service_label),
    "aws_ecs_cluster": UsedBy(("aws_ecs_service",)),
    "aws_ecs_cluster_capacity_providers": Part("aws_ecs_cluster"),
    "aws_ecs_task_definition": UsedBy(("aws_ecs_service",)),
    "aws_appautoscaling_target": Part("aws_ecs_service", via=("resource_id",)),
    "aws_appautoscaling_policy": Part("aws_appautoscaling_target", via=("resource_id",)),
    "aws_service_discovery_service": UsedBy(("aws_ecs_service",)),
    "aws_service_discovery_private_dns_namespace": UsedBy(("aws_service_discovery_service",)),
    "aws_ecr_repository": Node("compute.ECR", repositories_label, group="security", aggregate=True),
    "aws_ecr_lifecycle_policy": Part("aws_ecr_repository"),
    # data
    "aws_s3_bucket": Node("storage.SimpleStorageServiceS3Bucket", bucket_label),
    **{f"aws_s3_bucket_{kind}": Part("aws_s3_bucket", via=("bucket",)) for kind in _S3_PARTS},
    "aws_db_instance": Node("database.RDSPostgresqlInstance", database_label),
    "aws_db_subnet_group": UsedBy(("aws_db_instance",)),
    "aws_db_parameter_group": UsedBy(("aws_db_instance",)),
    "aws_db_instance_automated_backups_replication": Node("database.RDS", backups_replication_label),
    "aws_db_proxy": Node("database.RDS", fixed("RDS Proxy\nTLS, IAM auth, pooled")),
    "aws_db_proxy_default_target_group": Part("aws_db_proxy", via=("db_proxy_name",)),
    "aws_db_proxy_target": Part("aws_db_proxy", via=("db_proxy_name",)),
    "aws_dynamodb_table": Node("database.DynamodbTable", named("DynamoDB\n{name}")),
    "aws_sqs_queue": Node("integration.SimpleQueueServiceSqsQueue", queue_label),
    "aws_sqs_queue_policy": Part("aws_sqs_queue", via=("queue_url",)),
    "aws_sqs_queue_redrive_allow_policy": Part("aws_sqs_queue", via=("queue_url",)),
    "aws_backup_vault": Node("storage.Backup", vault_label),
    "aws_backup_plan": Part("aws_backup_vault", via=("rule",)),
    "aws_backup_selection": Part("aws_backup_plan", via=("plan_id",)),
    # security
    "aws_kms_key": Node("security.KeyManagementService", fixed("KMS key"), group="security"),
    "aws_kms_alias": Part("aws_kms_key"),
    "aws_secretsmanager_secret": Node("security.SecretsManager", named("secret\n{name}"), group="security"),
    "aws_iam_role": UsedBy(otherwise=ROLE_NODE),
    "aws_iam_role_policy": Part("aws_iam_role", via=("role",)),
    "aws_iam_role_policy_attachment": Part("aws_iam_role", via=("role",)),
    # monitoring and cost
    "aws_cloudwatch_log_group": UsedBy(("aws_ecs_task_definition", "aws_api_gateway_stage", "aws_flow_log",
                                        "aws_wafv2_web_acl_logging_configuration"),
                                       # a group a service writes by name (the RDS Proxy's), declared first
                                       otherwise=Node("management.Cloudwatch", named("logs\n{name}"),
                                                      group="monitoring")),
    "aws_cloudwatch_log_metric_filter": Part("aws_cloudwatch_log_group"),
    "aws_cloudwatch_metric_alarm": Node("management.CloudwatchAlarm", alarms_label, group="monitoring",
                                        aggregate=True),
    "aws_cloudwatch_dashboard": Node("management.Cloudwatch", fixed("CloudWatch\ndashboard"), group="monitoring"),
    "aws_sns_topic": Node("integration.SimpleNotificationServiceSnsTopic", topic_label, group="monitoring"),
    "aws_sns_topic_policy": Part("aws_sns_topic", via=("arn",)),
    "aws_sns_topic_subscription": Part("aws_sns_topic"),
    "aws_budgets_budget": Node("cost.Budgets", budget_label, group="monitoring"),
    "aws_ce_anomaly_monitor": Node("cost.CostExplorer", fixed("Cost anomaly\nmonitor"), group="monitoring"),
    "aws_ce_anomaly_subscription": Part("aws_ce_anomaly_monitor"),
    "aws_xray_sampling_rule": Hidden("X-Ray sampling rule (tracing settings, no resource of its own)"),
    "aws_route53_record": Hidden("DNS records in the environment's zone (certificate validation, API and CDN aliases)"),
    "aws_secretsmanager_secret_version": Part("aws_secretsmanager_secret"),
    "terraform_data": Hidden("the final snapshot's name suffix (no AWS resource)"),
    # Only in the account bootstraps (bootstrap-<env>), which have no view: the identities CI deploys through.
    "aws_iam_openid_connect_provider": Hidden("the account bootstrap's GitHub OIDC provider (README: Identities)"),
    "aws_iam_policy": Hidden("the account bootstrap's permissions boundary, carried by every role shown"),
    # The account's SOC 2 / GDPR controls (modules/compliance.py), also only in the account bootstraps.
    **{rtype: Hidden("the account bootstrap's compliance controls (docs/compliance.md)") for rtype in (
        "aws_cloudtrail", "aws_config_configuration_recorder", "aws_config_configuration_recorder_status",
        "aws_config_delivery_channel", "aws_config_config_rule", "aws_guardduty_detector",
        "aws_guardduty_detector_feature", "aws_securityhub_account", "aws_securityhub_standards_subscription",
        "aws_computeoptimizer_enrollment_status")},
    "aws_cloudwatch_event_rule": Hidden("GuardDuty findings to the alarm topic (an EventBridge rule)"),
    "aws_cloudwatch_event_target": Hidden("GuardDuty findings to the alarm topic (an EventBridge rule)"),
}

GROUPS = {"monitoring": "alarms · cost", "security": "keys · secrets · images · roles"}


# ----------------------------------------------------------------------------------------------- the edges

@dataclass(frozen=True)
class Flow:
    kind: str                                   # one of KINDS
    label: Callable[["View", "Res", "Ref"], str] | str = ""
    reverse: bool = False                       # data moves against the reference (a target group -> service)


@dataclass(frozen=True)
class Ignore:
    reason: str


# kind: (legend text, colour, style, pen width, priority when two kinds join the same pair of nodes)
KINDS = {
    "request": ("requests", "#1d4ed8", "solid", "2.2", 0),
    "upload": ("uploads and upload events", "#c2410c", "solid", "2.2", 1),
    "replication": ("replication and backups", "#7e22ce", "dashed", "1.6", 2),
    "data": ("reads and writes (IAM)", "#15803d", "solid", "1.4", 3),   # a write: from the role's owner
    "read": ("reads and writes (IAM)", "#15803d", "solid", "1.4", 3),   # a read: towards the role's owner
    "alarm": ("alarms and notifications", "#dc2626", "solid", "1.0", 4),
    "logs": ("access logs (named in the log bucket's label, not drawn)", "#94a3b8", "dotted", "1.0", 5),
    "protect": ("WAF in front of", "#64748b", "dashed", "1.0", 6),
}


@dataclass(frozen=True)
class Ref:
    source: tuple[str, str]
    attribute: str                              # top-level attribute of the source that holds it
    target: tuple[str, str]
    target_attribute: str = ""
    text: str = ""                              # the attribute's value (JSON), for labels


def statement_flows(view: "View", source: Res, ref: Ref) -> list[tuple[str, str, bool]]:
    """An IAM policy's statements naming `ref.target`: (kind, label, reverse) each; reads flow towards the
    role's owner, writes away from it; SQS actions are upload events, the rest reads and writes."""
    flows = []
    for statement in json.loads(source.get("policy", "{}")).get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(f"{ref.target[0]}.{ref.target[1]}." in r for r in resources):
            continue
        actions = statement.get("Action", [])
        verbs = [a.split(":", 1)[-1] for a in ([actions] if isinstance(actions, str) else actions)]
        writes = any(v.startswith(("Put", "Replicate", "Send", "connect", "Delete", "Update")) and v != "DeleteMessage"
                     for v in verbs)
        kind = "upload" if any(a.startswith("sqs:") for a in ([actions] if isinstance(actions, str) else actions)) \
            else "data"
        sid = re.sub(r"(?<!^)(?=[A-Z])", " ", statement.get("Sid", "")).lower()
        flows.append((kind if writes or kind != "data" else "read", sid, not writes))
    return flows


def origin_label(view: "View", source: Res, ref: Ref) -> str:
    origins = source.get("origin", [])
    target = ref.target
    for origin in origins:
        domain = origin.get("domain_name", "")
        if f"{target[0]}.{target[1]}." in domain or view.owner(view.certificate_for(domain)) == view.owner(target):
            origin_id = origin.get("origin_id")
            behaviours = [b for b in source.get("ordered_cache_behavior", []) if b.get("target_origin_id") == origin_id]
            failover = [g for g in source.get("origin_group", [])
                        if [m["origin_id"] for m in g.get("member", [])][1:2] == [origin_id]]
            if failover:
                return "failover (5xx)"
            if behaviours:
                return ", ".join(b.get("path_pattern") for b in behaviours)
            return "default (OAC)" if origin.get("origin_access_control_id") else "default"
    return ""


def notification_label(view: "View", source: Res, ref: Ref) -> str:
    for queue in source.get("queue", []):
        if f"{ref.target[0]}.{ref.target[1]}." in queue.get("queue_arn", ""):
            events = sorted({e.split(":")[1] for e in queue.get("events", [])})
            return f"{', '.join(events)} {queue.get('filter_prefix', '')}".strip()
    return "events"


def redrive_label(view: "View", source: Res, ref: Ref) -> str:
    count = json.loads(source.get("redrive_policy", "{}")).get("maxReceiveCount")
    return f"after {count} failed receives" if count else "dead letters"


def replication_label(view: "View", source: Res, ref: Ref) -> str:
    rule = first(source.get("rule", []), {})
    rtc = rule.get("destination", {}).get("replication_time", {})
    return "replication" + (f", RTC {rtc.get('time', {}).get('minutes')} min" if rtc.get("status") == "Enabled" else "")


def backup_selection_label(view: "View", source: Res, ref: Ref) -> str:
    plan = view.resource(("aws_backup_plan", view.ref_name(source.get("plan_id", ""))))
    rule = first(plan.get("rule", []), {}) if plan else {}
    return "AWS Backup, hourly" if rule.get("schedule", "").startswith("cron(0 * * * ") else "AWS Backup"


def backup_copy_label(view: "View", source: Res, ref: Ref) -> str:
    for rule in source.get("rule", []):
        for copy in rule.get("copy_action", []):
            if f"{ref.target[0]}.{ref.target[1]}." in copy.get("destination_vault_arn", ""):
                return f"copy, kept {copy.get('lifecycle', {}).get('delete_after', '?')} d"
    return "copy"


def service_target_label(view: "View", source: Res, ref: Ref) -> str:
    port = first(lb.get("container_port") for lb in source.get("load_balancer", []))
    return f"HTTP :{port}" if port else ""


FLOWS: dict[tuple[str, str, str], Flow | Ignore] = {
    # requests
    ("aws_cloudfront_distribution", "origin", "aws_s3_bucket"): Flow("request", origin_label),
    ("aws_cloudfront_distribution", "origin", "aws_acm_certificate"): Flow("request", origin_label),
    ("aws_api_gateway_integration", "uri", "aws_acm_certificate"): Flow("request", "HTTP proxy"),
    ("aws_ecs_service", "load_balancer", "aws_lb_target_group"): Flow("request", service_target_label, reverse=True),
    ("aws_ecs_task_definition", "container_definitions", "aws_db_instance"): Flow("request", "SQL reads, IAM auth"),
    ("aws_ecs_task_definition", "container_definitions", "aws_db_proxy"): Flow("request", "SQL, IAM auth, TLS"),
    ("aws_db_proxy_target", "db_instance_identifier", "aws_db_instance"): Flow("request", "pooled connections"),
    ("aws_db_proxy", "auth", "aws_secretsmanager_secret"): Flow("read", "the app user's password", reverse=True),
    # uploads and their events
    ("aws_s3_bucket_notification", "queue", "aws_sqs_queue"): Flow("upload", notification_label),
    ("aws_sqs_queue", "redrive_policy", "aws_sqs_queue"): Flow("upload", redrive_label),
    # what the services' roles may read and write: one edge per statement
    **{("aws_iam_role_policy", "policy", target): Flow("data", statement_flows)
       for target in ("aws_s3_bucket", "aws_sqs_queue", "aws_db_instance", "aws_secretsmanager_secret",
                      "aws_dynamodb_table")},
    # replication and backups
    ("aws_s3_bucket_replication_configuration", "rule", "aws_s3_bucket"): Flow("replication", replication_label),
    ("aws_db_instance", "replicate_source_db", "aws_db_instance"): Flow("replication", "streaming replication",
                                                                         reverse=True),
    ("aws_db_instance_automated_backups_replication", "source_db_instance_arn", "aws_db_instance"):
        Flow("replication", "automated backups", reverse=True),
    ("aws_backup_selection", "resources", "aws_db_instance"): Flow("replication", backup_selection_label,
                                                                   reverse=True),
    ("aws_backup_plan", "rule", "aws_backup_vault"): Flow("replication", backup_copy_label),
    # alarms to topics
    ("aws_cloudwatch_metric_alarm", "alarm_actions", "aws_sns_topic"): Flow("alarm"),
    ("aws_cloudwatch_metric_alarm", "ok_actions", "aws_sns_topic"): Flow("alarm"),
    ("aws_budgets_budget", "notification", "aws_sns_topic"): Flow("alarm", "budget alerts"),
    ("aws_ce_anomaly_subscription", "subscriber", "aws_sns_topic"): Flow("alarm", "anomalies"),
    # logs
    ("aws_lb", "access_logs", "aws_s3_bucket"): Flow("logs"),
    ("aws_cloudfront_distribution", "logging_config", "aws_s3_bucket"): Flow("logs"),
    ("aws_s3_bucket_logging", "target_bucket", "aws_s3_bucket"): Flow("logs"),
    # WAF in front of
    ("aws_cloudfront_distribution", "web_acl_id", "aws_wafv2_web_acl"): Flow("protect", reverse=True),
    ("aws_wafv2_web_acl_association", "resource_arn", "aws_lb"): Flow("protect"),
    ("aws_wafv2_web_acl_association", "resource_arn", "aws_api_gateway_stage"): Flow("protect"),
    # not flows
    ("aws_cloudwatch_metric_alarm", "dimensions", "*"): Ignore("what an alarm watches"),
    ("aws_cloudwatch_metric_alarm", "metric_query", "*"): Ignore("what an alarm watches"),
    ("aws_cloudwatch_dashboard", "dashboard_body", "*"): Ignore("what the dashboard graphs"),
    ("*", "*", "aws_kms_key"): Ignore("encryption: each region's key encrypts its resources"),
    ("aws_kms_key", "policy", "*"): Ignore("key policy grants"),
    ("aws_s3_bucket_policy", "policy", "*"): Ignore("bucket policy grants (the flows they admit are drawn)"),
    ("aws_sqs_queue_policy", "policy", "*"): Ignore("queue policy grants (the notification is drawn)"),
    ("aws_sqs_queue_redrive_allow_policy", "redrive_allow_policy", "*"): Ignore("grant to the source queue"),
    **{("aws_ecs_task_definition", "container_definitions", target): Ignore("names it; its role's policy says how")
       for target in ("aws_s3_bucket", "aws_sqs_queue", "aws_secretsmanager_secret")},
    ("aws_appautoscaling_policy", "target_tracking_scaling_policy_configuration", "*"):
        Ignore("scaling metrics (the worker's queue backlog)"),
    ("aws_cloudwatch_metric_alarm", "alarm_actions", "aws_appautoscaling_policy"):
        Ignore("the alarm that starts the first worker (scale from zero)"),
    ("aws_appautoscaling_target", "resource_id", "aws_ecs_cluster"): Ignore("the cluster both services run in"),
    ("aws_ecs_service", "cluster", "aws_ecs_cluster"): Ignore("the cluster both services run in"),
    ("aws_service_discovery_service", "dns_config", "*"): Ignore("the namespace both services share"),
    ("aws_db_instance", "monitoring_role_arn", "*"): Ignore("the monitoring role the instances share"),
    ("aws_db_instance", "parameter_group_name", "*"): Ignore("the parameter group the instances share"),
}


def flow_rule(ref: Ref, view: "View") -> Flow | Ignore | None:
    source_type, target_type = ref.source[0], ref.target[0]
    for key in ((source_type, ref.attribute, target_type), (source_type, ref.attribute, "*"), ("*", "*", target_type)):
        if key in FLOWS:
            return FLOWS[key]
    return None


# ----------------------------------------------------------------------------------------------- the model

@dataclass
class Edge:
    source: str
    target: str
    kind: str
    labels: list[str] = field(default_factory=list)


@dataclass
class DrawnNode:
    id: str
    icon: str
    label: str
    region: str
    group: str = ""
    vpc: str = ""                              # node id of the VPC container it sits in
    tier: str = ""
    members: list[tuple[str, str]] = field(default_factory=list)


class View:
    """One stack's resources, their rules applied: nodes, containers, folded parts, hidden, edges."""

    def __init__(self, config: dict, env: str):
        self.env = env
        self.config = config
        aliases = {p.get("alias"): p.get("region") for p in config.get("provider", {}).get("aws", [])}
        self.regions = {REGION_ROLES.get(alias, alias): region for alias, region in aliases.items()}
        self.resources: dict[tuple[str, str], Res] = {}
        for rtype, items in sorted(config.get("resource", {}).items()):
            for name, body in sorted(items.items()):
                alias = body.get("provider", "aws").partition(".")[2] or None
                self.resources[(rtype, name)] = Res(rtype, name, body, REGION_ROLES.get(alias, alias))
        self.refs = self._references()
        self.out: dict[tuple[str, str], list[Ref]] = defaultdict(list)
        self.into: dict[tuple[str, str], list[Ref]] = defaultdict(list)
        for ref in self.refs:
            self.out[ref.source].append(ref)
            self.into[ref.target].append(ref)
        self._owners: dict[tuple[str, str], Any] = {}
        self._resolving: set[tuple[str, str]] = set()
        self.owners = {key: self.owner(key) for key in self.resources}
        # resources with a rule that found no parent, types without a rule: a test fails on any, the caption
        # names them
        self.unresolved = sorted(k for k, o in self.owners.items() if o is None and k[0] in RULES)
        self.unruled = sorted({k[0] for k in self.resources} - set(RULES))
        self._nodes: dict[str, DrawnNode] | None = None

    # references
    def _references(self) -> list[Ref]:
        certificates = {}
        for key, res in self.resources.items():
            if key[0] == "aws_acm_certificate":
                for domain in [res.get("domain_name"), *res.get("subject_alternative_names", [])]:
                    if domain:
                        certificates[domain] = key
        self._certificates = certificates
        refs = []
        for key, res in self.resources.items():
            for attribute, value in res.body.items():
                if attribute in NOT_REFERENCES:
                    continue
                text = json.dumps(value)
                for target_type, target_name, target_attribute in REFERENCE.findall(text):
                    if (target_type, target_name) in self.resources and (target_type, target_name) != key:
                        refs.append(Ref(key, attribute, (target_type, target_name), target_attribute, text))
                if key[0] != "aws_acm_certificate":
                    for string in strings(value):
                        host = re.sub(r"^https?://", "", string).split("/", 1)[0]
                        if host in certificates:
                            refs.append(Ref(key, attribute, certificates[host], "domain_name", text))
        return sorted(set(refs), key=lambda r: (r.source, r.attribute, r.target, r.target_attribute))

    def certificate_for(self, domain: str) -> tuple[str, str] | None:
        return self._certificates.get(re.sub(r"^https?://", "", domain).split("/", 1)[0])

    def resource(self, key: tuple[str, str] | None) -> Res | None:
        return self.resources.get(key) if key else None

    def ref_name(self, text: str) -> str:
        match = REFERENCE.search(text)
        return match.group(2) if match else ""

    def resource_at(self, text: str) -> Res | None:
        match = REFERENCE.search(text or "")
        return self.resources.get((match.group(1), match.group(2))) if match else None

    def referrers(self, res: Res, rtype: str, attribute: str) -> list[Ref]:
        return [r for r in self.into[res.key] if r.source[0] == rtype and r.attribute == attribute]

    # ownership
    def owner(self, key: tuple[str, str] | None) -> Any:
        """The drawn node or container a resource belongs to: a node id, `("hidden", type)`, or None."""
        if key is None or key not in self.resources:
            return None
        if key not in self._owners:
            if key in self._resolving:
                return None
            self._resolving.add(key)
            try:
                self._owners[key] = self._resolve(self.resources[key])
            finally:
                self._resolving.discard(key)
        return self._owners[key]

    def _resolve(self, res: Res) -> Any:
        rule = RULES.get(res.type)
        if rule is None:
            return None
        if isinstance(rule, Hidden):
            return ("hidden", res.type)
        if isinstance(rule, (Node, Container)):
            return self.node_id(res, rule)
        if isinstance(rule, Part):
            parents = [r.target for r in self.out[res.key]
                       if r.target[0] == rule.parent and (not rule.via or r.attribute in rule.via)]
            parents.sort(key=lambda t: self.resources[t].region != res.region)  # same region first, stable
            return self.owner(first(parents))
        users = [r.source for r in self.into[res.key] if not rule.users or r.source[0] in rule.users]
        users = [u for u in users if not (isinstance(RULES.get(u[0]), Part) and RULES[u[0]].parent == res.type)]
        users.sort(key=lambda u: (rule.users.index(u[0]) if rule.users else 0, u))
        found = first(o for o in map(self.owner, users) if o is not None)
        if found is None and rule.otherwise is not None:
            return self.node_id(res, rule.otherwise)
        return found

    def rule_of(self, res: Res) -> Node | Container | None:
        """How a resource is drawn: its own rule, or an unused `UsedBy` resource's `otherwise`."""
        rule = RULES.get(res.type)
        if isinstance(rule, UsedBy):
            return rule.otherwise if self.owners.get(res.key) == f"{res.type}.{res.name}" else None
        return rule if isinstance(rule, (Node, Container)) else None

    def node_id(self, res: Res, rule: Node | Container) -> str:
        if isinstance(rule, Node) and rule.aggregate:
            return f"{res.type}@{rule.region or res.region}"
        return f"{res.type}.{res.name}"

    def parts_of(self, res: Res) -> list[Res]:
        own = self.owners.get(res.key)
        return [r for k, r in self.resources.items() if self.owners.get(k) == own and k != res.key]

    # the drawing
    def nodes(self) -> dict[str, DrawnNode]:
        if self._nodes is None:
            self._nodes = self._build_nodes()
        return self._nodes

    def _build_nodes(self) -> dict[str, DrawnNode]:
        nodes: dict[str, DrawnNode] = {}
        for key, res in self.resources.items():
            rule = self.rule_of(res)
            if not isinstance(rule, Node):
                continue
            node_id = self.owners[key]
            node = nodes.get(node_id)
            if node is None:
                node = nodes[node_id] = DrawnNode(node_id, rule.icon, "", rule.region or res.region, rule.group)
            node.members.append(key)
        for node in nodes.values():
            members = [self.resources[k] for k in node.members]
            rule = self.rule_of(members[0])
            node.label = rule.label(self, members) if rule.aggregate else rule.label(self, members[0])
            node.vpc, node.tier = self._placement(node)
        for node in nodes.values():  # a replica without subnets of its own sits with what it replicates
            if node.vpc and not node.tier:
                for ref in (r for k in node.members for r in self.out[k]):
                    other = nodes.get(self.owners.get(ref.target))
                    if other and other is not node and other.icon == node.icon and other.tier:
                        node.tier = other.tier
        return nodes

    def _placement(self, node: DrawnNode) -> tuple[str, str]:
        owned = [k for k, o in self.owners.items() if o == node.id]
        vpcs, tiers = set(), set()
        for key in owned:
            for ref in self.out[key]:
                target_owner = self.owners.get(ref.target)
                if ref.target[0] == "aws_vpc" or (isinstance(RULES.get(ref.target[0]), Part)
                                                  and str(target_owner).startswith("aws_vpc.")):
                    vpcs.add(target_owner)
                    if ref.target[0] == "aws_subnet":
                        tiers.add(self.resources[ref.target].get("tags", {}).get("Tier", ""))
        vpc = first(sorted(vpcs), "")
        return vpc, (first(tiers) if len(tiers) == 1 else "")

    def containers(self) -> dict[str, Res]:
        return {self.owners[k]: r for k, r in self.resources.items() if isinstance(RULES.get(r.type), Container)}

    def tiers(self, vpc: str) -> dict[str, list[Res]]:
        subnets: dict[str, list[Res]] = defaultdict(list)
        for key, res in self.resources.items():
            if key[0] == "aws_subnet" and self.owners[key] == vpc:
                subnets[res.get("tags", {}).get("Tier", "")].append(res)
        return dict(subnets)

    def edges(self) -> list[Edge]:
        """The flows between nodes: one edge per pair and kind, labels merged; where two kinds join the same
        pair, only the first of KINDS (a request over the IAM access that serves it)."""
        raw: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for ref, rule in self.classified():
            if not isinstance(rule, Flow):
                continue
            source_node, target_node = self.owners.get(ref.source), self.owners.get(ref.target)
            source = self.resources[ref.source]
            flows = rule.label(self, source, ref) if rule.label is statement_flows else \
                [(rule.kind, rule.label(self, source, ref) if callable(rule.label) else rule.label, rule.reverse)]
            for kind, label, reverse in flows:
                a, b = (target_node, source_node) if reverse else (source_node, target_node)
                if label not in raw[(a, b)][kind]:
                    raw[(a, b)][kind].append(label)
        for entry in self.entries():
            raw[(entry.source, entry.target)][entry.kind].extend(entry.labels)
        edges = []
        pairs = defaultdict(list)
        for (a, b), kinds in raw.items():
            pairs[frozenset((a, b))].append((a, b, kinds))
        for pair, directed in sorted(pairs.items(), key=lambda p: sorted(p[0])):
            best = min(KINDS[k][4] for _, _, kinds in directed for k in kinds)
            for a, b, kinds in sorted(directed, key=lambda d: (d[0], d[1])):
                for kind, labels in kinds.items():
                    if KINDS[kind][4] == best:
                        edges.append(Edge(a, b, kind, [label for label in labels if label]))
        return edges

    def classified(self) -> list[tuple[Ref, Flow | Ignore | None]]:
        """Every reference that crosses from one drawn node to another, with its FLOWS rule (or None)."""
        drawn = set(self.nodes())
        result = []
        for ref in self.refs:
            source_node, target_node = self.owners.get(ref.source), self.owners.get(ref.target)
            if source_node == target_node or source_node not in drawn or target_node not in drawn:
                continue
            result.append((ref, flow_rule(ref, self)))
        return result

    def entries(self) -> list[Edge]:
        """Who comes from outside: viewers of the distribution, API clients, and uploaders (a bucket that admits
        browser PUTs through CORS)."""
        edges = []
        for key, res in self.resources.items():
            node = self.owners.get(key)
            if res.type == "aws_cloudfront_distribution":
                signed = bool(res.get("default_cache_behavior", {}).get("trusted_key_groups"))
                edges.append(Edge("viewers", node, "request", ["HTTPS" + (", signed URLs" if signed else "")]))
            elif res.type == "aws_api_gateway_rest_api":
                iam = any(m.get("authorization") == "AWS_IAM" for m in self.parts_of(res)
                          if m.type == "aws_api_gateway_method")
                edges.append(Edge("clients", node, "request", ["API key" + (" + SigV4" if iam else "")]))
            elif res.type == "aws_s3_bucket_cors_configuration" and any(
                    "PUT" in rule.get("allowed_methods", []) for rule in res.get("cors_rule", [])):
                edges.append(Edge("clients", node, "upload", ["PUT parts (presigned)"]))
        return edges

    def hidden(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for key, owner in self.owners.items():
            if isinstance(owner, tuple):
                counts[key[0]] += 1
        return dict(sorted(counts.items()))


def strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def unruled_types(configs: Iterable[dict]) -> set[str]:
    """Synthesized resource types that have no rule (a test fails on any)."""
    return {rtype for config in configs for rtype in config.get("resource", {})} - set(RULES)


def unclassified(view: View) -> set[tuple[str, str, str]]:
    """(source type, attribute, target type) of references between drawn nodes without a FLOWS rule."""
    return {(ref.source[0], ref.attribute, ref.target[0]) for ref, rule in view.classified() if rule is None}


def load(out: Path, env: str) -> View:
    return View(json.loads((out / env / "cdk.tf.json").read_text()), env)


# ----------------------------------------------------------------------------------------------- rendering

ACTORS = {"viewers": ("general.Users", "Viewers"),
          "clients": ("general.Client", "API clients\nbrowsers, partners")}
WRAP = 22  # characters per label line
REGION_STYLE = {"edge": "#fff7ed", "primary": "#eff6ff", "DR": "#f5f3ff"}
TIER_STYLE = {"public": "#ecfdf5", "private": "#eef2ff", "database": "#fefce8"}
REGION_ORDER = ("edge", "primary", "DR")


def icon_path(icon: str) -> str:
    """`network.CloudFront` -> the PNG that diagrams ships for `diagrams.aws.network.CloudFront`."""
    import importlib

    import diagrams

    module, name = icon.rsplit(".", 1)
    cls = getattr(importlib.import_module(f"diagrams.aws.{module}"), name)
    return str(Path(diagrams.__file__).resolve().parent.parent / cls._icon_dir / cls._icon)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html_label(icon: str, text: str, icon_size: int) -> str:
    """Icon above a short label: first line bold. A table, so the node is as wide as its text."""
    title, *rest = [wrapped for line in text.split("\n") for wrapped in textwrap.wrap(line, WRAP) or [""]]
    lines = f"<B>{escape(title)}</B>" + "".join(f"<BR/>{escape(line)}" for line in rest)
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
            f'<TR><TD FIXEDSIZE="TRUE" WIDTH="{icon_size}" HEIGHT="{icon_size}">'
            f'<IMG SRC="{icon}" SCALE="TRUE"/></TD></TR>'
            f'<TR><TD>{lines}</TD></TR></TABLE>>')


def region_title(view: View, role: str) -> str:
    region = view.regions.get(role) or view.regions.get("primary")
    return {"edge": f"{region} · edge (CloudFront is global)", "primary": f"{region} · primary",
            "DR": f"{region} · disaster recovery"}.get(role, f"{region} · {role}")


def caption(view: View, kinds: set[str], width: int = 110) -> str:
    """The legend: edge colours, and what is not drawn (hidden types, folded parts, ignored references)."""
    gap = "&#160;" * 4  # SVG collapses plain spaces
    shown = list(dict.fromkeys(f'<FONT COLOR="{KINDS[k][1]}">━━</FONT>&#160;{escape(KINDS[k][0])}'
                               for k in KINDS if k in kinds))
    rows = [f'<FONT POINT-SIZE="16"><B>video-ingest {escape(view.env)}</B></FONT>{gap}generated from the '
            f'synthesized stack; a resource\'s region is its provider\'s']
    rows += [gap.join(shown[i:i + 3]) for i in range(0, len(shown), 3)]
    hidden = view.hidden()
    reasons = sorted({RULES[t].reason for t in hidden if isinstance(RULES.get(t), Hidden)})
    folded = [k for k, o in view.owners.items() if isinstance(RULES.get(k[0]), (Part, UsedBy))
              and isinstance(o, str) and o != f"{k[0]}.{k[1]}"]
    text = []
    if reasons:
        text.append(f"Hidden ({sum(hidden.values())} resources): " + "; ".join(reasons) + ".")
    text.append(f"Folded into the node they belong to: {len(folded)} resources of {len({k[0] for k in folded})} "
                "types (a bucket's versioning, encryption and policy, a service's task definition, autoscaling "
                "and roles, the VPC's route tables, NACLs and security groups, ...). Not drawn: KMS encryption, "
                "policy grants, what alarms and the dashboard watch.")
    text.append(f"Generated by `make diagram` from cdktf.out/stacks/{view.env}/cdk.tf.json: "
                f"{len(view.resources)} resources, {len(view.nodes())} nodes; every resource in "
                f"docs/diagrams/{view.env}-resources.svg.")
    rows += [escape(line) for paragraph in text for line in textwrap.wrap(paragraph, width)]
    missing = [*view.unruled, *(f"{t}.{n} (no parent)" for t, n in view.unresolved)]
    if missing:  # never silently: a type without a rule is named here until it gets one
        rows += [f'<FONT COLOR="#dc2626">{escape(line)}</FONT>' for line in
                 textwrap.wrap("NOT DRAWN, no rule in tools/architecture.py: " + ", ".join(missing), width)]
    cells = "".join(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{row}</TD></TR>' for row in rows)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1">{cells}</TABLE>>'


RANKED = {"request", "upload", "replication", "protect", "data"}  # kinds whose direction orders the rows


def rows(view: View, edges: list[Edge]) -> dict[str, int]:
    """Top-to-bottom row of every node. The actors are the first row; then each region (edge, primary, DR)
    gets rows of its own, so regions are stacked and never beside each other. Inside a region a node sits
    one row below whatever flows into it from the same region (a WAF above what it protects; a VPC tier is
    one row); nodes without flows go to the least filled row; each group (keys and roles, alarms and
    cost) is a row of its own at the bottom of its region."""
    nodes = view.nodes()
    unit = {n.id: (f"tier:{n.vpc}:{n.tier}" if n.vpc and n.tier else n.id) for n in nodes.values()}
    result = {actor: 0 for actor in {e.source for e in edges} - set(nodes)}
    offset = 1
    regions = sorted({n.region for n in nodes.values()},
                     key=lambda r: (REGION_ORDER.index(r) if r in REGION_ORDER else len(REGION_ORDER), r))
    for region in regions:
        inside = {n.id: n for n in nodes.values() if n.region == region}
        banded = {g for g in {n.group for n in inside.values() if n.group}
                  if sum(n.group == g for n in inside.values()) > 1}
        flow = {i for i, n in inside.items() if n.group not in banded}
        # where clients come in stays on top: a write from inside (the API presigning uploads) does not pull
        # the uploads bucket below the API
        pinned = {e.target for e in edges if e.source not in nodes}
        incoming: dict[str, set[str]] = defaultdict(set)
        for e in edges:
            if e.kind in RANKED and e.source in flow and e.target in flow and unit[e.source] != unit[e.target] \
                    and not (e.kind == "data" and e.target in pinned):
                incoming[unit[e.target]].add(unit[e.source])
        ranked_units = set(incoming) | {s for sources in incoming.values() for s in sources}
        depth: dict[str, int] = {}

        def level(u: str, path: frozenset = frozenset()) -> int:
            if u not in depth:
                depth[u] = max((level(s, path | {u}) + 1 for s in incoming[u] if s not in path), default=0)
            return depth[u]

        local: dict[str, int] = {}
        for node_id in sorted(flow):
            if unit[node_id] in ranked_units or unit[node_id].startswith("tier:"):
                local[node_id] = level(unit[node_id])
        for node_id in sorted(flow - set(local)):  # untiered nodes of a VPC with its first tier
            if inside[node_id].vpc:
                tiers = [local[n] for n in local if inside[n].vpc == inside[node_id].vpc]
                local[node_id] = min(tiers, default=0)
        height = max(local.values(), default=-1) + 1 or 1
        fill = lambda r: sum(1 for v in local.values() if v == r)
        for node_id in sorted(flow - set(local)):  # no flows: the least filled row
            local[node_id] = min(range(height), key=lambda r: (fill(r), r))
        for index, group in enumerate(sorted(banded)):
            for node_id, node in inside.items():
                if node.group == group:
                    local[node_id] = height + index
        result.update({node_id: offset + row for node_id, row in local.items()})
        offset += max(local.values(), default=0) + 1
    for actor in [a for a in result if a not in nodes]:  # just above the first thing they reach
        result[actor] = max(0, min(result[e.target] for e in edges if e.source == actor) - 1)
    return result


def render(view: View, target: Path, icon_size: int = 34) -> list[Path]:
    """`<env>-architecture.svg` (icons embedded) and `.png` in target, drawn with the diagrams package."""
    from diagrams import Cluster, Diagram, Edge as DEdge, Node as DNode

    nodes = view.nodes()
    edges = view.edges()
    labels = {node_id: node.label for node_id, node in nodes.items()}
    logs: dict[str, list[str]] = defaultdict(list)
    for edge in edges:  # access logs: a line in the log bucket's label instead of lines across the picture
        if edge.kind == "logs" and edge.source in nodes:
            logs[edge.target].append(nodes[edge.source].label.split("\n")[0].removesuffix(" bucket"))
    for node_id, sources in logs.items():
        labels[node_id] += "\nlogs of " + ", ".join(sorted(sources))
    # a key, secret or role read by a service: a line in its label, not a line across the region
    banded = {n.id for n in nodes.values() if n.group and not n.vpc
              and sum(m.group == n.group and m.region == n.region and not m.vpc for m in nodes.values()) > 1}
    notes = [e for e in edges if e.kind in ("read", "data") and (e.source in banded) != (e.target in banded)]
    for edge in notes:
        member, other = (edge.source, edge.target) if edge.source in banded else (edge.target, edge.source)
        verb = "read by" if (edge.kind == "read") == (member == edge.source) else "writes to"
        labels[member] += f"\n{verb} {nodes[other].label.split(chr(10))[0].removesuffix(' (Fargate)')}"
    drawn_edges = [e for e in edges if e.kind != "logs" and e not in notes]
    row = rows(view, drawn_edges)
    regions = sorted({n.region for n in nodes.values()},
                     key=lambda r: (REGION_ORDER.index(r) if r in REGION_ORDER else len(REGION_ORDER), r))

    target.mkdir(parents=True, exist_ok=True)
    stem = target / f"{view.env}-architecture"
    font = "Helvetica"
    drawn: dict[str, DNode] = {}

    def cluster(label: str, cid: str, **attrs: str) -> Cluster:
        box = Cluster(label, graph_attr={"fontname": font, "fontsize": "11", "margin": "8", "labelloc": "t",
                                         "style": "rounded", **attrs})
        box.dot.name = f"cluster_{cid}"  # labels repeat across regions; names must not
        return box

    def place(node_id: str, icon: str, label: str) -> None:
        drawn[node_id] = DNode(html_label(icon_path(icon), label, icon_size), nodeid=node_id, shape="plain")

    def place_all(members: Iterable[DrawnNode]) -> None:
        for node in sorted(members, key=lambda n: n.id):
            place(node.id, node.icon, labels[node.id])

    with Diagram(filename=str(stem), outformat=["svg", "png"], show=False, direction="TB", curvestyle="curved",
                 graph_attr={"fontname": font, "nodesep": "0.15", "ranksep": "0.2",
                             "pad": "0.2", "splines": "spline", "newrank": "true", "labelloc": "b",
                             "labeljust": "l", "fontsize": "13",
                             "label": caption(view, {e.kind for e in drawn_edges} | {e.kind for e in edges
                                                                                   if e.kind == "logs"})},
                 node_attr={"fontname": font, "fontsize": "12", "shape": "plain", "fixedsize": "false",
                            "width": "0", "height": "0", "margin": "0"},
                 edge_attr={"fontname": font, "fontsize": "11", "arrowsize": "0.6"}) as diagram:
        for actor in sorted(a for a in row if a in ACTORS):
            place(actor, *ACTORS[actor])
        containers = view.containers()
        for role in regions:
            inside = [n for n in nodes.values() if n.region == role]
            with cluster(region_title(view, role), f"region_{role}", bgcolor=REGION_STYLE.get(role, "#f8fafc"),
                         pencolor="#94a3b8", fontsize="13"):
                for vpc_id in sorted({n.vpc for n in inside if n.vpc}):
                    vpc = containers[vpc_id]
                    with cluster(RULES[vpc.type].label(view, vpc), f"vpc_{role}", bgcolor="#ffffff",
                                 pencolor="#2563eb"):
                        for tier, subnets in sorted(view.tiers(vpc_id).items(), key=lambda t: (
                                list(TIER_STYLE).index(t[0]) if t[0] in TIER_STYLE else len(TIER_STYLE), t[0])):
                            with cluster(f"{tier} subnets ×{len(subnets)}", f"tier_{role}_{tier}",
                                         bgcolor=TIER_STYLE.get(tier, "#f8fafc"), pencolor="#cbd5e1"):
                                place_all(n for n in inside if n.vpc == vpc_id and n.tier == tier)
                        place_all(n for n in inside if n.vpc == vpc_id and not n.tier)
                outside = [n for n in inside if not n.vpc]
                groups = {g for g in {n.group for n in outside if n.group} if sum(n.group == g for n in outside) > 1}
                for group in sorted(groups):
                    with cluster(GROUPS.get(group, group), f"group_{role}_{group}", bgcolor="#f8fafc",
                                 pencolor="#cbd5e1", style="rounded,dashed"):
                        place_all(n for n in outside if n.group == group)
                place_all(n for n in outside if n.group not in groups)
        # the rows: an invisible spine of points, one per row, each on the same rank as its row's nodes
        for index in range(max(row.values()) + 1):
            members = [f"row{index}", *sorted(n for n, r in row.items() if r == index)]
            diagram.dot.body.append(f'\t"row{index}" [shape=point style=invis width=0 height=0]\n')
            if index:
                diagram.dot.body.append(f'\t"row{index - 1}" -> "row{index}" [style=invis]\n')
            diagram.dot.body.append("\t{rank=same; " + " ".join(f'"{n}"' for n in members) + "}\n")
        # siblings of one type in one row keep their names' order (NAT a, b, c; the primary before its replica)
        siblings: dict[tuple, list[str]] = defaultdict(list)
        for node_id, node in sorted(nodes.items()):
            siblings[(node.icon, node.region, node.vpc, node.tier, node.group, row[node_id])].append(node_id)
        for group_ in siblings.values():
            for left, right in zip(group_, group_[1:]):
                diagram.dot.body.append(f'\t"{left}" -> "{right}" [style=invis]\n')
        for edge in drawn_edges:
            _, colour, style, width, _ = KINDS[edge.kind]
            attrs = {"color": colour, "style": style, "penwidth": width, "fontcolor": colour, "fontname": font,
                     "fontsize": "11"}
            if edge.kind == "protect":
                attrs["arrowhead"] = "none"
            if row[edge.source] >= row[edge.target]:
                attrs["constraint"] = "false"  # along a row or upwards: drawn, but the rows stay as computed
            # a long edge between regions runs beside a region: its label must not widen the picture
            long = edge.source in nodes and edge.target in nodes and \
                nodes[edge.source].region != nodes[edge.target].region and abs(row[edge.source] - row[edge.target]) > 1
            attrs["xlabel" if long else "label"] = "\n".join(edge.labels)
            drawn[edge.source] >> DEdge(**attrs) >> drawn[edge.target]
    view.dot_source = diagram.dot.source
    svg = stem.with_suffix(".svg")
    svg.write_text(embed_icons(svg.read_text()))
    return [svg, stem.with_suffix(".png")]


def embed_icons(svg: str) -> str:
    """Graphviz links icons by absolute path; GitHub (and anyone else) needs them inside the file. Each
    icon is stored once in <defs> and placed with <use>."""
    import base64

    defs: dict[tuple[str, str, str], str] = {}

    def replace(match: re.Match) -> str:
        attrs = dict(re.findall(r'([\w:]+)="([^"]*)"', match.group(0)))
        key = (attrs["xlink:href"], attrs.get("width", ""), attrs.get("height", ""))
        if key not in defs:
            defs[key] = f"icon{len(defs)}"
        return f'<use xlink:href="#{defs[key]}" x="{attrs.get("x", "0")}" y="{attrs.get("y", "0")}"/>'

    body = re.sub(r"<image [^>]*/>", replace, svg)
    images = []
    for (path, width, height), ident in defs.items():
        data = base64.b64encode(Path(path).read_bytes()).decode()
        images.append(f'<image id="{ident}" width="{width}" height="{height}" preserveAspectRatio="xMidYMid meet" '
                      f'xlink:href="data:image/png;base64,{data}"/>')
    return re.sub(r"(<svg [^>]*>)", lambda m: m.group(1) + "\n<defs>\n" + "\n".join(images) + "\n</defs>", body,
                  count=1)
