"""The ingest path: CORS and multipart clean-up, S3 -> queue wiring, DLQ, backlog scaling, IAM scoping, ECR."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ENVIRONMENTS, find_one, resources
from tools.rehearsal.iam_evaluator import Request, evaluate


def upload_bucket(stack: dict) -> str:
    [name] = [k for k, v in resources(stack, "aws_s3_bucket").items() if "-uploads-" in v["bucket"]]
    return name


def of_bucket(stack: dict, rtype: str, bucket: str) -> dict:
    [body] = [v for v in resources(stack, rtype).values() if bucket in v["bucket"]]
    return body


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cors_lets_configured_origins_upload_and_read_the_etag(stacks, env):
    from environments.config import load_environment

    [rule] = of_bucket(stacks[env], "aws_s3_bucket_cors_configuration", upload_bucket(stacks[env]))["cors_rule"]
    assert rule["allowed_origins"] == list(load_environment(env).ingest.cors_allowed_origins)
    assert rule["allowed_methods"] == ["PUT", "POST"] and rule["expose_headers"] == ["ETag"]


@pytest.mark.parametrize("env, accelerated", [("dev", False), ("staging", False), ("prod", True)])
def test_transfer_acceleration_is_a_config_field(stacks, env, accelerated):
    configured = [
        body
        for body in resources(stacks[env], "aws_s3_bucket_accelerate_configuration").values()
        if upload_bucket(stacks[env]) in body["bucket"]
    ]
    assert [body["status"] for body in configured] == (["Enabled"] if accelerated else [])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_incomplete_multipart_uploads_are_aborted(stacks, env):
    rules = of_bucket(stacks[env], "aws_s3_bucket_lifecycle_configuration", upload_bucket(stacks[env]))["rule"]
    by_id = {r["id"]: r for r in rules}
    assert by_id["abort-incomplete-uploads"]["filter"] == [{"prefix": ""}]
    assert by_id["abort-incomplete-uploads"]["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 1}]
    assert by_id["raw-uploads"]["filter"] == [{"prefix": "uploads/"}] and by_id["raw-uploads"]["expiration"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_completed_uploads_notify_the_queue_with_a_prefix_filter(stacks, env):
    stack = stacks[env]
    notification = of_bucket(stack, "aws_s3_bucket_notification", upload_bucket(stack))
    [queue] = notification["queue"]
    assert queue["queue_arn"].startswith("${aws_sqs_queue.ingest_queue_")
    assert queue["events"] == ["s3:ObjectCreated:*"]
    assert queue["filter_prefix"] == "uploads/"
    assert notification["depends_on"] == [
        next(f"aws_sqs_queue_policy.{k}" for k in resources(stack, "aws_sqs_queue_policy"))
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_queue_policy_admits_only_the_upload_bucket(stacks, env):
    stack = stacks[env]
    statements = json.loads(find_one(stack, "aws_sqs_queue_policy")["policy"])["Statement"]
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"} and allow["Action"] == ["sqs:SendMessage"]
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == f"${{aws_s3_bucket.{upload_bucket(stack)}.arn}}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_queue_is_encrypted_and_redrives_to_the_dead_letter_queue(stacks, env):
    queues = resources(stacks[env], "aws_sqs_queue")
    queue, dlq = (
        find_one(stacks[env], "aws_sqs_queue", "ingest_queue"),
        find_one(stacks[env], "aws_sqs_queue", "dead-letter"),
    )
    assert all(q["kms_master_key_id"].startswith("${aws_kms_key.security_key") for q in queues.values())
    redrive = json.loads(queue["redrive_policy"])
    assert redrive["maxReceiveCount"] == 5 and redrive["deadLetterTargetArn"].startswith("${aws_sqs_queue.ingest_dead")
    assert queue["visibility_timeout_seconds"] == 900
    allow = find_one(stacks[env], "aws_sqs_queue_redrive_allow_policy")
    assert allow["queue_url"].startswith("${aws_sqs_queue.ingest_dead-letter-queue")
    assert json.loads(allow["redrive_allow_policy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [queue_ref(stacks[env])],
    }
    assert "redrive_allow_policy" not in dlq


def queue_ref(stack: dict) -> str:
    return "${aws_sqs_queue.ingest_queue_" + find_one_key(stack, "ingest_queue") + ".arn}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_worker_scales_on_backlog_per_task(stacks, env):
    from environments.config import load_environment

    config = load_environment(env).ingest
    policy = find_one(stacks[env], "aws_appautoscaling_policy", "worker-backlog")[
        "target_tracking_scaling_policy_configuration"
    ]
    assert policy["target_value"] == config.backlog_per_worker
    metrics = {m["id"]: m for m in policy["customized_metric_specification"]["metrics"]}
    assert metrics["backlog"]["metric_stat"]["metric"]["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert metrics["tasks"]["metric_stat"]["metric"]["metric_name"] == "RunningTaskCount"
    assert metrics["backlog_per_task"]["expression"] == "IF(tasks > 0, backlog / tasks, backlog)"
    assert metrics["backlog_per_task"]["return_data"] is True
    target = find_one(stacks[env], "aws_appautoscaling_target", "worker-scaling-target")
    assert (target["min_capacity"], target["max_capacity"]) == (config.min_workers, config.max_workers)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_worker_scales_from_zero_on_queue_metrics_alone(stacks, env):
    """With no worker running, Container Insights reports no RunningTaskCount, so the backlog-per-task math has
    no data and target tracking never starts the first worker. A step policy triggered by SQS metrics alone does:
    messages waiting that no worker received add one worker (0 -> 1, or one more when all are busy)."""
    stack = stacks[env]
    [(name, step)] = [
        (n, p) for n, p in resources(stack, "aws_appautoscaling_policy").items() if p["policy_type"] == "StepScaling"
    ]
    [target] = [n for n in resources(stack, "aws_appautoscaling_target") if "worker-scaling-target" in n]
    assert step["resource_id"] == f"${{aws_appautoscaling_target.{target}.resource_id}}"
    configuration = step["step_scaling_policy_configuration"]
    assert configuration["adjustment_type"] == "ChangeInCapacity"
    assert configuration["step_adjustment"] == [{"metric_interval_lower_bound": "0", "scaling_adjustment": 1}]
    [alarm] = [
        a
        for a in resources(stack, "aws_cloudwatch_metric_alarm").values()
        if a.get("alarm_actions") == [f"${{aws_appautoscaling_policy.{name}.arn}}"]
    ]
    queries = {q["id"]: q for q in alarm["metric_query"]}
    assert {q["metric"]["namespace"] for q in queries.values() if "metric" in q} == {"AWS/SQS"}
    assert {q["metric"]["dimensions"]["QueueName"] for q in queries.values() if "metric" in q} == {
        "${aws_sqs_queue.ingest_queue_" + find_one_key(stack, "ingest_queue") + ".name}"
    }
    [expression] = [q for q in queries.values() if q.get("return_data")]
    assert expression["expression"] == "IF(backlog >= 1 AND received == 0, 1, 0)"
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["treat_missing_data"] == "notBreaching"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_worker_service_has_no_load_balancer_and_no_public_ip(stacks, env):
    service = find_one(stacks[env], "aws_ecs_service", "worker-service")
    assert "load_balancer" not in service and service["network_configuration"]["assign_public_ip"] is False
    assert "worker-sg" in service["network_configuration"]["security_groups"][0]


def allowed(policy: dict, action: str, resource: str) -> bool:
    """May the role holding this (identity) policy do `action` on `resource`? The model's IAM evaluator."""
    return evaluate(Request(action, resource, region="eu-west-1"), identity=policy).allowed


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_worker_reads_only_uploads_and_writes_only_processed(stacks, env):
    stack = stacks[env]
    policy = json.loads(find_one(stack, "aws_iam_role_policy", "worker-task-policy")["policy"])
    uploads = f"${{aws_s3_bucket.{upload_bucket(stack)}.arn}}"
    [videos_id] = [
        k
        for k, v in resources(stack, "aws_s3_bucket").items()
        if "-videos-" in v["bucket"] and v["bucket"].endswith("eu-west-1")
    ]
    videos = f"${{aws_s3_bucket.{videos_id}.arn}}"
    assert allowed(policy, "s3:GetObject", f"{uploads}/uploads/clip.mp4")
    assert not allowed(policy, "s3:GetObject", f"{uploads}/other/clip.mp4")
    assert not allowed(policy, "s3:GetObject", f"{videos}/processed/clip.mp4")
    assert allowed(policy, "s3:PutObject", f"{videos}/processed/clip.mp4")
    assert allowed(policy, "s3:PutObject", f"{videos}/originals/clip.mp4")  # kept, never served
    assert not allowed(policy, "s3:PutObject", f"{videos}/other/clip.mp4")
    assert not allowed(policy, "s3:PutObject", f"{uploads}/uploads/clip.mp4")
    assert not allowed(policy, "s3:DeleteObject", f"{videos}/processed/clip.mp4")
    assert allowed(policy, "sqs:ReceiveMessage", queue_ref(stack))


