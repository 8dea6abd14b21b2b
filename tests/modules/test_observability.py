"""Alarms and their actions, dashboard, budgets, anomaly detection, DR and destroy protection per environment."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ENVIRONMENTS, find_one, resources

EXPECTED_ALARMS = {
    "api-cpu-high",
    "api-memory-high",
    "worker-cpu-high",
    "worker-memory-high",
    "api-tasks-below-desired",
    "worker-tasks-below-desired",
    "alb-5xx",
    "alb-elb-5xx",
    "alb-latency-p95",
    "alb-unhealthy-hosts",
    "api-5xx",
    "api-4xx",
    "api-latency-p95",
    "db-cpu-high",
    "db-free-storage-low",
    "db-connections-high",
    "cdn-5xx-rate",
    "cdn-cache-hit-low",
    "uploads-oldest-message",
    "uploads-dead-letters",
    "api-app-errors",
    "worker-app-errors",
    "db-proxy-unavailable",
    "db-proxy-client-connections-high",
    "db-proxy-database-connections-high",
    "db-proxy-borrow-latency-high",
    "db-proxy-query-latency-high",
}


def alarms(stack: dict) -> dict[str, dict]:
    """Alarms that tell people, by name without the `video-ingest-<env>-` prefix (not the ones that drive
    scaling policies: tests/modules/test_ingest.py)."""
    return {
        body["alarm_name"].split("-", 3)[3]: body
        for body in resources(stack, "aws_cloudwatch_metric_alarm").values()
        if not any("aws_appautoscaling_policy." in action for action in body["alarm_actions"])
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_alarm_set_with_alarm_and_ok_actions(stacks, env):
    found = alarms(stacks[env])
    expected = EXPECTED_ALARMS | ({"db-replica-1-lag"} if env == "prod" else set())
    assert set(found) == expected
    for name, alarm in found.items():
        topic = "edge-alarms" if name.startswith("cdn-") else "monitoring_alarms"
        assert alarm["alarm_actions"] == alarm["ok_actions"]
        assert topic in alarm["alarm_actions"][0], name
        assert (alarm.get("provider") == "aws.edge") == name.startswith("cdn-")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarm_thresholds_follow_the_spec(stacks, env):
    found = alarms(stacks[env])
    assert found["alb-latency-p95"]["extended_statistic"] == "p95" and found["alb-latency-p95"]["threshold"] == 0.2
    assert found["api-latency-p95"]["threshold"] == 200
    assert (
        found["cdn-cache-hit-low"]["threshold"] == 85
        and found["cdn-cache-hit-low"]["comparison_operator"] == "LessThanThreshold"
    )
    assert found["uploads-dead-letters"]["threshold"] == 0
    missing = found["api-tasks-below-desired"]["metric_query"]
    assert [q.get("expression") for q in missing if q.get("return_data")] == ["desired - running"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_topics_are_encrypted_and_subscribed_from_config(stacks, env):
    from environments.config import load_environment

    topics = resources(stacks[env], "aws_sns_topic").values()
    assert len(topics) == 2 and all(t["kms_master_key_id"].startswith("${aws_kms_key.security_") for t in topics)
    emails = sorted(s["endpoint"] for s in resources(stacks[env], "aws_sns_topic_subscription").values())
    assert emails == sorted(load_environment(env).monitoring.alarm_emails * 2)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dashboard_groups_metrics_by_tier(stacks, env):
    body = json.loads(find_one(stacks[env], "aws_cloudwatch_dashboard")["dashboard_body"])
    titles = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert titles == ["## Compute", "## Load Balancer", "## Api", "## Database", "## Cdn", "## Ingest"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_error_metric_filters_on_service_logs_and_xray_sampling(stacks, env):
    filters = resources(stacks[env], "aws_cloudwatch_log_metric_filter").values()
    assert sorted(f["metric_transformation"]["name"] for f in filters) == ["api-app-errors", "worker-app-errors"]
    assert find_one(stacks[env], "aws_xray_sampling_rule")["fixed_rate"] == 0.05


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_budget_alerts_at_80_and_100_percent(stacks, env):
    from environments.config import load_environment

    budget = find_one(stacks[env], "aws_budgets_budget")
    assert budget["limit_amount"] == str(load_environment(env).cost.monthly_budget_usd)
    assert budget["time_unit"] == "MONTHLY" and budget["budget_type"] == "COST"
    assert sorted((n["threshold"], n["notification_type"]) for n in budget["notification"]) == [
        (80, "ACTUAL"),
        (100, "ACTUAL"),
        (100, "FORECASTED"),
    ]
    assert all("monitoring_alarms" in n["subscriber_sns_topic_arns"][0] for n in budget["notification"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cost_anomaly_subscription(stacks, env):
    from environments.config import load_environment

    subscription = find_one(stacks[env], "aws_ce_anomaly_subscription")
    dimension = subscription["threshold_expression"]["dimension"]
    assert dimension["key"] == "ANOMALY_TOTAL_IMPACT_ABSOLUTE"
    assert dimension["values"] == [str(load_environment(env).cost.anomaly_threshold_usd)]
    assert subscription["monitor_arn_list"][0].startswith("${aws_ce_anomaly_monitor.")
    assert "edge-alarms" in subscription["subscriber"][0]["address"]


def test_an_existing_anomaly_monitor_is_subscribed_to_not_created_again(synth_dev_with):
    """AWS allows one AWS-services monitor per account: with its ARN in config the stack only subscribes."""
    arn = "arn:aws:ce::111111111111:anomalymonitor/0f3c1a2b-1111-2222-3333-444455556666"
    stack = synth_dev_with("cost", f'anomaly_monitor_arn = "{arn}"')
    assert not resources(stack, "aws_ce_anomaly_monitor")
    assert find_one(stack, "aws_ce_anomaly_subscription")["monitor_arn_list"] == [arn]
    off = synth_dev_with("cost", "anomaly_detection = false")
    assert not resources(off, "aws_ce_anomaly_monitor") and not resources(off, "aws_ce_anomaly_subscription")


def test_prod_disaster_recovery_pieces(stacks):
    prod = stacks["prod"]
    replication = find_one(prod, "aws_db_instance_automated_backups_replication")
    assert replication["provider"] == "aws.dr" and replication["kms_key_id"].startswith("${aws_kms_key.security_dr-key")
    rule = find_one(prod, "aws_s3_bucket_replication_configuration")["rule"][0]
    assert rule["destination"]["replication_time"] == {"status": "Enabled", "time": {"minutes": 15}}
    plan = find_one(prod, "aws_backup_plan")["rule"][0]
    assert plan["copy_action"][0]["destination_vault_arn"].startswith("${aws_backup_vault.backup_dr-vault")
    vaults = resources(prod, "aws_backup_vault").values()
    assert all(v["kms_key_arn"].startswith("${aws_kms_key.security_") for v in vaults)
    assert [v.get("provider") for v in vaults].count("aws.dr") == 1
    assert find_one(prod, "aws_db_instance", "primary")["backup_retention_period"] == 30


@pytest.mark.parametrize("env", ("dev", "staging"))
def test_dr_extras_are_off_outside_prod(stacks, env):
    for rtype in (
        "aws_db_instance_automated_backups_replication",
        "aws_backup_plan",
        "aws_s3_bucket_replication_configuration",
    ):
        assert not resources(stacks[env], rtype), rtype


STATEFUL = (
    ("aws_s3_bucket", "storage_videos_bucket"),
    ("aws_db_instance", "database_primary"),
    ("aws_kms_key", "security_key"),
    ("aws_kms_key", "security_dr-key"),
)


def test_prod_stateful_resources_cannot_be_destroyed(stacks):
    for rtype, name in STATEFUL:
        [body] = [v for k, v in resources(stacks["prod"], rtype).items() if k.startswith(name)]
        assert body["lifecycle"]["prevent_destroy"] is True, name
    assert find_one(stacks["prod"], "aws_db_instance", "primary")["deletion_protection"] is True
    for rtype, name in (("aws_s3_bucket", "state_bucket"), ("aws_dynamodb_table", "lock-table")):
        [body] = [v for k, v in resources(stacks["state-backend"], rtype).items() if k.startswith(name)]
        assert body["lifecycle"]["prevent_destroy"] is True


def test_every_prod_bucket_is_protected_from_destroy(stacks):
    """Logs (S3, ALB, CloudFront, DR region) and raw uploads are data too: a plan that would destroy any
    prod bucket must fail, like one that would destroy the database."""
    buckets = resources(stacks["prod"], "aws_s3_bucket")
    assert len(buckets) >= 6
    unprotected = [
        body["bucket"] for body in buckets.values() if body.get("lifecycle", {}).get("prevent_destroy") is not True
    ]
    assert not unprotected


def test_dev_stays_easy_to_tear_down(stacks):
    dev = stacks["dev"]
    for rtype, resources_of_type in dev["resource"].items():
        for name, body in resources_of_type.items():
            assert body.get("lifecycle", {}).get("prevent_destroy") is not True, f"{rtype}.{name}"
    assert find_one(dev, "aws_db_instance", "primary")["deletion_protection"] is False
    assert all(b["force_destroy"] for b in resources(dev, "aws_s3_bucket").values())
