"""The platform works once applied (issue 24): what real AWS does with the synthesized stacks, checked on their
JSON. Each test names the finding it covers; each failed on the stacks before its fix."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import ENVIRONMENTS, ROOT, resources

ANYWHERE = "0.0.0.0/0"
APP_USER = "10001:10001"
REPOSITORY = "example-org/video-ingest-infra"


def containers(stack: dict, service: str) -> dict[str, dict]:
    [task] = [body for name, body in resources(stack, "aws_ecs_task_definition").items() if f"{service}-task" in name]
    return {c["name"]: c for c in json.loads(task["container_definitions"])}, task


def ref(rtype: str, name: str, attribute: str = "id") -> str:
    return f"${{{rtype}.{name}.{attribute}}}"


def named(stack: dict, rtype: str, part: str) -> tuple[str, dict]:
    [(name, body)] = [(n, b) for n, b in resources(stack, rtype).items() if part in n]
    return name, body


# --- 1. the services start as their user, with their mounts --------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", ["api", "worker"])
def test_scratch_volume_is_the_app_users_before_the_app_starts(stacks, env, service):
    """Fargate creates an undeclared bind mount root-owned 0755: a non-essential root init container hands every
    volume the app writes to the app's user, and the app starts only once it exited 0."""
    by_name, task = containers(stacks[env], service)
    app = by_name[service]
    assert app["user"] == APP_USER and app["readonlyRootFilesystem"] is True
    init = by_name["volume-init"]
    assert init["essential"] is False and init["user"] == "0:0" and init["readonlyRootFilesystem"] is True
    # Fargate adds no capability but SYS_PTRACE: the init container keeps Docker's defaults (CHOWN among them).
    assert "linuxParameters" not in init or "ALL" not in init["linuxParameters"].get("capabilities", {}).get("drop", [])
    assert {"containerName": "volume-init", "condition": "SUCCESS"} in app["dependsOn"]
    init_paths = {(m["sourceVolume"], m["containerPath"]) for m in init["mountPoints"]}
    for mount in app["mountPoints"]:
        if not mount.get("readOnly"):
            assert (mount["sourceVolume"], mount["containerPath"]) in init_paths
            assert init["command"] == [
                "sh",
                "-c",
                f"chown {APP_USER} {mount['containerPath']} && chmod 0700 {mount['containerPath']}",
            ]
    assert {v["name"] for v in task["volume"]} == {m["sourceVolume"] for m in app["mountPoints"]}
    assert sum(c["memoryReservation"] for c in by_name.values()) <= int(task["memory"])


# --- 2. no public path around API Gateway ----------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_load_balancers_are_internal_and_only_api_gateway_reaches_them(stacks, env):
    stack = stacks[env]
    lbs = resources(stack, "aws_lb")
    assert lbs and all(body["internal"] is True for body in lbs.values())
    private = {ref("aws_subnet", name) for name in resources(stack, "aws_subnet") if "private" in name}
    assert all(set(body["subnets"]) <= private for body in lbs.values())
    # Nothing admits the internet to a security group, and no public DNS name points at a load balancer.
    assert not [
        r for r in resources(stack, "aws_vpc_security_group_ingress_rule").values() if r.get("cidr_ipv4") == ANYWHERE
    ]
    assert not [
        r for r in resources(stack, "aws_route53_record").values() if "aws_lb." in json.dumps(r.get("alias", ""))
    ]
    # Every integration that reaches the backend goes through the VPC link to the internal NLB -> ALB.
    [(link_name, link)] = resources(stack, "aws_api_gateway_vpc_link").items()
    nlb_name, nlb = named(stack, "aws_lb", "nlb")
    assert nlb["load_balancer_type"] == "network" and link["target_arns"] == [ref("aws_lb", nlb_name, "arn")]
    backend = [i for i in resources(stack, "aws_api_gateway_integration").values() if i["type"] != "MOCK"]
    assert backend and all(
        i["connection_type"] == "VPC_LINK" and i["connection_id"] == ref("aws_api_gateway_vpc_link", link_name)
        for i in backend
    )
    alb_name, _ = named(stack, "aws_lb", "load-balancer_alb")
    [attachment] = resources(stack, "aws_lb_target_group_attachment").values()
    assert attachment["target_id"] == ref("aws_lb", alb_name, "arn") and attachment["port"] == 443
    # CloudFront serves videos only: every origin is a bucket read through OAC, none a custom (HTTP) origin.
    for distribution in resources(stack, "aws_cloudfront_distribution").values():
        assert all(
            "custom_origin_config" not in o and o.get("origin_access_control_id") for o in distribution["origin"]
        )
        assert "ordered_cache_behavior" not in distribution


