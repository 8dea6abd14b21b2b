"""Monitoring: alarm topics, the alarm set of every tier, one dashboard, error metric filters, X-Ray sampling."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated

from cdktf_cdktf_provider_aws.cloudfront_monitoring_subscription import (
    CloudfrontMonitoringSubscription,
    CloudfrontMonitoringSubscriptionMonitoringSubscription,
    CloudfrontMonitoringSubscriptionMonitoringSubscriptionRealtimeMetricsSubscriptionConfig,
)
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import (
    CloudwatchLogMetricFilter,
    CloudwatchLogMetricFilterMetricTransformation,
)
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from cdktf_cdktf_provider_aws.xray_sampling_rule import XraySamplingRule
from constructs import Construct

from modules.limits import Doc, Range
from modules.naming import Naming
from modules.policy import ServiceGrant, deny_insecure_transport, policy, statement
from modules.validation import EMAIL

# Services that publish to the alarm topics: CloudWatch alarms, Budgets, Cost Anomaly Detection, EventBridge
# (GuardDuty findings, modules/compliance.py).
PUBLISHERS = ("cloudwatch.amazonaws.com", "budgets.amazonaws.com", "costalerts.amazonaws.com", "events.amazonaws.com")


PERCENT = Range(1, 100, "%")
OPEN_PERCENT = Range(0, 100, "%", above=True)
COUNT = Range(1)


@dataclass(frozen=True, kw_only=True)
class MonitoringConfig:
    """Inputs: who is told, and when. Thresholds default to the spec's targets."""

    alarm_emails: Annotated[
        tuple[Annotated[str, EMAIL], ...], Doc("subscribed to the alarm topics (confirm by e-mail)")
    ] = ()
    ecs_cpu_high_percent: Annotated[int, PERCENT, Doc("per service, 5 minutes")] = 80
    ecs_memory_high_percent: Annotated[int, PERCENT, Doc("per service, 5 minutes")] = 80
    alb_5xx_per_minute: Annotated[int, COUNT, Doc("target and ELB 5xx, each")] = 10
    alb_p95_latency_ms: Annotated[int, COUNT, Doc("spec: API response time < 200 ms")] = 200
    api_5xx_per_minute: Annotated[int, COUNT, Doc("API Gateway 5XXError")] = 5
    api_4xx_per_minute: Annotated[int, COUNT, Doc("API Gateway 4XXError")] = 100
    api_p95_latency_ms: Annotated[int, COUNT, Doc("spec: < 200 ms")] = 200
    rds_cpu_high_percent: Annotated[int, PERCENT, Doc("primary instance")] = 80
    rds_free_storage_gb: Annotated[int, COUNT, Doc("alarm below this free space")] = 10
    rds_max_connections: Annotated[int, COUNT, Doc("alarm above this many connections")] = 200
    rds_replica_lag_seconds: Annotated[int, COUNT, Doc("per read replica")] = 60
    proxy_client_connections: Annotated[int, COUNT, Doc("RDS Proxy: alarm above this many client connections")] = 1000
    proxy_database_connections: Annotated[
        int, COUNT, Doc("RDS Proxy: alarm above this many pooled connections to the primary")
    ] = 180
    proxy_borrow_latency_ms: Annotated[int, COUNT, Doc("RDS Proxy: average wait for a pooled connection")] = 100
    proxy_query_latency_ms: Annotated[int, COUNT, Doc("RDS Proxy: average database response (spec: < 200 ms)")] = 200
    cdn_5xx_rate_percent: Annotated[float, OPEN_PERCENT, Doc("CloudFront 5xxErrorRate")] = 1.0
    cdn_cache_hit_min_percent: Annotated[float, OPEN_PERCENT, Doc("spec: cache hit ratio > 85 %")] = 85.0
    queue_oldest_message_seconds: Annotated[
        int, COUNT, Doc("uploads waiting longer than this: workers are not keeping up")
    ] = 1800
    app_errors_per_5_minutes: Annotated[int, COUNT, Doc("ERROR lines in the service logs")] = 10
    xray_sampling_rate: Annotated[float, Range(0, 1), Doc("share of requests traced after the first per second")] = 0.05


