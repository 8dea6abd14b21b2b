"""Connection pooling (issue #25) and the app's own database user (issue #24), on the synthesized JSON: the app
reaches the primary only through the RDS Proxy, with TLS and IAM auth, never with the master secret."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ENVIRONMENTS, ROOT, find_one, resources
from tests.modules.test_edge_and_compute import containers
from tools.rehearsal.iam_evaluator import Request, evaluate

PROXY = "${aws_db_proxy.database-proxy_"


def proxy(stack: dict) -> tuple[str, dict]:
    [(name, body)] = resources(stack, "aws_db_proxy").items()
    return name, body


def sg_name(stack: dict, reference: str) -> str:
    """`${aws_security_group.network_db-sg_1234.id}` -> `video-ingest-dev-db-sg`."""
    name = reference.split(".")[1]
    return resources(stack, "aws_security_group")[name]["name"]


def rules(stack: dict, rtype: str) -> set[tuple[str, str, int]]:
    """(group, other group or cidr, port) of every security group rule of `rtype`."""
    return {
        (
            sg_name(stack, r["security_group_id"]),
            sg_name(stack, r["referenced_security_group_id"])
            if "referenced_security_group_id" in r
            else r["cidr_ipv4"],
            r["from_port"],
        )
        for r in resources(stack, rtype).values()
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_proxy_requires_tls_and_iam_auth_and_logs_in_as_the_app_user(stacks, env):
    stack = stacks[env]
    name, body = proxy(stack)
    assert body["engine_family"] == "POSTGRESQL" and body["require_tls"] is True
    [auth] = body["auth"]
    assert (auth["auth_scheme"], auth["iam_auth"]) == ("SECRETS", "REQUIRED")
    secret_name = auth["secret_arn"].split(".")[1]
    assert resources(stack, "aws_secretsmanager_secret")[secret_name]["name"] == f"video-ingest-{env}/database-app-user"
    target = find_one(stack, "aws_db_proxy_target")
    assert target["db_instance_identifier"].startswith("${aws_db_instance.database_primary_")
    assert target["db_proxy_name"] == f"${{aws_db_proxy.{name}.name}}"
    # The proxy's own log group: declared before RDS writes to it, encrypted, expiring.
    group = find_one(stack, "aws_cloudwatch_log_group", "database-proxy")
    assert group["name"] == f"/aws/rds/proxy/{body['name']}" and group["kms_key_id"].startswith("${aws_kms_key.")
    assert group["retention_in_days"] > 0
    assert any("aws_cloudwatch_log_group.database-proxy" in d for d in body["depends_on"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_proxy_role_reads_only_the_app_user_secret_with_only_the_environment_key(stacks, env):
    stack = stacks[env]
    _, body = proxy(stack)
    role_name = body["role_arn"].split(".")[1]
    role = resources(stack, "aws_iam_role")[role_name]
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "rds.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"]
    [inline] = [p for p in resources(stack, "aws_iam_role_policy").values() if role_name in p["role"]]
    statements = json.loads(inline["policy"])["Statement"]
    assert {(tuple(s["Action"]), s["Resource"]) for s in statements} == {
        (("secretsmanager:GetSecretValue",), body["auth"][0]["secret_arn"]),
        (("kms:Decrypt",), next(s["Resource"] for s in statements if s["Action"] == ["kms:Decrypt"])),
    }
    assert all(
        s["Resource"].startswith("${aws_kms_key.security_key_") for s in statements if s["Action"] == ["kms:Decrypt"]
    )
    decrypt = next(s for s in statements if s["Action"] == ["kms:Decrypt"])
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.eu-west-1.amazonaws.com"
    assert not resources(stack, "aws_iam_role_policy_attachment").get(role_name)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_task_has_the_master_secret_and_the_api_connects_to_the_proxy(stacks, env):
    stack = stacks[env]
    master = "master_user_secret"
    for task in resources(stack, "aws_ecs_task_definition").values():
        assert master not in task["container_definitions"]
        for container in json.loads(task["container_definitions"]):
            assert "DATABASE_CREDENTIALS" not in {s["name"] for s in container.get("secrets", [])}
    for role in resources(stack, "aws_iam_role_policy").values():
        assert master not in role["policy"]
    app = containers(stack, "api")[0]
    environment = {e["name"]: e["value"] for e in app["environment"]}
    assert environment["DATABASE_HOST"].startswith(PROXY) and environment["DATABASE_HOST"].endswith(".endpoint}")
    assert environment["DATABASE_USER"] == "video_ingest_app"
    assert "aws_db_instance.database_primary" not in json.dumps(environment)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_may_connect_to_the_proxy_as_the_app_user_and_not_to_the_primary(stacks, env):
    stack = stacks[env]
    [task_policy] = [
        p for p in resources(stack, "aws_iam_role_policy").values() if "compute_api-task-role" in p["role"]
    ]
    document = json.loads(task_policy["policy"])
    connects = [s for s in document["Statement"] if "rds-db:connect" in s["Action"]]
    resources_ = [r for s in connects for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
    assert any(r.endswith("/video_ingest_app") and "${local.database-proxy_resource-id" in r for r in resources_)
    assert not any("aws_db_instance.database_primary" in r for r in resources_)
    proxy_user = next(r for r in resources_ if r.endswith("/video_ingest_app"))
    # The proxy's resource id (prx-…) is the seventh field of its ARN, what IAM auth tokens for it name.
    local = proxy_user.split("${local.")[1].split("}")[0]
    assert proxy_user.startswith("arn:aws:rds-db:eu-west-1:")
    assert proxy_user.endswith(f":dbuser:${{local.{local}}}/video_ingest_app")
    assert stack["locals"][local].startswith('${element(split(":", aws_db_proxy.database-proxy_')
    assert stack["locals"][local].endswith(".arn), 6)}")
    assert evaluate(
        Request("rds-db:connect", proxy_user, "eu-west-1", account=proxy_user.split(":")[4]), identity=document
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_security_groups_run_services_to_proxy_to_database_only(stacks, env):
    stack = stacks[env]
    ingress = rules(stack, "aws_vpc_security_group_ingress_rule")
    p = f"video-ingest-{env}-"
    into_db = {(source, port) for group, source, port in ingress if group == p + "db-sg"}
    assert into_db == {(p + "proxy-sg", 5432)}
    into_proxy = {(source, port) for group, source, port in ingress if group == p + "proxy-sg"}
    assert into_proxy == {(p + "app-sg", 5432), (p + "worker-sg", 5432)}
    _, body = proxy(stack)
    assert [sg_name(stack, sg) for sg in body["vpc_security_group_ids"]] == [p + "proxy-sg"]
    primary = find_one(stack, "aws_db_instance", "primary")
    assert [sg_name(stack, sg) for sg in primary["vpc_security_group_ids"]] == [p + "db-sg"]
    # The proxy sits in the database subnets: their ACL lets the primary's answers back in.
    acl_rules = [r for name, r in resources(stack, "aws_network_acl_rule").items() if "database-nacl-in-12" in name]
    assert len(acl_rules) == 3 and all((r["from_port"], r["to_port"]) == (1024, 65535) for r in acl_rules)


def test_prod_reads_reach_the_replica_directly_with_iam_auth_as_a_reader(stacks):
    stack = stacks["prod"]
    app = containers(stack, "api")[0]
    environment = {e["name"]: e["value"] for e in app["environment"]}
    assert environment["DATABASE_READ_HOSTS"].startswith("${aws_db_instance.database_replica-1_")
    assert environment["DATABASE_READ_HOSTS"].endswith(".address}")
    assert environment["DATABASE_READ_USER"] == "video_ingest_reader"
    ingress = rules(stack, "aws_vpc_security_group_ingress_rule")
    assert {(source, port) for group, source, port in ingress if group == "video-ingest-prod-replica-sg"} == {
        ("video-ingest-prod-app-sg", 5432)
    }
    replica = find_one(stack, "aws_db_instance", "replica-1")
    assert [sg_name(stack, sg) for sg in replica["vpc_security_group_ids"]] == ["video-ingest-prod-replica-sg"]
    [task_policy] = [
        p for p in resources(stack, "aws_iam_role_policy").values() if "compute_api-task-role" in p["role"]
    ]
    reader = [s for s in json.loads(task_policy["policy"])["Statement"] if s["Sid"] == "ConnectToReplicasWithIamAuth"]
    assert reader and reader[0]["Resource"].endswith(".resource_id}/video_ingest_reader")


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_without_replicas_reads_go_through_the_proxy(stacks, env):
    stack = stacks[env]
    environment = {e["name"]: e["value"] for e in containers(stack, "api")[0]["environment"]}
    assert environment["DATABASE_READ_HOSTS"] == environment["DATABASE_HOST"]
    assert environment["DATABASE_READ_USER"] == "video_ingest_app"
    assert not any(g["name"].endswith("replica-sg") for g in resources(stack, "aws_security_group").values())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pool_settings_come_from_config_and_proxy_metrics_are_alarmed(stacks, env):
    stack = stacks[env]
    pool = find_one(stack, "aws_db_proxy_default_target_group")["connection_pool_config"]
    assert (
        pool["connection_borrow_timeout"],
        pool["max_connections_percent"],
        pool["max_idle_connections_percent"],
    ) == (120, 90, 50)
    assert proxy(stack)[1]["idle_client_timeout"] == 1800
    alarms = {
        body["metric_name"]: body
        for body in resources(stack, "aws_cloudwatch_metric_alarm").values()
        if body.get("dimensions", {}).get("ProxyName")
    }
    assert set(alarms) == {
        "AvailabilityPercentage",
        "ClientConnections",
        "DatabaseConnections",
        "DatabaseConnectionsBorrowLatency",
        "QueryDatabaseResponseLatency",
    }
    assert alarms["AvailabilityPercentage"]["comparison_operator"] == "LessThanThreshold"
    assert alarms["AvailabilityPercentage"]["dimensions"]["TargetRole"] == "READ_WRITE"
    assert all(
        len(a["alarm_actions"]) == 1 and a["alarm_actions"][0].startswith("${aws_sns_topic.monitoring_alarms_")
        for a in alarms.values()
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_passes_only_the_proxy_role_to_rds(stacks, env):
    from tools.rehearsal.permissions import deploy_role_documents

    documents = deploy_role_documents(stacks[f"bootstrap-{env}"])
    account = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}[env]
    proxy_role = f"arn:aws:iam::{account}:role/video-ingest-{env}-db-proxy"
    task_role = f"arn:aws:iam::{account}:role/video-ingest-{env}-api-task"

    def may_pass(role: str, service: str) -> bool:
        return bool(
            evaluate(
                Request("iam:PassRole", role, "us-east-1", account=account, context={"iam:PassedToService": service}),
                identity=documents,
            )
        )

    assert may_pass(proxy_role, "rds.amazonaws.com")
    assert not may_pass(task_role, "rds.amazonaws.com")
    assert not may_pass(proxy_role, "ec2.amazonaws.com")


@pytest.mark.parametrize(
    "lines, message",
    [
        ("max_connections_percent = 0", "database_proxy.max_connections_percent = 0: must be 1-100 %"),
        (
            "idle_client_timeout_seconds = 30000",
            "database_proxy.idle_client_timeout_seconds = 30000: must be 1-28800 s",
        ),
        (
            "max_connections_percent = 40\nmax_idle_connections_percent = 60",
            "database_proxy.max_idle_connections_percent = 60: must be at most max_connections_percent (40)",
        ),
        ("log_retention_days = 10", "database_proxy.log_retention_days = 10: must be a CloudWatch Logs retention"),
        ("pool_size = 10", "database_proxy.pool_size = 10: unknown key"),
    ],
)
def test_bad_pool_settings_name_file_field_and_value(lines, message):
    from environments.config import ConfigError
    from tests.config.test_config import load

    with pytest.raises(ConfigError) as raised:
        load(f"\n[database_proxy]\n{lines}\n")
    assert str(raised.value).startswith(f"environments/qa.toml: {message}")


@pytest.mark.slow  # a fresh `python main.py`
def test_bad_pool_setting_exits_2_and_keeps_the_previous_output(tmp_path):
    import shutil

    from environments.config import ENVIRONMENTS_DIR

    config_dir = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    dev = config_dir / "dev.toml"
    dev.write_text(dev.read_text() + "\n[database_proxy]\nmax_connections_percent = 101\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("previous")
    result = subprocess.run(
        [sys.executable, "main.py", "dev", "--config-dir", str(config_dir), "--outdir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"error: {dev}: database_proxy.max_connections_percent = 101: must be 1-100 %"
    )
    assert "Traceback" not in result.stderr and (out / "keep").read_text() == "previous"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_proxy_role_carries_the_boundary_and_the_boundary_allows_what_it_needs(stacks, env):
    stack = stacks[env]
    role_name = proxy(stack)[1]["role_arn"].split(".")[1]
    role = resources(stack, "aws_iam_role")[role_name]
    account = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}[env]
    assert role["permissions_boundary"] == f"arn:aws:iam::{account}:policy/video-ingest-{env}-boundary"
    boundary = json.loads(find_one(stacks[f"bootstrap-{env}"], "aws_iam_policy", "boundary")["policy"])
    secret = f"arn:aws:secretsmanager:eu-west-1:{account}:secret:video-ingest-{env}/database-app-user-AbCdEf"
    for action, resource, context in (
        ("secretsmanager:GetSecretValue", secret, {}),
        (
            "kms:Decrypt",
            f"arn:aws:kms:eu-west-1:{account}:key/1",
            {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"},
        ),
    ):
        request = Request(action, resource, "eu-west-1", account=account, context=context)
        allow_all = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        assert evaluate(request, identity=allow_all, boundary=boundary), action