# --- 3. the per-IP rate limit sees the client IP ---------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_per_ip_rate_limit_is_where_the_client_ip_is_seen(stacks, env):
    """Behind the VPC link every request reaches the ALB from the NLB's addresses: the per-IP limit sits on the
    API stage (a REGIONAL endpoint: WAF sees the caller's address), and no rate-limited ACL is on a load balancer."""
    stack = stacks[env]
    associations = list(resources(stack, "aws_wafv2_web_acl_association").values())
    assert not [a for a in associations if "aws_lb." in a["resource_arn"]]
    [stage_association] = [a for a in associations if a["resource_arn"].startswith("${aws_api_gateway_stage.")]
    acl_name = stage_association["web_acl_arn"].split(".")[1]
    rules = resources(stack, "aws_wafv2_web_acl")[acl_name]["rule"]
    [rate] = [r["statement"]["rate_based_statement"] for r in rules if "rate_based_statement" in r["statement"]]
    assert rate["aggregate_key_type"] == "IP" and 100 <= rate["limit"] <= 100_000


# --- 4. what CloudFront serves never archives ------------------------------------------------------------------

ARCHIVE = {"GLACIER", "DEEP_ARCHIVE"}


def video_buckets(stack: dict) -> list[str]:
    return [name for name, body in resources(stack, "aws_s3_bucket").items() if "-videos-" in body["bucket"]]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_served_videos_stay_in_tiers_that_answer_get(stacks, env):
    stack = stacks[env]
    buckets = video_buckets(stack)
    assert len(buckets) == (2 if env == "prod" else 1)  # prod: the DR replica too
    served = set()
    for policy in resources(stack, "aws_s3_bucket_policy").values():
        for statement in json.loads(policy["policy"])["Statement"]:
            if statement.get("Principal") == {"Service": "cloudfront.amazonaws.com"}:
                served |= {
                    r.split("}", 1)[1]
                    for r in (
                        [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
                    )
                }
    assert served == {"/processed/*"}
    for lifecycle in resources(stack, "aws_s3_bucket_lifecycle_configuration").values():
        if lifecycle["bucket"].split(".")[1] not in buckets:
            continue
        rules = {rule["filter"][0]["prefix"]: rule for rule in lifecycle["rule"]}
        classes = lambda prefix, rules=rules: {t["storage_class"] for t in rules[prefix].get("transition", [])}
        # Served: Instant Retrieval at most; the whole-bucket rule moves nothing; originals archive as the spec says.
        assert classes("processed/") == {"STANDARD_IA", "GLACIER_IR"}
        assert not classes("") and "DEEP_ARCHIVE" in classes("originals/") and "GLACIER" in classes("originals/")
        assert all(not classes(prefix) & ARCHIVE for prefix in rules if "/processed/*".startswith(f"/{prefix}"))


# --- 5. the GET cache keys on what varies the answer, and its settings take effect ----------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cached_gets_key_on_query_string_and_caller(stacks, env):
    stack = stacks[env]
    settings = {s["method_path"]: s["settings"] for s in resources(stack, "aws_api_gateway_method_settings").values()}
    cached = [path for path, s in settings.items() if s.get("caching_enabled")]
    assert sorted(cached) == ["~1videos/GET", "~1videos~1{id}/GET"]
    paths = {
        f"${{aws_api_gateway_resource.{name}.id}}": body
        for name, body in resources(stack, "aws_api_gateway_resource").items()
    }
    for method_name, method in resources(stack, "aws_api_gateway_method").items():
        if method["http_method"] != "GET":
            continue
        part = paths[method["resource_id"]]["path_part"]
        path = "~1videos" if part == "videos" else "~1videos~1{id}"
        assert f"{path}/GET" in cached
        [integration] = [
            i
            for i in resources(stack, "aws_api_gateway_integration").values()
            if i["http_method"] == f"${{aws_api_gateway_method.{method_name}.http_method}}"
        ]
        keys = set(integration["cache_key_parameters"])
        assert "method.request.header.x-api-key" in keys  # one client's answer never serves another
        declared = set(method["request_parameters"])
        assert keys <= declared  # API Gateway keys only on declared parameters
        if part == "videos":
            assert {k for k in keys if k.startswith("method.request.querystring.")} >= {
                "method.request.querystring.cursor",
                "method.request.querystring.limit",
            }
        else:
            assert "method.request.path.id" in keys


# --- 6. a browser can call the API -------------------------------------------------------------------------------


def cors_of(stack: dict) -> tuple[dict, dict]:
    options = {n: b for n, b in resources(stack, "aws_api_gateway_method").items() if b["http_method"] == "OPTIONS"}
    responses = resources(stack, "aws_api_gateway_integration_response")
    return options, responses


@pytest.mark.parametrize(
    "env,origin",
    [
        ("dev", "https://dev.video.example.com"),
        ("staging", "https://staging.video.example.com"),
        ("prod", "https://video.example.com"),
    ],
)
def test_browser_preflight_and_errors_carry_cors_headers(stacks, env, origin):
    stack = stacks[env]
    options, responses = cors_of(stack)
    assert len(options) == len(resources(stack, "aws_api_gateway_resource")) == 3
    for name, method in options.items():
        assert method["authorization"] == "NONE" and method["api_key_required"] is False
        [integration] = [
            i
            for i in resources(stack, "aws_api_gateway_integration").values()
            if i["http_method"] == f"${{aws_api_gateway_method.{name}.http_method}}"
        ]
        assert integration["type"] == "MOCK"
        [response] = [
            r for r in responses.values() if r["http_method"] == f"${{aws_api_gateway_method.{name}.http_method}}"
        ]
        headers = response["response_parameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{origin}'"
        assert "x-api-key" in headers["method.response.header.Access-Control-Allow-Headers"]
        assert "OPTIONS" in headers["method.response.header.Access-Control-Allow-Methods"]
    gateway = {r["response_type"]: r for r in resources(stack, "aws_api_gateway_gateway_response").values()}
    assert set(gateway) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    assert all(
        r["response_parameters"]["gatewayresponse.header.Access-Control-Allow-Origin"] == f"'{origin}'"
        for r in gateway.values()
    )
    [deployment] = resources(stack, "aws_api_gateway_deployment").values()
    assert all(
        f"aws_api_gateway_gateway_response.{n}" in deployment["depends_on"]
        for n in resources(stack, "aws_api_gateway_gateway_response")
    )


def test_the_cors_origin_comes_from_config(synth_dev_with):
    stack = synth_dev_with("api", 'cors_allowed_origin = "https://app.dev.video.example.com"')
    _, responses = cors_of(stack)
    assert {
        r["response_parameters"]["method.response.header.Access-Control-Allow-Origin"] for r in responses.values()
    } == {"'https://app.dev.video.example.com'"}


def test_a_bad_cors_origin_is_refused_naming_file_and_field():
    from environments.config import ConfigError, load_environment_text

    text = (
        (ROOT / "environments" / "dev.toml")
        .read_text()
        .replace("[api]\n", '[api]\ncors_allowed_origin = "https://x.example.com/path"\n', 1)
    )
    with pytest.raises(
        ConfigError,
        match=r"dev\.toml: api\.cors_allowed_origin = 'https://x\.example\.com/path': "
        r"must be empty or one https:// origin",
    ):
        load_environment_text(text, "environments/dev.toml")


# --- 7. only a reviewed job can write ---------------------------------------------------------------------------


def subjects(role: dict) -> list[str]:
    [statement] = json.loads(role["assume_role_policy"])["Statement"]
    subject = [v for test in statement["Condition"].values() for k, v in test.items() if k.endswith(":sub")][0]
    return subject if isinstance(subject, list) else [subject]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_deploy_role_trusts_only_the_reviewed_environment(stacks, env):
    stack = stacks[f"bootstrap-{env}"]
    roles = {body["name"]: body for body in resources(stack, "aws_iam_role").values()}
    assert subjects(roles[f"video-ingest-{env}-deploy"]) == [f"repo:{REPOSITORY}:environment:{env}"]
    refresh = roles[f"video-ingest-{env}-refresh"]
    assert subjects(refresh) == [f"repo:{REPOSITORY}:environment:{env}-plan"]
    # The refresh role reads (ReadOnlyAccess) and never writes: no inline allow beyond reads and the state read role.
    [policy] = [p for p in resources(stack, "aws_iam_role_policy").values() if p["name"] == "refresh"]
    allowed = {
        a
        for s in json.loads(policy["policy"])["Statement"]
        if s["Effect"] == "Allow"
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    # kms:Decrypt: the secrets' key, via Secrets Manager only (tests/modules/test_review_findings.py).
    assert allowed == {"sts:AssumeRole", "secretsmanager:GetSecretValue", "kms:Decrypt"}
    [assume] = [
        s
        for s in json.loads(policy["policy"])["Statement"]
        if s.get("Action") in ("sts:AssumeRole", ["sts:AssumeRole"])
    ]
    assert str(assume["Resource"]).endswith(f"video-ingest-terraform-state-read-{env}") or "read" in str(
        assume["Resource"]
    )
    attached = {
        a["policy_arn"]
        for a in resources(stack, "aws_iam_role_policy_attachment").values()
        if a["role"].startswith("${aws_iam_role.identity_refresh-role")
    }
    assert attached == {"arn:aws:iam::aws:policy/ReadOnlyAccess"}
    # The deploy role may not rewrite the refresh role either.
    [deploy_iam] = [p for p in resources(stack, "aws_iam_role_policy").values() if p["name"] == "deploy-iam"]
    [never] = [s for s in json.loads(deploy_iam["policy"])["Statement"] if s["Sid"] == "NeverTheBootstrapRoles"]
    assert (
        f"arn:aws:iam::{json.loads(json.dumps(stack['provider']['aws'][0]['allowed_account_ids']))[0]}"
        f":role/video-ingest-{env}-refresh" in never["Resource"]
    )


def test_the_promotion_writes_only_from_the_reviewed_environment():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "promote.yml").read_text())
    for job in workflow["jobs"].values():
        roles = [
            step["with"]["role-to-assume"]
            for step in job["steps"]
            if step.get("uses", "").startswith("aws-actions/configure-aws-credentials")
        ]
        if job["environment"].endswith("-plan"):
            assert roles and all("AWS_REFRESH_ROLE_" in r for r in roles)
            assert any("--refresh" in step.get("run", "") for step in job["steps"])
        else:
            assert job["environment"] == "${{ inputs.environment }}" and all("AWS_DEPLOY_ROLE_" in r for r in roles)
            run = "\n".join(step.get("run", "") for step in job["steps"])
            same_plan = "tools.review.same_plan"
            assert same_plan in run and run.index(same_plan) < run.index("terraform apply")


def test_the_apply_refuses_a_plan_that_differs_from_the_reviewed_one(tmp_path):
    from tools.review.same_plan import main

    change = lambda actions, after: {
        "address": "aws_s3_bucket.b",
        "change": {"actions": actions, "after": after, "after_unknown": {}},
    }
    reviewed = tmp_path / "reviewed.json"
    reviewed.write_text(json.dumps({"resource_changes": [change(["update"], {"force_destroy": True})]}))
    same, other = tmp_path / "same.json", tmp_path / "other.json"
    same.write_text(reviewed.read_text())
    other.write_text(json.dumps({"resource_changes": [change(["delete"], None)]}))
    assert main([str(reviewed), str(same)]) == 0
    assert main([str(reviewed), str(other)]) == 1


# --- 8. every log group a service writes is declared, encrypted and expiring ---------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_created_log_groups_are_declared_before_their_producers(stacks, env):
    stack = stacks[env]
    groups = {body["name"]: name for name, body in resources(stack, "aws_cloudwatch_log_group").items()}
    assert all(
        body.get("kms_key_id") and body.get("retention_in_days")
        for body in resources(stack, "aws_cloudwatch_log_group").values()
    )
    depends = lambda body: set(body.get("depends_on", []))
    for instance in resources(stack, "aws_db_instance").values():
        for log in instance["enabled_cloudwatch_logs_exports"]:
            group = groups[f"/aws/rds/instance/{instance['identifier']}/{log}"]
            assert f"aws_cloudwatch_log_group.{group}" in depends(instance)
        assert f"aws_cloudwatch_log_group.{groups['RDSOSMetrics']}" in depends(instance)
    assert len(resources(stack, "aws_db_instance")) == (2 if env == "prod" else 1)
    [(api_name, _)] = resources(stack, "aws_api_gateway_rest_api").items()
    [stage] = resources(stack, "aws_api_gateway_stage").values()
    execution = groups[f"API-Gateway-Execution-Logs_${{aws_api_gateway_rest_api.{api_name}.id}}/{stage['stage_name']}"]
    assert f"aws_cloudwatch_log_group.{execution}" in depends(stage)
    [account] = resources(stack, "aws_api_gateway_account").values()
    assert f"aws_cloudwatch_log_group.{groups['/aws/apigateway/welcome']}" in depends(account)
    [(cluster_name, cluster)] = resources(stack, "aws_ecs_cluster").items()
    insights = groups[f"/aws/ecs/containerinsights/{cluster['name']}/performance"]
    assert f"aws_cloudwatch_log_group.{insights}" in depends(cluster)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_key_lets_cloudwatch_logs_encrypt_every_group_of_the_region(stacks, env):
    stack = stacks[env]
    [key] = [k for n, k in resources(stack, "aws_kms_key").items() if n.startswith("security_key_")]
    [logs] = [s for s in json.loads(key["policy"])["Statement"] if s["Sid"] == "CloudWatchLogsEncrypt"]
    region = stack["provider"]["aws"][0]["region"]
    assert logs["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].endswith(":log-group:*")


# --- the API task never reads the database master secret ------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_task_reads_the_database_master_secret_the_api_logs_in_as_its_own_user(stacks, env):
    stack = stacks[env]
    for name, task in resources(stack, "aws_ecs_task_definition").items():
        for container in json.loads(task["container_definitions"]):
            assert not [s for s in container.get("secrets", []) if "master_user_secret" in s["valueFrom"]], name
    api = containers(stack, "api")[0]["api"]
    environment = {e["name"]: e["value"] for e in api["environment"]}
    assert environment["DATABASE_USER"] == "video_ingest_app" and environment["DATABASE_AUTH"] == "iam"
    [(_, role_policy)] = [
        (n, b)
        for n, b in resources(stack, "aws_iam_role_policy").items()
        if "compute_api" in n and "rds-db:connect" in b["policy"]
    ]
    assert "dbuser:" in role_policy["policy"] and "/video_ingest_app" in role_policy["policy"]


# --- 9. every stateful resource is protected or disposable -----------------------------------------------------


def protected(body: dict) -> bool:
    return bool(body.get("lifecycle", {}).get("prevent_destroy"))


DISPOSABLE = {
    "aws_s3_bucket": lambda b: b.get("force_destroy") is True,
    "aws_ecr_repository": lambda b: b.get("force_delete") is True,
    "aws_secretsmanager_secret": lambda b: b.get("recovery_window_in_days") == 0,
    "aws_db_instance": lambda b: b.get("deletion_protection") is False,
    "aws_backup_vault": lambda b: b.get("force_destroy") is True,
    "aws_lb": lambda b: b.get("enable_deletion_protection") is False,
    "aws_kms_key": lambda b: True,  # a destroy schedules the deletion (deletion window): it never stops a destroy
}
PROTECTED = {
    "aws_db_instance": lambda b: b.get("deletion_protection") is True,
    "aws_lb": lambda b: b.get("enable_deletion_protection") is True,
}


@pytest.mark.parametrize("env,protected_env", [("dev", False), ("staging", False), ("prod", True)])
def test_every_stateful_resource_is_protected_or_disposable(stacks, env, protected_env):
    stack = stacks[env]
    for rtype, disposable in DISPOSABLE.items():
        for name, body in resources(stack, rtype).items():
            is_protected = protected(body) or PROTECTED.get(rtype, lambda b: False)(body)
            if protected_env:
                assert is_protected, f"{env}: {rtype}.{name} is not protected"
            else:
                assert disposable(body) and not protected(body), f"{env}: {rtype}.{name} would stop a destroy"


def test_the_state_backends_buckets_are_all_protected(stacks):
    buckets = resources(stacks["state-backend"], "aws_s3_bucket")
    assert len(buckets) == 4 and [name for name, body in buckets.items() if not protected(body)] == []


def test_protection_is_one_config_rule():
    """`protected` decides; a deletion protection of config that contradicts it is refused (it would stop a
    disposable environment's destroy halfway, or leave a protected one unprotected)."""
    from environments.config import ConfigError, load_environment_text

    dev = (ROOT / "environments" / "dev.toml").read_text()
    protected_dev = dev.replace("protected = false", "protected = true", 1).replace(
        "secret_recovery_window_days = 0", "secret_recovery_window_days = 7"
    )
    with pytest.raises(ConfigError, match=r"dev\.toml: database\.deletion_protection = false: a protected environment"):
        load_environment_text(protected_dev, "environments/dev.toml")
    staging = (
        (ROOT / "environments" / "staging.toml")
        .read_text()
        .replace("deletion_protection = false", "deletion_protection = true", 1)
    )
    with pytest.raises(ConfigError, match=r"database\.deletion_protection = true: a disposable environment"):
        load_environment_text(staging, "environments/staging.toml")
    assert load_environment_text(dev, "environments/dev.toml").protects_stateful is False


def test_a_protected_dev_protects_every_stateful_resource(tmp_path):
    import shutil

    import main
    from environments.config import ENVIRONMENTS_DIR

    config = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, config, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    dev = config / "dev.toml"
    dev.write_text(
        dev.read_text()
        .replace("protected = false", "protected = true", 1)
        .replace("deletion_protection = false", "deletion_protection = true")
        .replace("secret_recovery_window_days = 0", "secret_recovery_window_days = 7")
    )
    main.synth_atomically(tmp_path / "out", ["dev"], config)
    stack = json.loads((tmp_path / "out" / "stacks" / "dev" / "cdk.tf.json").read_text())
    for rtype in ("aws_s3_bucket", "aws_ecr_repository", "aws_secretsmanager_secret", "aws_kms_key"):
        assert resources(stack, rtype) and all(protected(b) for b in resources(stack, rtype).values()), rtype
    assert {b["recovery_window_in_days"] for b in resources(stack, "aws_secretsmanager_secret").values()} == {7}
    assert not [b for b in resources(stack, "aws_s3_bucket").values() if b.get("force_destroy")]


# --- 10. a new account's default anomaly monitor can be adopted ------------------------------------------------

MONITOR = "arn:aws:ce::111111111111:anomalymonitor/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def test_the_default_anomaly_monitor_is_adopted_by_config(synth_dev_with):
    stack = synth_dev_with("cost", f'anomaly_monitor_arn = "{MONITOR}"\nadopt_anomaly_monitor = true')
    [(name, monitor)] = resources(stack, "aws_ce_anomaly_monitor").items()
    assert (monitor["monitor_type"], monitor["monitor_dimension"]) == ("DIMENSIONAL", "SERVICE")
    assert {"id": MONITOR, "to": f"aws_ce_anomaly_monitor.{name}"} in [
        {k: v for k, v in block.items() if k in ("id", "to")} for block in stack.get("import", [])
    ]
    [subscription] = resources(stack, "aws_ce_anomaly_subscription").values()
    assert subscription["monitor_arn_list"] == [f"${{aws_ce_anomaly_monitor.{name}.arn}}"]


def test_subscribing_to_an_existing_monitor_creates_none(synth_dev_with):
    stack = synth_dev_with("cost", f'anomaly_monitor_arn = "{MONITOR}"')
    assert not resources(stack, "aws_ce_anomaly_monitor") and not stack.get("import")
    [subscription] = resources(stack, "aws_ce_anomaly_subscription").values()
    assert subscription["monitor_arn_list"] == [MONITOR]


def test_adopting_needs_the_monitor_arn():
    from environments.config import ConfigError, load_environment_text

    text = (
        (ROOT / "environments" / "dev.toml").read_text().replace("[cost]\n", "[cost]\nadopt_anomaly_monitor = true\n")
    )
    with pytest.raises(ConfigError, match=r"dev\.toml: cost\.adopt_anomaly_monitor = true: names no monitor"):
        load_environment_text(text, "environments/dev.toml")


def test_the_runbook_enables_cost_explorer_before_the_first_apply():
    runbook = (ROOT / "docs" / "first-deploy.md").read_text()
    assert "Cost Explorer" in runbook and "Default-Services-Monitor" in runbook
    assert "anomaly_monitor_arn" in runbook and "adopt_anomaly_monitor" in runbook


# --- 11. checked, fixed or kept with a reason ------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_flow_logs_role_may_describe_log_groups(stacks, env):
    [policy] = [p for n, p in resources(stacks[env], "aws_iam_role_policy").items() if "flow-logs-policy" in n]
    actions = {a for s in json.loads(policy["policy"])["Statement"] for a in s["Action"]}
    assert {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:DescribeLogGroups"} <= actions


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_api_gateway_logging_role_trusts_the_service_as_aws_documents(stacks, env):
    [role] = [r for n, r in resources(stacks[env], "aws_iam_role").items() if "cloudwatch-role" in n]
    [statement] = json.loads(role["assume_role_policy"])["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"} and "Condition" not in statement


def test_docs_state_the_checks_of_finding_11():
    text = (ROOT / "docs" / "request-paths.md").read_text() + (ROOT / "docs" / "identities.md").read_text()
    for subject in ("aws:SourceAccount", "logs:DescribeLogGroups", "aws:SourceArn", "AWSServiceRoleForBackup"):
        assert subject in text, subject
