"""ECS, ALB + WAF, API Gateway and CloudFront: per-environment values on the synthesized JSON."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ENVIRONMENTS, find_one, resources

SPEC_TASK = {"dev": ("256", "512"), "staging": ("512", "1024"), "prod": ("1024", "2048")}
TASK_BOUNDS = {"dev": (1, 3), "staging": (1, 10), "prod": (2, 10)}


def containers(stack: dict, service: str) -> list[dict]:
    """The app and its X-Ray sidecar (the volume-init container: tests/test_platform_works.py)."""
    task = find_one(stack, "aws_ecs_task_definition", f"{service}-task")
    return [c for c in json.loads(task["container_definitions"]) if c["name"] != "volume-init"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_task_size_matches_the_spec(stacks, env):
    task = find_one(stacks[env], "aws_ecs_task_definition", "api-task")
    assert (task["cpu"], task["memory"]) == SPEC_TASK[env]
    assert task["requires_compatibilities"] == ["FARGATE"] and task["network_mode"] == "awsvpc"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_container_is_hardened_and_traced(stacks, env):
    app, xray = containers(stacks[env], "api")
    assert app["readonlyRootFilesystem"] is True and app["user"] == "10001:10001" and app["privileged"] is False
    assert app["healthCheck"]["command"][1].endswith("http://127.0.0.1:8080/health || exit 1")
    assert app["logConfiguration"]["logDriver"] == "awslogs"
    assert {s["name"] for s in app["secrets"]} == {"CDN_SIGNING_KEY"}  # never the database master secret
    assert not [e for e in app["environment"] if "PASSWORD" in e["name"] or "SECRET" in e["name"]]
    assert xray["name"] == "xray-daemon" and xray["image"].startswith("public.ecr.aws/xray/aws-xray-daemon:")
    log_group = find_one(stacks[env], "aws_cloudwatch_log_group", "api-logs")
    assert log_group["kms_key_id"].startswith("${aws_kms_key.security_key")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_default_images_start_within_the_task_hardening(stacks, env):
    """Until the real images are pushed, both services run the busybox placeholder as uid 10001 on a read-only
    root: the API answers the load balancer's and its own health check on the app port, the worker stays up and
    passes its health check. (nginx listened on 80, needed a writable cache, and busybox's default command exits.)"""
    from modules.validation import PLACEHOLDER_IMAGE

    api, _ = containers(stacks[env], "api")
    target_group = find_one(stacks[env], "aws_lb_target_group", "api-targets")
    assert api["image"] == PLACEHOLDER_IMAGE and api["readonlyRootFilesystem"] and api["user"] == "10001:10001"
    assert api["portMappings"][0]["containerPort"] == target_group["port"] == 8080
    sh, flag, script = api["command"]
    assert (sh, flag) == ("sh", "-c")
    assert f"> /tmp/www{target_group['health_check']['path']} && exec httpd -f -v -p 8080 -h /tmp/www" in script
    worker, _ = containers(stacks[env], "worker")
    assert worker["image"] == PLACEHOLDER_IMAGE and worker["healthCheck"]["command"][1].startswith(
        "test -f /tmp/healthy"
    )
    assert worker["command"][2].startswith("touch /tmp/healthy && ") and "while :; do sleep 60" in worker["command"][2]


def test_a_real_image_runs_its_own_command(synth_dev_with):
    stack = synth_dev_with(
        "compute", 'image = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/video-ingest-dev-api:1.0.0"'
    )
    api, _ = containers(stack, "api")
    assert api["image"].endswith("/video-ingest-dev-api:1.0.0") and "command" not in api


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_service_private_rolling_with_circuit_breaker_and_cloud_map(stacks, env):
    service = find_one(stacks[env], "aws_ecs_service", "api-service")
    assert service["network_configuration"]["assign_public_ip"] is False
    assert all("private" in s for s in service["network_configuration"]["subnets"])
    assert service["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert service["load_balancer"][0]["container_port"] == 8080
    assert service["service_registries"]["registry_arn"].startswith("${aws_service_discovery_service.compute_api")
    namespace = find_one(stacks[env], "aws_service_discovery_private_dns_namespace")
    assert namespace["name"] == f"{env}.video-ingest.internal"
    discovery = find_one(stacks[env], "aws_service_discovery_service", "api-discovery")
    assert discovery["dns_config"]["dns_records"] == [{"ttl": 10, "type": "A"}]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_autoscaling_bounds_and_both_tracking_metrics(stacks, env):
    target = find_one(stacks[env], "aws_appautoscaling_target", "api-scaling-target")
    assert (target["min_capacity"], target["max_capacity"]) == TASK_BOUNDS[env]
    metrics = sorted(
        p["target_tracking_scaling_policy_configuration"]["predefined_metric_specification"]["predefined_metric_type"]
        for name, p in resources(stacks[env], "aws_appautoscaling_policy").items()
        if "compute_api-" in name
    )
    assert metrics == ["ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization"]


@pytest.mark.parametrize("env, spot", [("dev", True), ("staging", True), ("prod", True)])
def test_capacity_providers_and_strategy(stacks, env, spot):
    providers = find_one(stacks[env], "aws_ecs_cluster_capacity_providers")
    assert providers["capacity_providers"] == ["FARGATE", "FARGATE_SPOT"]
    strategy = {
        s["capacity_provider"]: s
        for s in find_one(stacks[env], "aws_ecs_service", "api-service")["capacity_provider_strategy"]
    }
    assert ("FARGATE_SPOT" in strategy) == spot
    assert strategy["FARGATE"].get("base", 0) == {"dev": 0, "staging": 1, "prod": 2}[env]
    cluster = find_one(stacks[env], "aws_ecs_cluster")
    assert cluster["setting"] == [{"name": "containerInsights", "value": "enabled"}]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_https_listener_policy_and_no_http(stacks, env):
    listeners = {v["protocol"]: v for v in resources(stacks[env], "aws_lb_listener").values()}
    assert set(listeners) == {"HTTPS", "TCP"}  # the ALB's, and the VPC link NLB's pass-through to it
    assert listeners["HTTPS"]["port"] == listeners["TCP"]["port"] == 443
    assert listeners["HTTPS"]["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners["HTTPS"]["certificate_arn"].startswith("${aws_acm_certificate_validation.")
    alb = find_one(stacks[env], "aws_lb", "load-balancer_alb")
    assert alb["drop_invalid_header_fields"] is True and alb["internal"] is True
    assert alb["enable_deletion_protection"] is (env == "prod")
    assert alb["access_logs"]["enabled"] is True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_target_group_stickiness_and_health_check(stacks, env):
    group = find_one(stacks[env], "aws_lb_target_group", "api-targets")
    assert group["stickiness"] == {"cookie_duration": 3600, "enabled": True, "type": "lb_cookie"}
    assert group["health_check"]["path"] == "/health" and group["target_type"] == "ip"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_regional_waf_on_the_api_stage_with_logging(stacks, env):
    stack = stacks[env]
    [acl_name] = [k for k, v in resources(stack, "aws_wafv2_web_acl").items() if v["scope"] == "REGIONAL"]
    acl = resources(stack, "aws_wafv2_web_acl")[acl_name]
    groups = [
        r["statement"]["managed_rule_group_statement"]["name"]
        for r in acl["rule"]
        if "managed_rule_group_statement" in r["statement"]
    ]
    assert {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    } <= set(groups)
    assert any("rate_based_statement" in r["statement"] for r in acl["rule"])
    associations = [
        a["resource_arn"]
        for a in resources(stack, "aws_wafv2_web_acl_association").values()
        if acl_name in a["web_acl_arn"]
    ]
    assert sorted(a.split(".")[0] for a in associations) == ["${aws_api_gateway_stage"]
    logging = [
        config
        for config in resources(stack, "aws_wafv2_web_acl_logging_configuration").values()
        if acl_name in config["resource_arn"]
    ]
    group_name = logging[0]["log_destination_configs"][0].split(".")[1]
    assert (
        resources(stack, "aws_cloudwatch_log_group")[group_name]["name"] == f"aws-waf-logs-video-ingest-{env}-regional"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_usage_plans_throttle_each_client_and_keys_are_wired(stacks, env):
    from environments.config import load_environment

    clients = load_environment(env).api.clients
    plans = resources(stacks[env], "aws_api_gateway_usage_plan")
    assert len(plans) == len(clients)
    for client in clients:
        [(plan_id, plan)] = [(k, v) for k, v in plans.items() if v["name"] == f"video-ingest-{env}-{client.name}"]
        assert plan["throttle_settings"] == {"burst_limit": client.burst_limit, "rate_limit": client.rate_limit}
        assert plan["quota_settings"] == {"limit": client.quota_per_day, "period": "DAY"}
        [plan_key] = [
            v
            for v in resources(stacks[env], "aws_api_gateway_usage_plan_key").values()
            if plan_id in v["usage_plan_id"]
        ]
        assert plan_key["key_type"] == "API_KEY" and f"key-{client.name}" in plan_key["key_id"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_methods_require_api_key_and_iam(stacks, env):
    methods = [m for m in resources(stacks[env], "aws_api_gateway_method").values() if m["http_method"] != "OPTIONS"]
    assert methods and all(m["api_key_required"] is True and m["authorization"] == "AWS_IAM" for m in methods)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_get_caching_and_stage_observability(stacks, env):
    stack = stacks[env]
    stage = find_one(stack, "aws_api_gateway_stage")
    assert stage["cache_cluster_enabled"] is True and stage["xray_tracing_enabled"] is True
    assert stage["access_log_settings"]["destination_arn"].startswith("${aws_cloudwatch_log_group.api_access-logs")
    settings = {s["method_path"]: s["settings"] for s in resources(stack, "aws_api_gateway_method_settings").values()}
    assert settings["*/*"]["caching_enabled"] is False and settings["*/*"]["metrics_enabled"] is True
    for path in ("~1videos/GET", "~1videos~1{id}/GET"):
        assert settings[path]["caching_enabled"] is True and settings[path]["cache_data_encrypted"] is True
        assert settings[path]["cache_ttl_in_seconds"] == {"dev": 60}.get(env, 300)
    assert find_one(stack, "aws_api_gateway_rest_api")["endpoint_configuration"]["types"] == ["REGIONAL"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cloudfront_origins_key_group_and_tls(stacks, env):
    stack = stacks[env]
    distribution = find_one(stack, "aws_cloudfront_distribution")
    origins = {o["origin_id"]: o for o in distribution["origin"]}
    assert "origin_access_control_id" in origins["videos"] and "api" not in origins
    default = distribution["default_cache_behavior"]
    assert default["trusted_key_groups"][0].startswith("${aws_cloudfront_key_group.")
    assert default["compress"] is True and default["viewer_protocol_policy"] == "redirect-to-https"
    assert "ordered_cache_behavior" not in distribution  # the API is reached through API Gateway only
    if env == "dev":
        assert "web_acl_id" not in distribution
    else:
        assert distribution["web_acl_id"].startswith("${aws_wafv2_web_acl.cdn_waf")
    assert distribution["price_class"] == {"prod": "PriceClass_All"}.get(env, "PriceClass_100")
    key = find_one(stack, "aws_cloudfront_public_key")
    assert key["encoded_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert (
        find_one(stack, "aws_cloudfront_response_headers_policy")["security_headers_config"][
            "strict_transport_security"
        ]["access_control_max_age_sec"]
        == 63072000
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_tls_1_2_or_later_at_the_edge_in_every_environment(stacks, env):
    """CloudFront's default *.cloudfront.net certificate allows only TLSv1 (AWS ignores minimum_protocol_version
    with it): every environment, dev included, serves its own name with an ACM certificate and TLSv1.2_2021, and
    the load balancer TLS 1.2/1.3 only."""
    from environments.config import load_environment

    distribution = find_one(stacks[env], "aws_cloudfront_distribution")
    assert distribution["viewer_certificate"] == {
        "acm_certificate_arn": distribution["viewer_certificate"]["acm_certificate_arn"],
        "minimum_protocol_version": "TLSv1.2_2021",
        "ssl_support_method": "sni-only",
    }
    assert distribution["viewer_certificate"]["acm_certificate_arn"].startswith("${aws_acm_certificate_validation.")
    assert distribution["aliases"] == [load_environment(env).cdn.domain_name]
    assert distribution["default_cache_behavior"]["viewer_protocol_policy"] == "redirect-to-https"
    assert all(b["viewer_protocol_policy"] == "https-only" for b in distribution.get("ordered_cache_behavior", []))
    [https] = [v for v in resources(stacks[env], "aws_lb_listener").values() if v["protocol"] == "HTTPS"]
    assert https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"


def test_prod_video_reads_fail_over_to_the_dr_replica(stacks):
    distribution = find_one(stacks["prod"], "aws_cloudfront_distribution")
    [group] = distribution["origin_group"]
    assert [m["origin_id"] for m in group["member"]] == ["videos", "videos-dr"]
    assert distribution["default_cache_behavior"]["target_origin_id"] == group["origin_id"]