@dataclass(frozen=True, kw_only=True)
class Watched:
    """Identifiers of what the alarms watch, handed over by the stack."""

    cluster_name: str
    services: tuple[str, ...]  # ECS service names
    alb_arn_suffix: str
    target_group_arn_suffix: str
    api_name: str
    api_stage: str
    db_identifier: str
    replica_identifiers: tuple[str, ...]
    distribution_id: str
    queue_name: str
    dead_letter_queue_name: str
    log_groups: dict[str, str] = field(default_factory=dict)  # service -> log group name
    proxy_name: str = ""  # the RDS Proxy ("": none)


@dataclass(frozen=True)
class AlarmSpec:
    id: str
    tier: str
    description: str
    namespace: str
    metric: str
    dimensions: dict[str, str]
    threshold: float
    comparison: str = "GreaterThanThreshold"
    statistic: str = "Average"  # or "p95" (extended statistic)
    period: int = 60
    evaluation_periods: int = 5
    edge: bool = False  # CloudFront metrics exist only in us-east-1


class Monitoring(Construct):
    """Exposes `topic` (primary region), `edge_topic` (us-east-1), `publishers_grant` (for the keys), and after
    `watch()` the `alarms` by id and the `dashboard` (None before)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: MonitoringConfig,
        kms_key_arn: str,
        edge_kms_key_arn: str,
        edge_provider,
    ) -> None:
        super().__init__(scope, id_)
        self._naming, self._config, self._edge_provider = naming, config, edge_provider
        self.topic = self._topic("alarms", kms_key_arn, None)
        self.edge_topic = self._topic("edge-alarms", edge_kms_key_arn, edge_provider)
        self.alarms: dict[str, CloudwatchMetricAlarm] = {}
        self.dashboard: CloudwatchDashboard | None = None
        XraySamplingRule(
            self,
            "xray-sampling",
            rule_name=naming.name("default")[:32],
            priority=1000,
            version=1,
            reservoir_size=1,
            fixed_rate=config.xray_sampling_rate,
            url_path="*",
            host="*",
            http_method="*",
            service_name="*",
            service_type="*",
            resource_arn="*",
        )

    @property
    def publishers_grant(self) -> ServiceGrant:
        """The services that publish to the encrypted topics must use the keys (`Security.grant_to_service`)."""
        return ServiceGrant(
            "AlarmPublishers",
            PUBLISHERS,
            ("kms:Decrypt", "kms:GenerateDataKey*"),
            {"StringEquals": {"aws:SourceAccount": self._naming.account_id}},
        )

    def _topic(self, id_: str, kms_key_arn: str, provider) -> SnsTopic:
        topic = SnsTopic(self, id_, name=self._naming.name(id_), kms_master_key_id=kms_key_arn, provider=provider)
        SnsTopicPolicy(
            self,
            f"{id_}-policy",
            arn=topic.arn,
            provider=provider,
            policy=policy(
                statement(
                    "ServicesPublishAlarms",
                    ["sns:Publish"],
                    [topic.arn],
                    principal={"Service": list(PUBLISHERS)},
                    condition={"StringEquals": {"aws:SourceAccount": self._naming.account_id}},
                ),
                deny_insecure_transport("sns", [topic.arn], actions=["Publish"]),
            ),
        )
        for i, email in enumerate(self._config.alarm_emails):
            SnsTopicSubscription(
                self, f"{id_}-email-{i}", topic_arn=topic.arn, protocol="email", endpoint=email, provider=provider
            )
        return topic

    def watch(self, watched: Watched) -> None:
        """Creates the alarm set and the dashboard for these resources."""
        specs = self._alarm_specs(watched)
        for spec in specs:
            self._alarm(spec)
        self._tasks_below_desired(watched)
        self._app_errors(watched)
        CloudfrontMonitoringSubscription(
            self,
            "cdn-additional-metrics",
            distribution_id=watched.distribution_id,
            provider=self._edge_provider,
            monitoring_subscription=CloudfrontMonitoringSubscriptionMonitoringSubscription(
                realtime_metrics_subscription_config=CloudfrontMonitoringSubscriptionMonitoringSubscriptionRealtimeMetricsSubscriptionConfig(
                    realtime_metrics_subscription_status="Enabled"
                )
            ),
        )
        self.dashboard = CloudwatchDashboard(
            self,
            "dashboard",
            dashboard_name=self._naming.name("overview"),
            dashboard_body=json.dumps(self._dashboard(specs), sort_keys=True),
        )

    def _alarm_specs(self, w: Watched) -> list[AlarmSpec]:
        """Every metric alarm, tier by tier (in this order: ids and resources follow it)."""
        return [
            *self._compute_specs(w),
            *self._load_balancer_specs(w),
            *self._api_specs(w),
            *self._database_specs(w),
            *self._cdn_specs(w),
            *self._ingest_specs(w),
        ]

    def _compute_specs(self, w: Watched) -> list[AlarmSpec]:
        c = self._config
        specs = []
        for service in w.services:
            dims = {"ClusterName": w.cluster_name, "ServiceName": service}
            specs += [
                AlarmSpec(
                    f"{service}-cpu-high",
                    "compute",
                    f"{service}: average CPU above {c.ecs_cpu_high_percent} %",
                    "AWS/ECS",
                    "CPUUtilization",
                    dims,
                    c.ecs_cpu_high_percent,
                ),
                AlarmSpec(
                    f"{service}-memory-high",
                    "compute",
                    f"{service}: average memory above {c.ecs_memory_high_percent} %",
                    "AWS/ECS",
                    "MemoryUtilization",
                    dims,
                    c.ecs_memory_high_percent,
                ),
            ]
        return specs

    def _load_balancer_specs(self, w: Watched) -> list[AlarmSpec]:
        c, alb = self._config, {"LoadBalancer": w.alb_arn_suffix}
        return [
            AlarmSpec(
                "alb-5xx",
                "load balancer",
                f"ALB and targets: more than {c.alb_5xx_per_minute} 5xx a minute",
                "AWS/ApplicationELB",
                "HTTPCode_Target_5XX_Count",
                alb,
                c.alb_5xx_per_minute,
                statistic="Sum",
            ),
            AlarmSpec(
                "alb-elb-5xx",
                "load balancer",
                f"ALB itself: more than {c.alb_5xx_per_minute} 5xx a minute",
                "AWS/ApplicationELB",
                "HTTPCode_ELB_5XX_Count",
                alb,
                c.alb_5xx_per_minute,
                statistic="Sum",
            ),
            AlarmSpec(
                "alb-latency-p95",
                "load balancer",
                f"Target response time p95 above {c.alb_p95_latency_ms} ms",
                "AWS/ApplicationELB",
                "TargetResponseTime",
                alb,
                c.alb_p95_latency_ms / 1000,
                statistic="p95",
            ),
            AlarmSpec(
                "alb-unhealthy-hosts",
                "load balancer",
                "Unhealthy API targets",
                "AWS/ApplicationELB",
                "UnHealthyHostCount",
                alb | {"TargetGroup": w.target_group_arn_suffix},
                0,
                statistic="Maximum",
                evaluation_periods=3,
            ),
        ]

    def _api_specs(self, w: Watched) -> list[AlarmSpec]:
        c, api = self._config, {"ApiName": w.api_name, "Stage": w.api_stage}
        return [
            AlarmSpec(
                "api-5xx",
                "api",
                f"API Gateway: more than {c.api_5xx_per_minute} 5xx a minute",
                "AWS/ApiGateway",
                "5XXError",
                api,
                c.api_5xx_per_minute,
                statistic="Sum",
            ),
            AlarmSpec(
                "api-4xx",
                "api",
                f"API Gateway: more than {c.api_4xx_per_minute} 4xx a minute",
                "AWS/ApiGateway",
                "4XXError",
                api,
                c.api_4xx_per_minute,
                statistic="Sum",
            ),
            AlarmSpec(
                "api-latency-p95",
                "api",
                f"API Gateway latency p95 above {c.api_p95_latency_ms} ms",
                "AWS/ApiGateway",
                "Latency",
                api,
                c.api_p95_latency_ms,
                statistic="p95",
            ),
        ]

    def _database_specs(self, w: Watched) -> list[AlarmSpec]:
        c, db = self._config, {"DBInstanceIdentifier": w.db_identifier}
        return [
            AlarmSpec(
                "db-cpu-high",
                "database",
                f"Database CPU above {c.rds_cpu_high_percent} %",
                "AWS/RDS",
                "CPUUtilization",
                db,
                c.rds_cpu_high_percent,
            ),
            AlarmSpec(
                "db-free-storage-low",
                "database",
                f"Database free storage below {c.rds_free_storage_gb} GB",
                "AWS/RDS",
                "FreeStorageSpace",
                db,
                c.rds_free_storage_gb * 1024**3,
                comparison="LessThanThreshold",
                statistic="Minimum",
            ),
            AlarmSpec(
                "db-connections-high",
                "database",
                f"More than {c.rds_max_connections} database connections",
                "AWS/RDS",
                "DatabaseConnections",
                db,
                c.rds_max_connections,
                statistic="Maximum",
            ),
            *[
                AlarmSpec(
                    f"{replica.removeprefix(self._naming.prefix + '-')}-lag",
                    "database",
                    f"{replica}: replica lag above {c.rds_replica_lag_seconds} s",
                    "AWS/RDS",
                    "ReplicaLag",
                    {"DBInstanceIdentifier": replica},
                    c.rds_replica_lag_seconds,
                    statistic="Maximum",
                )
                for replica in w.replica_identifiers
            ],
            *self._proxy_alarm_specs(w.proxy_name),
        ]

    def _cdn_specs(self, w: Watched) -> list[AlarmSpec]:
        c, cdn = self._config, {"DistributionId": w.distribution_id, "Region": "Global"}
        return [
            AlarmSpec(
                "cdn-5xx-rate",
                "cdn",
                f"CloudFront 5xx error rate above {c.cdn_5xx_rate_percent} %",
                "AWS/CloudFront",
                "5xxErrorRate",
                cdn,
                c.cdn_5xx_rate_percent,
                edge=True,
            ),
            AlarmSpec(
                "cdn-cache-hit-low",
                "cdn",
                f"CloudFront cache hit rate below {c.cdn_cache_hit_min_percent} %",
                "AWS/CloudFront",
                "CacheHitRate",
                cdn,
                c.cdn_cache_hit_min_percent,
                comparison="LessThanThreshold",
                period=300,
                evaluation_periods=6,
                edge=True,
            ),
        ]

    def _ingest_specs(self, w: Watched) -> list[AlarmSpec]:
        c = self._config
        return [
            AlarmSpec(
                "uploads-oldest-message",
                "ingest",
                f"An upload has waited more than {c.queue_oldest_message_seconds} s for a worker",
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                {"QueueName": w.queue_name},
                c.queue_oldest_message_seconds,
                statistic="Maximum",
            ),
            AlarmSpec(
                "uploads-dead-letters",
                "ingest",
                "Uploads that failed processing reached the dead-letter queue",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": w.dead_letter_queue_name},
                0,
                statistic="Maximum",
                evaluation_periods=1,
            ),
        ]

    def _proxy_alarm_specs(self, proxy_name: str) -> list[AlarmSpec]:
        """RDS Proxy metrics are published per proxy node: Sum adds the nodes up, Average and Minimum compare them.
        Latencies are in microseconds."""
        if not proxy_name:
            return []
        c, proxy = self._config, {"ProxyName": proxy_name}
        return [
            AlarmSpec(
                "db-proxy-unavailable",
                "database",
                "RDS Proxy: the primary unavailable to the proxy's pool",
                "AWS/RDS",
                "AvailabilityPercentage",
                proxy | {"TargetGroup": "default", "TargetRole": "READ_WRITE"},
                100,
                comparison="LessThanThreshold",
                statistic="Minimum",
                evaluation_periods=3,
            ),
            AlarmSpec(
                "db-proxy-client-connections-high",
                "database",
                f"RDS Proxy: more than {c.proxy_client_connections} client connections",
                "AWS/RDS",
                "ClientConnections",
                proxy,
                c.proxy_client_connections,
                statistic="Sum",
            ),
            AlarmSpec(
                "db-proxy-database-connections-high",
                "database",
                f"RDS Proxy: more than {c.proxy_database_connections} connections to the primary",
                "AWS/RDS",
                "DatabaseConnections",
                proxy,
                c.proxy_database_connections,
                statistic="Sum",
            ),
            AlarmSpec(
                "db-proxy-borrow-latency-high",
                "database",
                f"RDS Proxy: clients wait more than {c.proxy_borrow_latency_ms} ms for a pooled connection",
                "AWS/RDS",
                "DatabaseConnectionsBorrowLatency",
                proxy,
                c.proxy_borrow_latency_ms * 1000,
            ),
            AlarmSpec(
                "db-proxy-query-latency-high",
                "database",
                f"RDS Proxy: database responses slower than {c.proxy_query_latency_ms} ms on average",
                "AWS/RDS",
                "QueryDatabaseResponseLatency",
                proxy,
                c.proxy_query_latency_ms * 1000,
            ),
        ]

    def _alarm(self, spec: AlarmSpec) -> CloudwatchMetricAlarm:
        topic = self.edge_topic if spec.edge else self.topic
        percentile = spec.statistic.startswith("p")
        alarm = CloudwatchMetricAlarm(
            self,
            spec.id,
            alarm_name=self._naming.name(spec.id),
            alarm_description=spec.description,
            namespace=spec.namespace,
            metric_name=spec.metric,
            dimensions=spec.dimensions,
            statistic=None if percentile else spec.statistic,
            extended_statistic=spec.statistic if percentile else None,
            period=spec.period,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=min(3, spec.evaluation_periods),
            threshold=spec.threshold,
            comparison_operator=spec.comparison,
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            provider=self._edge_provider if spec.edge else None,
        )
        self.alarms[spec.id] = alarm
        return alarm

    def _tasks_below_desired(self, w: Watched) -> None:
        for service in w.services:
            dims = {"ClusterName": w.cluster_name, "ServiceName": service}

            def metric(id_: str, name: str, dims: dict[str, str] = dims) -> CloudwatchMetricAlarmMetricQuery:
                return CloudwatchMetricAlarmMetricQuery(
                    id=id_,
                    metric=CloudwatchMetricAlarmMetricQueryMetric(
                        namespace="ECS/ContainerInsights", metric_name=name, dimensions=dims, period=60, stat="Average"
                    ),
                )

            self.alarms[f"{service}-tasks-below-desired"] = CloudwatchMetricAlarm(
                self,
                f"{service}-tasks-below-desired",
                alarm_name=self._naming.name(service, "tasks-below-desired"),
                alarm_description=f"{service}: fewer tasks running than desired for 5 minutes",
                comparison_operator="GreaterThanThreshold",
                threshold=0,
                evaluation_periods=5,
                datapoints_to_alarm=5,
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                metric_query=[
                    metric("desired", "DesiredTaskCount"),
                    metric("running", "RunningTaskCount"),
                    CloudwatchMetricAlarmMetricQuery(
                        id="missing", expression="desired - running", label="Tasks missing", return_data=True
                    ),
                ],
            )

    def _app_errors(self, w: Watched) -> None:
        namespace = f"VideoIngest/{self._naming.environment}"
        for service, log_group in sorted(w.log_groups.items()):
            metric = f"{service}-app-errors"
            CloudwatchLogMetricFilter(
                self,
                f"{service}-error-filter",
                name=self._naming.name(service, "errors"),
                log_group_name=log_group,
                pattern="?ERROR ?Error ?Exception ?Traceback",
                metric_transformation=CloudwatchLogMetricFilterMetricTransformation(
                    name=metric, namespace=namespace, value="1", default_value="0", unit="Count"
                ),
            )
            self._alarm(
                AlarmSpec(
                    f"{service}-app-errors",
                    "compute",
                    f"{service}: more than {self._config.app_errors_per_5_minutes} errors logged in 5 minutes",
                    namespace,
                    metric,
                    {},
                    self._config.app_errors_per_5_minutes,
                    statistic="Sum",
                    period=300,
                    evaluation_periods=1,
                )
            )

    def _dashboard(self, specs: list[AlarmSpec]) -> dict:
        """One row per tier: a title, then one graph per alarmed metric with the threshold drawn."""
        widgets, y = [], 0
        for tier in dict.fromkeys(spec.tier for spec in specs):
            widgets.append(
                {
                    "type": "text",
                    "x": 0,
                    "y": y,
                    "width": 24,
                    "height": 1,
                    "properties": {"markdown": f"## {tier.title()}"},
                }
            )
            y += 1
            for i, spec in enumerate(s for s in specs if s.tier == tier):
                dims = [item for pair in sorted(spec.dimensions.items()) for item in pair]
                widgets.append(
                    {
                        "type": "metric",
                        "x": (i % 4) * 6,
                        "y": y + (i // 4) * 6,
                        "width": 6,
                        "height": 6,
                        "properties": {
                            "title": spec.description,
                            "view": "timeSeries",
                            "region": "us-east-1" if spec.edge else self._naming.region,
                            "stat": spec.statistic,
                            "period": spec.period,
                            "metrics": [[spec.namespace, spec.metric, *dims]],
                            "annotations": {"horizontal": [{"value": spec.threshold, "label": "alarm"}]},
                        },
                    }
                )
            y += ((sum(1 for s in specs if s.tier == tier) + 3) // 4) * 6
        return {"widgets": widgets}
