"""Cost controls: a monthly budget with 80 % / 100 % actual and 100 % forecast alerts, and anomaly detection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from cdktf_cdktf_provider_aws.budgets_budget import BudgetsBudget, BudgetsBudgetNotification
from cdktf_cdktf_provider_aws.ce_anomaly_monitor import CeAnomalyMonitor
from cdktf_cdktf_provider_aws.ce_anomaly_subscription import (
    CeAnomalySubscription,
    CeAnomalySubscriptionSubscriber,
    CeAnomalySubscriptionThresholdExpression,
    CeAnomalySubscriptionThresholdExpressionDimension,
)
from constructs import Construct

from modules.limits import Doc, Pattern, Range
from modules.naming import Naming
from modules.validation import EMAIL

MONITOR_ARN = Pattern(
    r"(arn:aws:ce::\d{12}:anomalymonitor/[0-9a-f-]{1,64})?",
    "empty or a monitor ARN 'arn:aws:ce::<12 digits>:anomalymonitor/<id>'",
)
# (threshold %, ACTUAL | FORECASTED): the spec's "budget alerts at 80% and 100%", plus a forecast warning.
BUDGET_ALERTS = ((80, "ACTUAL"), (100, "ACTUAL"), (100, "FORECASTED"))


@dataclass(frozen=True, kw_only=True)
class CostUsage:
    """`[cost.usage]`: the monthly usage the estimate assumes (`make cost`, tools/cost/cost.py), which the synthesized
    stack cannot say; the resources themselves (counts, sizes, classes) come from the stack. Every field has a
    default (a small environment) and limits; a bad value is one line naming the file, the field and the value."""

    nat_data_gb: Annotated[float, Range(0, 1_000_000, "GB"), Doc("GB through the NAT gateways, all together")] = 100.0
    alb_lcu: Annotated[float, Range(0, 10_000, "LCU"), Doc("average load balancer capacity units per hour")] = 1.0
    extra_api_tasks: Annotated[float, Range(0, 1_000, "tasks"), Doc("API tasks above min_tasks, on average")] = 0.0
    worker_task_hours: Annotated[float, Range(0, 1_000_000, "hours"), Doc("worker task-hours (they scale from 0)")] = (
        100.0
    )
    database_backup_gb: Annotated[float, Range(0, 1_000_000, "GB"), Doc("backup storage beyond the allocated size")] = (
        0.0
    )
    cloudfront_data_gb: Annotated[float, Range(0, 10_000_000, "GB"), Doc("CDN data out to viewers")] = 100.0
    cloudfront_requests_millions: Annotated[float, Range(0, 100_000, "million"), Doc("CDN HTTPS requests")] = 1.0
    api_requests_millions: Annotated[float, Range(0, 100_000, "million"), Doc("API Gateway requests")] = 1.0
    waf_requests_millions: Annotated[float, Range(0, 100_000, "million"), Doc("requests inspected by each web ACL")] = (
        2.0
    )
    log_ingest_gb: Annotated[float, Range(0, 1_000_000, "GB"), Doc("CloudWatch Logs ingested")] = 5.0
    log_storage_gb: Annotated[float, Range(0, 1_000_000, "GB"), Doc("CloudWatch Logs kept")] = 10.0
    s3_standard_gb: Annotated[float, Range(0, 100_000_000, "GB"), Doc("videos and uploads in S3 Standard")] = 50.0
    s3_standard_ia_gb: Annotated[float, Range(0, 100_000_000, "GB"), Doc("in Standard-IA (lifecycle)")] = 0.0
    s3_glacier_ir_gb: Annotated[float, Range(0, 100_000_000, "GB"), Doc("in Glacier Instant Retrieval")] = 0.0
    s3_deep_archive_gb: Annotated[float, Range(0, 100_000_000, "GB"), Doc("in Glacier Deep Archive")] = 0.0
    config_items: Annotated[float, Range(0, 100_000_000, "items"), Doc("AWS Config items (where recorded)")] = 1000.0
    cloudtrail_events_millions: Annotated[
        float, Range(0, 100_000, "million"), Doc("events for GuardDuty/CloudTrail")
    ] = 1.0


@dataclass(frozen=True, kw_only=True)
class CostConfig:
    """Inputs. Each environment lives in its own account, so the budget covers the whole account."""

    monthly_budget_usd: Annotated[int, Range(1, unit="USD"), Doc("monthly cost budget of the account")] = 5000
    anomaly_threshold_usd: Annotated[
        int, Range(1, unit="USD"), Doc("alert on anomalies whose total impact reaches this")
    ] = 100
    budget_emails: Annotated[tuple[Annotated[str, EMAIL], ...], Doc("also told directly, besides the alarm topic")] = ()
    anomaly_detection: Annotated[
        bool, Doc("Cost Anomaly Detection: a monitor of AWS services and an immediate alert subscription")
    ] = True
    anomaly_monitor_arn: Annotated[
        str,
        MONITOR_ARN,
        Doc(
            "AWS allows one AWS-services monitor per account: an existing one (e.g. the Default-Services-Monitor "
            "enabling Cost Explorer creates), subscribed to instead of creating one"
        ),
    ] = ""
    adopt_anomaly_monitor: Annotated[
        bool,
        Doc(
            "with anomaly_monitor_arn: import that monitor and manage it (renamed to this environment's name) "
            "instead of only subscribing to it"
        ),
    ] = False
    review_threshold_usd: Annotated[
        int,
        Range(0, unit="USD"),
        Doc('a change raising the monthly estimate by more is the review\'s verdict "cost up"'),
    ] = 50
    usage: Annotated[
        CostUsage, Doc("[cost.usage]: the usage assumptions of the estimate (`make cost`, docs/review.md)")
    ] = field(default_factory=CostUsage)

    def __post_init__(self) -> None:
        if self.adopt_anomaly_monitor and not self.anomaly_monitor_arn:
            raise ValueError(
                "adopt_anomaly_monitor = true: names no monitor; set anomaly_monitor_arn to the "
                "existing monitor's ARN (docs/first-deploy.md, Cost Explorer)"
            )
        if self.anomaly_monitor_arn and not self.anomaly_detection:
            raise ValueError(
                f"anomaly_monitor_arn = {self.anomaly_monitor_arn!r}: set, but anomaly_detection = "
                "false subscribes nothing to it; remove one of them"
            )


class Cost(Construct):
    """Exposes `budget`, `anomaly_monitor` and `anomaly_subscription` (None where config leaves them out)."""

    def __init__(
        self, scope: Construct, id_: str, *, naming: Naming, config: CostConfig, topic_arn: str, edge_topic_arn: str
    ) -> None:
        super().__init__(scope, id_)
        self.budget = _monthly_budget(self, naming, config, topic_arn)
        self.anomaly_monitor = self.anomaly_subscription = None
        if not config.anomaly_detection:
            return
        monitor_arn = self._monitor_arn(naming, config)
        self.anomaly_subscription = _anomaly_subscription(self, naming, config, monitor_arn, edge_topic_arn)

    def _monitor_arn(self, naming: Naming, config: CostConfig) -> str:
        """The monitor subscribed to: an existing one (config.anomaly_monitor_arn), else one created (or adopted)."""
        # One AWS-services (DIMENSIONAL/SERVICE) monitor per account: an existing one is subscribed to, not
        # created again (AWS would refuse the create); docs/first-deploy.md: how to import it instead.
        # Enabling Cost Explorer in a new account creates AWS's own Default-Services-Monitor (that type), so the
        # create below fails there: adopt it (import and manage) or subscribe to it (docs/first-deploy.md).
        monitor_arn = config.anomaly_monitor_arn
        if not monitor_arn or config.adopt_anomaly_monitor:
            self.anomaly_monitor = CeAnomalyMonitor(
                self,
                "anomaly-monitor",
                name=naming.name("services"),
                monitor_type="DIMENSIONAL",
                monitor_dimension="SERVICE",
            )
            if config.adopt_anomaly_monitor:
                # An import block: the first apply takes the existing monitor into state (renaming it), later
                # ones find it there. Its type and dimension are the default monitor's, so nothing is replaced.
                self.anomaly_monitor.import_from(config.anomaly_monitor_arn)
            monitor_arn = self.anomaly_monitor.arn
        return monitor_arn


def _monthly_budget(scope: Construct, naming: Naming, config: CostConfig, topic_arn: str) -> BudgetsBudget:
    """The account's monthly cost budget, alerting at each of BUDGET_ALERTS."""
    return BudgetsBudget(
        scope,
        "monthly-budget",
        name=naming.name("monthly"),
        budget_type="COST",
        time_unit="MONTHLY",
        limit_amount=str(config.monthly_budget_usd),
        limit_unit="USD",
        notification=[
            BudgetsBudgetNotification(
                comparison_operator="GREATER_THAN",
                threshold=threshold,
                threshold_type="PERCENTAGE",
                notification_type=kind,
                subscriber_sns_topic_arns=[topic_arn],
                subscriber_email_addresses=list(config.budget_emails) or None,
            )
            for threshold, kind in BUDGET_ALERTS
        ],
    )


def _anomaly_subscription(
    scope: Construct, naming: Naming, config: CostConfig, monitor_arn: str, edge_topic_arn: str
) -> CeAnomalySubscription:
    """Immediate alerts on anomalies of the monitor whose total impact reaches the threshold."""
    # Cost Explorer is a us-east-1 service: its SNS subscriber is the us-east-1 alarm topic.
    return CeAnomalySubscription(
        scope,
        "anomaly-subscription",
        name=naming.name("anomalies"),
        frequency="IMMEDIATE",
        monitor_arn_list=[monitor_arn],
        subscriber=[CeAnomalySubscriptionSubscriber(type="SNS", address=edge_topic_arn)],
        threshold_expression=CeAnomalySubscriptionThresholdExpression(
            dimension=CeAnomalySubscriptionThresholdExpressionDimension(
                key="ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                match_options=["GREATER_THAN_OR_EQUAL"],
                values=[str(config.anomaly_threshold_usd)],
            )
        ),
    )
