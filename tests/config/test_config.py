"""Every bad input is refused with a message naming the file, the field, the value and what is allowed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from environments.config import (
    ENVIRONMENTS_DIR,
    ConfigError,
    load_all,
    load_environment,
    load_environment_text,
    load_state_backend,
)

BASE = """
name = "qa"
account_id = "123456789012"
region = "eu-west-1"
dr_region = "eu-central-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
production = false
identity = { ci_repository = "example-org/video-ingest-infra" }
dns = { hosted_zone_id = "Z0QA00000000000000001", zone_name = "video.example.com" }
"""
CDN = '\n[cdn]\nsigning_public_key_pem = "-----BEGIN PUBLIC KEY-----\\nMIIB\\n-----END PUBLIC KEY-----"\n'


def load(extra: str = "", base: str = BASE):
    """`extra` may end inside a section: the required [cdn] table comes last."""
    return load_environment_text(base + extra + CDN, "environments/qa.toml")


def refused(extra: str, pattern: str, base: str = BASE) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load(extra, base)


def test_committed_environments_carry_the_spec_sizes():
    expected = {
        "dev": ("db.t3.micro", False, 1, False),
        "staging": ("db.t3.small", True, 7, False),
        "prod": ("db.r6g.large", True, 30, True),
    }
    for name, (rds_class, multi_az, retention, deletion_protection) in expected.items():
        env = load_environment(name)
        assert (
            env.database.instance_class,
            env.database.multi_az,
            env.database.backup_retention_days,
            env.database.deletion_protection,
        ) == (rds_class, multi_az, retention, deletion_protection)


def test_minimal_environment_takes_prod_safe_defaults():
    env = load()
    assert env.database.multi_az and env.database.deletion_protection and env.storage.replication_enabled


def test_unknown_key_names_file_field_and_allowed_keys():
    refused(
        '[database]\ninstance_clas = "db.t3.micro"\n',
        r"^environments/qa\.toml: database\.instance_clas = 'db\.t3\.micro': unknown key; allowed keys in "
        r"\[database\]: .*instance_class",
    )


def test_unknown_top_level_key():
    refused('rds_instance_class = "db.t3.micro"\n', r"qa\.toml: rds_instance_class = 'db\.t3\.micro': unknown key")


def test_wrong_type_is_named():
    refused(
        '[database]\nbackup_retention_days = "seven"\n',
        r"qa\.toml: database\.backup_retention_days = 'seven': must be a integer, got string",
    )


def test_boolean_is_not_an_integer():
    refused("[database]\nread_replicas = true\n", r"database\.read_replicas = True: must be a integer, got boolean")


def test_missing_required_key():
    refused("", r"qa\.toml: account_id: missing required key", base=BASE.replace('account_id = "123456789012"\n', ""))


@pytest.mark.parametrize("retention", [-1, 36, 40])
def test_backup_retention_outside_0_to_35(retention):
    refused(
        f"[database]\nbackup_retention_days = {retention}\n",
        rf"qa\.toml: database\.backup_retention_days = {retention}: must be 0-35 days",
    )


@pytest.mark.parametrize(
    "cidr, message",
    [
        ("10.0.0.300/16", "not a valid IPv4 CIDR"),
        ("10.1.0.0/20", "must be an IPv4 /16"),
        ("10.1.2.0/16", "not a valid IPv4 CIDR"),  # host bits set
        ("8.8.0.0/16", "must be a private range"),
    ],
)
def test_invalid_vpc_cidr(cidr, message):
    refused(f'[network]\nvpc_cidr = "{cidr}"\n', rf"network\.vpc_cidr = '{re.escape(cidr)}': {message}")


def test_overlapping_vpc_cidrs_between_environments(tmp_path: Path):
    for name in ("state_backend", "dev", "staging", "prod"):
        shutil.copy(ENVIRONMENTS_DIR / f"{name}.toml", tmp_path)
    staging = tmp_path / "staging.toml"
    staging.write_text(staging.read_text().replace('vpc_cidr = "10.20.0.0/16"', 'vpc_cidr = "10.10.0.0/16"'))
    with pytest.raises(ConfigError, match=r"staging\.toml: network\.vpc_cidr = '10\.10\.0\.0/16': overlaps dev's"):
        load_all(("dev", "staging", "prod"), tmp_path)


def test_production_requires_multi_az():
    refused(
        "production = true\n[database]\nmulti_az = false\n",
        r"qa\.toml: database\.multi_az = false: a production environment requires true",
        base=BASE.replace("production = false\n", ""),
    )


def test_production_requires_deletion_protection():
    refused(
        "production = true\n[database]\ndeletion_protection = false\n",
        r"database\.deletion_protection = false: a production environment requires true",
        base=BASE.replace("production = false\n", ""),
    )


def test_missing_environment_lists_the_available_ones():
    with pytest.raises(
        ConfigError, match=r"environment 'qa': no file environments/qa\.toml; available: dev, prod, staging"
    ):
        load_environment("qa")


def test_file_name_and_name_must_agree(tmp_path: Path):
    (tmp_path / "qa.toml").write_text(BASE.replace('name = "qa"', 'name = "uat"') + CDN)
    with pytest.raises(ConfigError, match=r"qa\.toml: name = 'uat': must match the file name 'qa'"):
        load_environment("qa", tmp_path)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("account_id", '"12345"', r"account_id = '12345': must be a 12-digit AWS account id"),
        ("region", '"europe"', r"region = 'europe': must be an AWS region"),
        ("identity", '{ ci_repository = "org/*" }', r"identity\.ci_repository = 'org/\*': must be a GitHub 'org/repo'"),
        (
            "identity",
            '{ ci_repository = "o/r", deploy_session_hours = 24 }',
            r"identity\.deploy_session_hours = 24: must be 1-12 hours",
        ),
        (
            "availability_zones",
            '["eu-west-1a", "eu-west-1b"]',
            r"availability_zones = .*: must be three distinct zones",
        ),
        ("dr_region", '"eu-west-1"', r"dr_region = 'eu-west-1': must differ from region"),
    ],
)
def test_environment_fields(field, value, message):
    base = "\n".join(line for line in BASE.splitlines() if not line.startswith(f"{field} =")) + "\n"
    refused(f"{field} = {value}\n", message, base=base)


@pytest.mark.parametrize(
    "section, line, message",
    [
        (
            "storage",
            "glacier_after_days = 20",
            r"storage\.ia_after_days/glacier_after_days/deep_archive_after_days = "
            r"30/20/365: transitions must increase",
        ),
        ("storage", "ia_after_days = 10", r"storage\.ia_after_days = 10: must be at least 30 days"),
        ("database", 'engine_version = "14.9"', r"database\.engine_version = '14\.9': must be PostgreSQL 15"),
        ("database", "max_allocated_storage_gb = 10", r"database\.max_allocated_storage_gb = 10: must be above"),
        ("database", "read_replicas = 9", r"database\.read_replicas = 9: must be 0-5"),
        (
            "database",
            'instance_class = "db.r6g.larg"',
            r"^environments/qa\.toml: database\.instance_class = 'db\.r6g\.larg': "
            r"not an instance class RDS offers for PostgreSQL 15; did you mean "
            r"'db\.r6g\.large'\? sizes of db\.r6g: large, .*16xlarge",
        ),
        (
            "database",
            'instance_class = "db.t2.micro"',
            r"database\.instance_class = 'db\.t2\.micro': not an instance "
            r"class RDS offers for PostgreSQL 15; .*families: m5 .* t4g",
        ),
        (
            "network",
            "flow_log_retention_days = 10",
            r"network\.flow_log_retention_days = 10: must be a CloudWatch Logs retention",
        ),
        ("security", 'ci_repository = "org/repo"', r"security\.ci_repository = 'org/repo': unknown key"),
        ("security", 'trusted_account_ids = ["x"]', r"security\.trusted_account_ids\[0\] = 'x': must be a 12-digit"),
        (
            "security",
            "secret_recovery_window_days = 3",
            r"security\.secret_recovery_window_days = 3: must be 0 \(delete "
            r"at once\) or 7-30 days",
        ),
        (
            "compute",
            "cpu = 300",
            r"compute\.cpu = 300: must be a Fargate CPU size in units \(1024 = 1 vCPU\): 256, 512, 1024",
        ),
        (
            "compute",
            'image = "nginx:latest"',
            r"compute\.image = 'nginx:latest': must be an image reference with an "
            r"explicit tag or digest",
        ),
        ("compute", "min_tasks = 5\nmax_tasks = 2", r"compute\.min_tasks/max_tasks = 5/2"),
        (
            "ingest",
            "worker_cpu = 512\nworker_memory = 512",
            r"ingest\.worker_memory = 512: AWS refuses this Fargate size with worker_cpu = 512; allowed memory for 512 "
            r"CPU: 1024, 2048, 3072, 4096 MiB",
        ),
        (
            "ingest",
            'cors_allowed_origins = ["http://evil.example.com"]',
            r"ingest\.cors_allowed_origins\[0\] = 'http://evil\.example\.com': must be an https:// origin",
        ),
        (
            "ingest",
            "visibility_timeout_seconds = 50000",
            r"ingest\.visibility_timeout_seconds = 50000: must be 0-43200",
        ),
        ("api", 'cache_size_gb = "2"', r"api\.cache_size_gb = '2': must be one of 0\.5, 1\.6"),
        ("api", "cache_ttl_seconds = 7200", r"api\.cache_ttl_seconds = 7200: must be 0-3600"),
        ("api", '[[api.clients]]\nname = "Web App"', r"api\.clients\[0\]\.name = 'Web App': must be 2-31 chars"),
        # One health path, compute.health_check_path: the container's check and the target group's.
        ("load_balancer", 'health_check_path = "/ready"', r"load_balancer\.health_check_path = '/ready': unknown key"),
        (
            "load_balancer",
            'domain_name = "not a domain"',
            r"load_balancer\.domain_name = 'not a domain': must be a DNS name",
        ),
        (
            "monitoring",
            'alarm_emails = ["oncall"]',
            r"monitoring\.alarm_emails\[0\] = 'oncall': must be an e-mail address",
        ),
        (
            "monitoring",
            "cdn_cache_hit_min_percent = 120",
            r"monitoring\.cdn_cache_hit_min_percent = 120\.0: must be above 0 and at most 100 %",
        ),
        ("cost", "monthly_budget_usd = 0", r"cost\.monthly_budget_usd = 0: must be at least 1"),
        (
            "cost",
            'anomaly_monitor_arn = "monitor-1"',
            r"cost\.anomaly_monitor_arn = 'monitor-1': must be empty or a "
            r"monitor ARN",
        ),
        (
            "cost",
            'anomaly_monitor_arn = "arn:aws:ce::999999999999:anomalymonitor/abc"',
            r"cost\.anomaly_monitor_arn = 'arn:aws:ce::999999999999:anomalymonitor/abc': "
            r"must be a monitor of account_id "
            r"123456789012",
        ),
        (
            "cost",
            'anomaly_detection = false\nanomaly_monitor_arn = "arn:aws:ce::123456789012:anomalymonitor/abc"',
            r"cost\.anomaly_monitor_arn = .*: set, but anomaly_detection = false subscribes nothing",
        ),
        ("backup", 'schedule = "hourly"', r"backup\.schedule = 'hourly': must be a cron\(\.\.\.\) or rate"),
    ],
)
def test_module_fields(section, line, message):
    refused(f"[{section}]\n{line}\n", message)


def test_invalid_toml_is_reported_with_the_file():
    refused("[database\n", r"qa\.toml: not valid TOML")


def test_state_backend_loads():
    state = load_state_backend()
    assert state.bucket.startswith("video-ingest-terraform-state") and state.lock_table


def test_identity_section_is_required():
    refused(
        "",
        r"^environments/qa\.toml: identity: missing required key \(IdentityConfig\)$",
        base=BASE.replace('identity = { ci_repository = "example-org/video-ingest-infra" }\n', ""),
    )


def test_deploy_role_is_no_longer_configured():
    """The account bootstrap creates the deploy role; a configured ARN would name a role nobody creates."""
    refused(
        'deploy_role_arn = "arn:aws:iam::123456789012:role/video-ingest-terraform"\n',
        r"deploy_role_arn = .*: unknown key",
    )


@pytest.mark.parametrize(
    "line, message",
    [
        (None, r"state_backend\.toml: role_arn: missing required key"),
        (
            'role_arn = "video-ingest-terraform-state"',
            r"role_arn = 'video-ingest-terraform-state': must be an IAM role ARN",
        ),
        (
            'role_arn = "arn:aws:iam::111111111111:role/video-ingest-terraform-state"',
            r"role_arn = 'arn:aws:iam::111111111111:role/video-ingest-terraform-state': "
            r"must be a role in account_id 000000000000",
        ),
        (
            'read_role_arn = "arn:aws:iam::000000000000:role/video-ingest-terraform-state"',
            r"read_role_arn = .*: must differ",
        ),
    ],
)
def test_state_roles_are_required_and_in_the_state_account(tmp_path: Path, line, message):
    text = (ENVIRONMENTS_DIR / "state_backend.toml").read_text()
    field = "role_arn" if line is None else line.split(" =")[0]
    text = (
        "\n".join(kept for kept in text.splitlines() if not kept.startswith(f"{field} =")) + "\n" + (line or "") + "\n"
    )
    (tmp_path / "state_backend.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_state_backend(tmp_path)


def test_fargate_pair_that_aws_refuses_names_both_fields():
    refused(
        "[compute]\ncpu = 256\nmemory = 4096\n",
        r"^environments/qa\.toml: compute\.memory = 4096: AWS refuses this Fargate size with cpu = 256; "
        r"allowed memory for 256 CPU: 512, 1024, 2048 MiB$",
    )


def test_fargate_pairs_of_the_spec_are_accepted():
    for cpu, memory in ((256, 512), (512, 1024), (1024, 2048)):
        assert load(f"[compute]\ncpu = {cpu}\nmemory = {memory}\n").compute.memory == memory


def test_cdn_section_and_its_key_are_required():
    with pytest.raises(ConfigError, match=r"qa\.toml: cdn: missing required key"):
        load_environment_text(BASE, "environments/qa.toml")
    with pytest.raises(
        ConfigError, match=r"qa\.toml: cdn\.signing_public_key_pem = 'ssh-rsa AAAA': must be a PEM public key"
    ):
        load_environment_text(BASE + '[cdn]\nsigning_public_key_pem = "ssh-rsa AAAA"\n', "environments/qa.toml")


def test_every_certificate_is_issued_or_validated_in_a_zone():
    no_zone = BASE.replace('dns = { hosted_zone_id = "Z0QA00000000000000001", zone_name = "video.example.com" }\n', "")
    refused(
        "",
        r"^environments/qa\.toml: load_balancer\.certificate_arn = '': with no dns\.hosted_zone_id the "
        r"stack cannot validate a new certificate",
        base=no_zone,
    )
    alb = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    refused(
        f'[load_balancer]\ncertificate_arn = "{alb}"\n',
        r"cdn\.certificate_arn = '': with no "
        r"dns\.hosted_zone_id",
        base=no_zone,
    )
    refused(
        '[load_balancer]\ndomain_name = "api.example.org"\n',
        r"load_balancer\.domain_name = 'api\.example\.org': must lie in dns\.zone_name \('video\.example\.com'\)",
    )
    refused(
        '[load_balancer]\ncertificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"\n',
        r"load_balancer\.certificate_arn = .*: must be a certificate of account 123456789012 in eu-west-1",
    )


@pytest.mark.parametrize(
    "dns, message",
    [
        (
            '{ hosted_zone_id = "zone-1", zone_name = "video.example.com" }',
            r"dns\.hosted_zone_id = 'zone-1': must be "
            r"empty or a Route 53 hosted zone id",
        ),
        (
            '{ hosted_zone_id = "Z0QA00000000000000001" }',
            r"dns\.zone_name = '': hosted_zone_id and zone_name name the "
            r"same zone: set both or neither",
        ),
    ],
)
def test_dns_fields(dns, message):
    refused(
        "",
        message,
        base=BASE.replace('{ hosted_zone_id = "Z0QA00000000000000001", zone_name = "video.example.com" }', dns),
    )


def test_cdn_needs_its_own_name_for_tls_1_2():
    with pytest.raises(
        ConfigError,
        match=r"qa\.toml: cdn\.domain_name = '': required: with the default "
        r"\*\.cloudfront\.net certificate CloudFront allows only TLSv1",
    ):
        load_environment_text(BASE + CDN + 'domain_name = ""\n', "environments/qa.toml")


def test_production_requires_the_edge_waf_and_dr_pieces():
    base = BASE.replace("production = false\n", "")
    refused("[backup]\nenabled = false\n", r"backup\.enabled = false: a production environment requires true", base)
    refused(
        "[database]\nbackup_replication = false\n",
        r"database\.backup_replication = false: a production environment requires true",
        base,
    )
    refused(
        "[security]\nsecret_recovery_window_days = 0\n",
        r"security\.secret_recovery_window_days = 0: a production environment requires a recovery window",
        base,
    )
    refused(
        "[database]\nfinal_snapshot = false\n",
        r"database\.final_snapshot = false: a production environment requires true",
        base,
    )


def test_every_default_lies_within_the_limits_declared_next_to_it():
    """The loader checks the values a file gives (modules/limits.py); a default in code must pass the same limits."""
    import dataclasses
    import typing

    from environments.config import Environment, StateBackendConfig
    from modules.limits import item_limits_of, limits_of

    checked, classes, seen = 0, [Environment, StateBackendConfig], set()
    while classes:
        cls = classes.pop()
        if cls in seen:
            continue
        seen.add(cls)
        hints = typing.get_type_hints(cls, include_extras=True)
        for field in dataclasses.fields(cls):
            hint = hints[field.name]
            base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
            classes += [t for t in (base, *typing.get_args(base)) if dataclasses.is_dataclass(t)]
            if field.default is dataclasses.MISSING:
                continue
            values = field.default if item_limits_of(hint) else (field.default,)
            for limit in (*limits_of(hint), *item_limits_of(hint)):
                for value in values:
                    assert limit.problem(value) is None, (cls.__name__, field.name, value)
                    checked += 1
    assert checked > 80
