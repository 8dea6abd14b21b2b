"""The rules of the architecture view (tools/diagrams/architecture.py): one per synthesized resource type (`RULES`:
drawn, folded into a parent or a user, a container, or hidden with a reason) and one per kind of reference
between drawn resources (`FLOWS`: a request, an upload, replication, an IAM read or write, ... or ignored).
Standard library only."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.diagrams.architecture import View

PROJECT = "video-ingest"
EDGE = "edge"  # CloudFront is a global service: shown with its us-east-1 resources (certificate, WAF, alarms)


# ----------------------------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Node:
    icon: str  # diagrams class, "<module>.<Class>" under diagrams.aws
    label: Callable[[View, Res], str]  # short: name, then what matters (size, counts, retention)
    group: str = ""  # a box inside the region ("monitoring", "security")
    aggregate: bool = False  # one node per region for every resource of the type
    region: str | None = None  # a region role to show it in, instead of its provider's


@dataclass(frozen=True)
class Part:
    parent: str  # type of the resource it configures, found by reference
    via: tuple[str, ...] = ()  # only these attributes hold that reference


@dataclass(frozen=True)
class UsedBy:
    users: tuple[str, ...] = ()  # types whose references make it theirs, in preference order
    otherwise: Node | None = None  # drawn like this when nothing uses it
    waited_for_by: tuple[str, ...] = ()  # else: types whose depends_on names it make it theirs


@dataclass(frozen=True)
class Container:
    label: Callable[[View, Res], str]


@dataclass(frozen=True)
class Hidden:
    reason: str


Rule = Node | Part | UsedBy | Container | Hidden


@dataclass(frozen=True)
class Res:
    type: str
    name: str
    body: dict
    region: str  # region role: primary, DR, edge, ...

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.name)

    def get(self, attribute: str, default: Any = None) -> Any:
        return self.body.get(attribute, default)


# Labels ---------------------------------------------------------------------------------------------------


def short(view: View, name: str) -> str:
    """`video-ingest-prod-videos-333333333333-eu-west-1` -> `videos`."""
    name = re.sub(rf"^{PROJECT}-{re.escape(view.env)}[-/]", "", name)
    name = re.sub(rf"^{PROJECT}-", "", name)
    return re.sub(r"-\d{12}-[a-z]{2}(-[a-z]+)+-\d$", "", name)


def first(items: Iterable[Any], default: Any = None) -> Any:
    return next(iter(items), default)


STORAGE_CLASSES = {
    "STANDARD_IA": "IA",
    "ONEZONE_IA": "One Zone-IA",
    "INTELLIGENT_TIERING": "Intelligent",
    "GLACIER_IR": "Glacier IR",
    "GLACIER": "Glacier",
    "DEEP_ARCHIVE": "Deep Archive",
}


def bucket_label(view: View, res: Res) -> str:
    """`videos bucket` and what its configuration says that a reader needs: acceleration, tiering, expiry."""
    replica = any(
        r.source[0] == "aws_s3_bucket_replication_configuration" and r.attribute == "rule" for r in view.into[res.key]
    )
    lines = [f"{short(view, res.get('bucket', res.name))} {'replica' if replica else 'bucket'}"]
    parts = view.parts_of(res)
    if any(p.type == "aws_s3_bucket_accelerate_configuration" and p.get("status") == "Enabled" for p in parts):
        lines.append("Transfer Acceleration")
    steps = []
    for lifecycle in (p for p in parts if p.type == "aws_s3_bucket_lifecycle_configuration"):
        for rule in lifecycle.get("rule", []):
            steps += [
                f"{STORAGE_CLASSES.get(t['storage_class'], t['storage_class'])} {t.get('days')} d"
                for t in rule.get("transition", [])
            ]
            prefix = first(f.get("prefix") for f in rule.get("filter", [])) or ""
            steps += [
                f"{prefix or 'expire'}{' expire' if prefix else ''} {e['days']} d"
                for e in rule.get("expiration", [])
                if "days" in e
            ]
    if steps:
        lines.append(" → ".join(steps))
    return "\n".join(lines)


def service_label(view: View, res: Res) -> str:
    parts = view.parts_of(res)
    task = first(p for p in parts if p.type == "aws_ecs_task_definition")
    target = first(p for p in parts if p.type == "aws_appautoscaling_target")
    lines = [f"{res.get('name')} service (Fargate)"]
    if task:
        lines.append(f"{task.get('cpu')} CPU / {task.get('memory')} MiB")
    if target:
        lines.append(f"{target.get('min_capacity')}–{target.get('max_capacity')} tasks")
    return "\n".join(lines)


def database_label(view: View, res: Res) -> str:
    size = res.get("instance_class", "")
    if res.get("replicate_source_db"):
        return f"read replica\n{size}"
    engine = {"postgres": "PostgreSQL"}.get(res.get("engine"), res.get("engine", "RDS"))
    return (
        f"{engine} {res.get('engine_version', '')}".strip()
        + f"\n{size}, {'Multi-AZ' if res.get('multi_az') else 'single-AZ'}"
    )


def api_label(view: View, res: Res) -> str:
    parts = view.parts_of(res)
    stage = first(p for p in parts if p.type == "aws_api_gateway_stage")
    plans = [p for p in parts if p.type == "aws_api_gateway_usage_plan"]
    lines = ["API Gateway (REST)"]
    if stage:
        lines.append(
            f"stage {stage.get('stage_name')}"
            + (f", cache {stage.get('cache_cluster_size')} GB" if stage.get("cache_cluster_enabled") else "")
        )
    lines.append(f"{len(plans)} usage plan{'s' if len(plans) != 1 else ''}")
    return "\n".join(lines)


def alb_label(view: View, res: Res) -> str:
    listeners = sorted((p for p in view.parts_of(res) if p.type == "aws_lb_listener"), key=lambda p: p.get("port"))
    ports = ", ".join(
        f":{p.get('port')}"
        + (" → 301" if first(a.get("type") for a in p.get("default_action", [])) == "redirect" else "")
        for p in listeners
    )
    kind = "NLB" if res.get("load_balancer_type") == "network" else "ALB"
    kind += " (internal)" if res.get("internal") else ""
    return f"{kind}\n{ports}" if ports else kind


def distribution_label(view: View, res: Res) -> str:
    lines = ["CloudFront", res.get("price_class", "")]
    extras = []
    if res.get("default_cache_behavior", {}).get("trusted_key_groups"):
        extras.append("signed URLs")
    if res.get("origin_group"):
        extras.append("DR failover")
    if extras:
        lines.append(", ".join(extras))
    return "\n".join(line for line in lines if line)


def waf_label(view: View, res: Res) -> str:
    scope = "edge" if res.get("scope") == "CLOUDFRONT" else "regional"
    return f"WAF ({scope})\n{len(res.get('rule', []))} rules"


def nat_label(view: View, res: Res) -> str:
    subnet = view.resource_at(res.get("subnet_id", ""))
    zone = subnet.get("availability_zone", "") if subnet else ""
    return f"NAT gateway\n{zone}".strip()


def queue_label(view: View, res: Res) -> str:
    kept = f"kept {int(res.get('message_retention_seconds', 345600)) // 86400} d"
    if view.referrers(res, "aws_sqs_queue", "redrive_policy"):
        return f"dead-letter queue\n{kept}"
    return f"{short(view, res.get('name', res.name))} queue\n{kept}"


def topic_label(view: View, res: Res) -> str:
    emails = [p for p in view.parts_of(res) if p.type == "aws_sns_topic_subscription" and p.get("protocol") == "email"]
    return f"SNS {short(view, res.get('name', res.name))}\n" + (
        f"{len(emails)} e-mail subscriber{'s' if len(emails) != 1 else ''}" if emails else "no subscribers"
    )


def alarms_label(view: View, members: list[Res]) -> str:
    return f"{len(members)} CloudWatch alarm{'s' if len(members) != 1 else ''}"


def repositories_label(view: View, members: list[Res]) -> str:
    return "ECR repositories\n" + ", ".join(sorted(short(view, m.get("name", m.name)) for m in members))


def vault_label(view: View, res: Res) -> str:
    plan = first(p for p in view.parts_of(res) if p.type == "aws_backup_plan")
    if plan:
        rule = first(plan.get("rule", []), {})
        schedule = "hourly" if rule.get("schedule", "").startswith("cron(0 * * * ") else rule.get("schedule", "")
        return f"Backup vault\n{schedule}, kept {rule.get('lifecycle', {}).get('delete_after', '?')} d"
    if any(r.source[0] == "aws_backup_plan" for r in view.into[res.key]):
        return "Backup vault\nDR copies"
    return f"Backup vault\n{short(view, res.get('name', res.name))}"


def backups_replication_label(view: View, res: Res) -> str:
    return f"RDS automated backups\nreplica, {res.get('retention_period')} d"


def role_label(view: View, res: Res) -> str:
    trust = res.get("assume_role_policy", "")
    how = (
        "GitHub OIDC"
        if "token.actions.githubusercontent.com" in trust
        else "MFA"
        if "MultiFactorAuthPresent" in trust
        else ""
    )
    return f"{short(view, res.get('name', res.name))} role" + (f"\n{how}" if how else "")


def budget_label(view: View, res: Res) -> str:
    unit = {"MONTHLY": "month", "QUARTERLY": "quarter", "ANNUALLY": "year", "DAILY": "day"}
    return f"Budget\n{res.get('limit_amount')} {res.get('limit_unit')} a {unit.get(res.get('time_unit'), '?')}"


def named(text: str, attribute: str = "name") -> Callable[[View, Res], str]:
    def label(view: View, res: Res) -> str:
        value = res.get(attribute)
        return text.format(name=short(view, value) if isinstance(value, str) else res.name)

    return label


def fixed(text: str) -> Callable[[View, Res], str]:
    return lambda view, res: text


def vpc_label(view: View, res: Res) -> str:
    endpoints = sorted(
        p.get("service_name", "").rsplit(".", 1)[-1] for p in view.parts_of(res) if p.type == "aws_vpc_endpoint"
    )
    zones = {p.get("availability_zone") for p in view.parts_of(res) if p.type == "aws_subnet"}
    text = f"VPC {res.get('cidr_block')}, {len(zones)} AZ{'s' if len(zones) != 1 else ''}"
    return text + (f" · gateway endpoints: {', '.join(endpoints)}" if endpoints else "")


ROLE_NODE = Node("security.IAMRole", role_label, group="security")

_S3_PARTS = (
    "accelerate_configuration",
    "cors_configuration",
    "lifecycle_configuration",
    "logging",
    "notification",
    "ownership_controls",
    "policy",
    "public_access_block",
    "replication_configuration",
    "server_side_encryption_configuration",
    "versioning",
)

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
    **{
        f"aws_api_gateway_{kind}": Part("aws_api_gateway_rest_api", via=("rest_api_id",))
        for kind in (
            "deployment",
            "integration",
            "method",
            "method_settings",
            "request_validator",
            "resource",
            "stage",
            "method_response",
            "integration_response",
            "gateway_response",
        )
    },
    # The REST API's VPC link is the network load balancer's way in: drawn with it.
    "aws_api_gateway_vpc_link": Part("aws_lb", via=("target_arns",)),
    "aws_api_gateway_usage_plan": Part("aws_api_gateway_rest_api", via=("api_stages",)),
    "aws_api_gateway_usage_plan_key": Part("aws_api_gateway_usage_plan", via=("usage_plan_id",)),
    "aws_api_gateway_api_key": UsedBy(("aws_api_gateway_usage_plan_key",)),
    "aws_api_gateway_client_certificate": UsedBy(("aws_api_gateway_stage",)),
    "aws_api_gateway_account": Hidden("account-wide API Gateway setting (its CloudWatch Logs role)"),
    # network
    "aws_vpc": Container(vpc_label),
    **{
        f"aws_{kind}": Part("aws_vpc", via=("vpc_id",))
        for kind in (
            "subnet",
            "route_table",
            "network_acl",
            "security_group",
            "default_security_group",
            "flow_log",
            "vpc_endpoint",
        )
    },
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
    "aws_lb_target_group_attachment": Part("aws_lb_target_group", via=("target_group_arn",)),
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
    "aws_db_proxy": Node("database.RDS", fixed("RDS Proxy\nTLS, IAM auth")),
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
    "aws_cloudwatch_log_group": UsedBy(
        ("aws_ecs_task_definition", "aws_api_gateway_stage", "aws_flow_log", "aws_wafv2_web_acl_logging_configuration"),
        waited_for_by=(
            "aws_db_instance",
            "aws_api_gateway_stage",
            "aws_api_gateway_account",
            "aws_ecs_cluster",
            "aws_db_proxy",
        ),
    ),
    "aws_cloudwatch_log_metric_filter": Part("aws_cloudwatch_log_group"),
    "aws_cloudwatch_metric_alarm": Node("management.CloudwatchAlarm", alarms_label, group="monitoring", aggregate=True),
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
    **{
        rtype: Hidden("the account bootstrap's compliance controls (docs/compliance.md)")
        for rtype in (
            "aws_cloudtrail",
            "aws_config_configuration_recorder",
            "aws_config_configuration_recorder_status",
            "aws_config_delivery_channel",
            "aws_config_config_rule",
            "aws_guardduty_detector",
            "aws_guardduty_detector_feature",
            "aws_securityhub_account",
            "aws_securityhub_standards_subscription",
            "aws_computeoptimizer_enrollment_status",
        )
    },
    "aws_cloudwatch_event_rule": Hidden("GuardDuty findings to the alarm topic (an EventBridge rule)"),
    "aws_cloudwatch_event_target": Hidden("GuardDuty findings to the alarm topic (an EventBridge rule)"),
}

GROUPS = {"monitoring": "alarms · cost", "security": "keys · secrets · images · roles"}


# ----------------------------------------------------------------------------------------------- the edges


@dataclass(frozen=True)
class Flow:
    kind: str  # one of KINDS
    label: Callable[[View, Res, Ref], str] | str = ""
    reverse: bool = False  # data moves against the reference (a target group -> service)


@dataclass(frozen=True)
class Ignore:
    reason: str


# kind: (legend text, colour, style, pen width, priority when two kinds join the same pair of nodes)
KINDS = {
    "request": ("requests", "#1d4ed8", "solid", "2.2", 0),
    "upload": ("uploads and upload events", "#c2410c", "solid", "2.2", 1),
    "replication": ("replication and backups", "#7e22ce", "dashed", "1.6", 2),
    "data": ("reads and writes (IAM)", "#15803d", "solid", "1.4", 3),  # a write: from the role's owner
    "read": ("reads and writes (IAM)", "#15803d", "solid", "1.4", 3),  # a read: towards the role's owner
    "alarm": ("alarms and notifications", "#dc2626", "solid", "1.0", 4),
    "logs": ("access logs (named in the log bucket's label, not drawn)", "#94a3b8", "dotted", "1.0", 5),
    "protect": ("WAF in front of", "#64748b", "dashed", "1.0", 6),
}


@dataclass(frozen=True)
class Ref:
    source: tuple[str, str]
    attribute: str  # top-level attribute of the source that holds it
    target: tuple[str, str]
    target_attribute: str = ""
    text: str = ""  # the attribute's value (JSON), for labels


def statement_flows(view: View, source: Res, ref: Ref) -> list[tuple[str, str, bool]]:
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
        writes = any(
            v.startswith(("Put", "Replicate", "Send", "connect", "Delete", "Update")) and v != "DeleteMessage"
            for v in verbs
        )
        kind = (
            "upload"
            if any(a.startswith("sqs:") for a in ([actions] if isinstance(actions, str) else actions))
            else "data"
        )
        sid = re.sub(r"(?<!^)(?=[A-Z])", " ", statement.get("Sid", "")).lower()
        flows.append((kind if writes or kind != "data" else "read", sid, not writes))
    return flows


def origin_label(view: View, source: Res, ref: Ref) -> str:
    origins = source.get("origin", [])
    target = ref.target
    for origin in origins:
        domain = origin.get("domain_name", "")
        if f"{target[0]}.{target[1]}." in domain or view.owner(view.certificate_for(domain)) == view.owner(target):
            origin_id = origin.get("origin_id")
            behaviours = [b for b in source.get("ordered_cache_behavior", []) if b.get("target_origin_id") == origin_id]
            failover = [
                g
                for g in source.get("origin_group", [])
                if [m["origin_id"] for m in g.get("member", [])][1:2] == [origin_id]
            ]
            if failover:
                return "failover (5xx)"
            if behaviours:
                return ", ".join(b.get("path_pattern") for b in behaviours)
            return "default (OAC)" if origin.get("origin_access_control_id") else "default"
    return ""


def notification_label(view: View, source: Res, ref: Ref) -> str:
    for queue in source.get("queue", []):
        if f"{ref.target[0]}.{ref.target[1]}." in queue.get("queue_arn", ""):
            events = sorted({e.split(":")[1] for e in queue.get("events", [])})
            return f"{', '.join(events)} {queue.get('filter_prefix', '')}".strip()
    return "events"


def redrive_label(view: View, source: Res, ref: Ref) -> str:
    count = json.loads(source.get("redrive_policy", "{}")).get("maxReceiveCount")
    return f"after {count} failed receives" if count else "dead letters"


def replication_label(view: View, source: Res, ref: Ref) -> str:
    rule = first(source.get("rule", []), {})
    rtc = rule.get("destination", {}).get("replication_time", {})
    return "replication" + (f", RTC {rtc.get('time', {}).get('minutes')} min" if rtc.get("status") == "Enabled" else "")


def backup_selection_label(view: View, source: Res, ref: Ref) -> str:
    plan = view.resource(("aws_backup_plan", view.ref_name(source.get("plan_id", ""))))
    rule = first(plan.get("rule", []), {}) if plan else {}
    return "AWS Backup, hourly" if rule.get("schedule", "").startswith("cron(0 * * * ") else "AWS Backup"


def backup_copy_label(view: View, source: Res, ref: Ref) -> str:
    for rule in source.get("rule", []):
        for copy in rule.get("copy_action", []):
            if f"{ref.target[0]}.{ref.target[1]}." in copy.get("destination_vault_arn", ""):
                return f"copy, kept {copy.get('lifecycle', {}).get('delete_after', '?')} d"
    return "copy"


def service_target_label(view: View, source: Res, ref: Ref) -> str:
    port = first(lb.get("container_port") for lb in source.get("load_balancer", []))
    return f"HTTP :{port}" if port else ""


FLOWS: dict[tuple[str, str, str], Flow | Ignore] = {
    # requests
    ("aws_cloudfront_distribution", "origin", "aws_s3_bucket"): Flow("request", origin_label),
    ("aws_cloudfront_distribution", "origin", "aws_acm_certificate"): Flow("request", origin_label),
    # The URI names the ALB's certificate (API Gateway verifies it); the request goes through the VPC link.
    ("aws_api_gateway_integration", "uri", "aws_acm_certificate"): Ignore("the host API Gateway verifies TLS for"),
    ("aws_api_gateway_integration", "connection_id", "aws_api_gateway_vpc_link"): Flow("request", "VPC link"),
    ("aws_lb_target_group_attachment", "target_id", "aws_lb"): Flow("request", "TCP :443"),
    ("aws_ecs_service", "load_balancer", "aws_lb_target_group"): Flow("request", service_target_label, reverse=True),
    ("aws_ecs_task_definition", "container_definitions", "aws_db_instance"): Flow("request", "SQL reads, IAM"),
    ("aws_ecs_task_definition", "container_definitions", "aws_db_proxy"): Flow("request", "SQL, IAM, TLS"),
    ("aws_db_proxy_target", "db_instance_identifier", "aws_db_instance"): Flow("request", "pooled connections"),
    ("aws_db_proxy", "auth", "aws_secretsmanager_secret"): Flow("read", "the app user's password", reverse=True),
    # uploads and their events
    ("aws_s3_bucket_notification", "queue", "aws_sqs_queue"): Flow("upload", notification_label),
    ("aws_sqs_queue", "redrive_policy", "aws_sqs_queue"): Flow("upload", redrive_label),
    # what the services' roles may read and write: one edge per statement
    **{
        ("aws_iam_role_policy", "policy", target): Flow("data", statement_flows)
        for target in (
            "aws_s3_bucket",
            "aws_sqs_queue",
            "aws_db_instance",
            "aws_secretsmanager_secret",
            "aws_dynamodb_table",
        )
    },
    # replication and backups
    ("aws_s3_bucket_replication_configuration", "rule", "aws_s3_bucket"): Flow("replication", replication_label),
    ("aws_db_instance", "replicate_source_db", "aws_db_instance"): Flow(
        "replication", "streaming replication", reverse=True
    ),
    ("aws_db_instance_automated_backups_replication", "source_db_instance_arn", "aws_db_instance"): Flow(
        "replication", "automated backups", reverse=True
    ),
    ("aws_backup_selection", "resources", "aws_db_instance"): Flow("replication", backup_selection_label, reverse=True),
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
    **{
        ("aws_ecs_task_definition", "container_definitions", target): Ignore("names it; its role's policy says how")
        for target in ("aws_s3_bucket", "aws_sqs_queue", "aws_secretsmanager_secret")
    },
    ("aws_appautoscaling_policy", "target_tracking_scaling_policy_configuration", "*"): Ignore(
        "scaling metrics (the worker's queue backlog)"
    ),
    ("aws_cloudwatch_metric_alarm", "alarm_actions", "aws_appautoscaling_policy"): Ignore(
        "the alarm that starts the first worker (scale from zero)"
    ),
    ("aws_appautoscaling_target", "resource_id", "aws_ecs_cluster"): Ignore("the cluster both services run in"),
    ("aws_ecs_service", "cluster", "aws_ecs_cluster"): Ignore("the cluster both services run in"),
    ("aws_service_discovery_service", "dns_config", "*"): Ignore("the namespace both services share"),
    ("aws_db_instance", "monitoring_role_arn", "*"): Ignore("the monitoring role the instances share"),
    ("aws_db_instance", "parameter_group_name", "*"): Ignore("the parameter group the instances share"),
}


def flow_rule(ref: Ref, view: View) -> Flow | Ignore | None:
    source_type, target_type = ref.source[0], ref.target[0]
    for key in ((source_type, ref.attribute, target_type), (source_type, ref.attribute, "*"), ("*", "*", target_type)):
        if key in FLOWS:
            return FLOWS[key]
    return None