def find_one_key(stack: dict, prefix: str) -> str:
    [key] = [k for k in resources(stack, "aws_sqs_queue") if k.startswith(prefix)]
    return key.removeprefix(prefix + "_")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_may_presign_only_into_the_upload_area(stacks, env):
    stack = stacks[env]
    policy = json.loads(find_one(stack, "aws_iam_role_policy", "api-task-policy")["policy"])
    uploads = f"${{aws_s3_bucket.{upload_bucket(stack)}.arn}}"
    assert allowed(policy, "s3:PutObject", f"{uploads}/uploads/clip.mp4")
    assert not allowed(policy, "s3:PutObject", f"{uploads}/processed/clip.mp4")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ecr_repositories_are_immutable_scanned_and_kms_encrypted(stacks, env):
    from environments.config import load_environment

    repositories = resources(stacks[env], "aws_ecr_repository")
    assert sorted(r["name"] for r in repositories.values()) == [f"video-ingest-{env}-api", f"video-ingest-{env}-worker"]
    for repository in repositories.values():
        assert repository["image_tag_mutability"] == "IMMUTABLE"
        assert repository["image_scanning_configuration"] == {"scan_on_push": True}
        assert repository["encryption_configuration"][0]["encryption_type"] == "KMS"
    keep = load_environment(env).ingest.ecr_keep_images
    for lifecycle in resources(stacks[env], "aws_ecr_lifecycle_policy").values():
        assert json.loads(lifecycle["policy"])["rules"][0]["selection"]["countNumber"] == keep
