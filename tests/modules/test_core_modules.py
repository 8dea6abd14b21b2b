"""Network, storage, database and security: the spec's values per environment, on the synthesized JSON."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.conftest import ENVIRONMENTS, find_one, resources

SPEC_DATABASE = {  # spec: instance class, multi-AZ, backup retention, deletion protection
    "dev": ("db.t3.micro", False, 1, False),
    "staging": ("db.t3.small", True, 7, False),
    "prod": ("db.r6g.large", True, 30, True),
}
VPC_CIDRS = {"dev": "10.10.0.0/16", "staging": "10.20.0.0/16", "prod": "10.30.0.0/16"}


def by_ref(stack: dict, rtype: str, attribute: str, target: str) -> list[dict]:
    """Resources of `rtype` whose `attribute` references `target` (e.g. `${aws_s3_bucket.x.id}`)."""
    return [body for body in resources(stack, rtype).values() if target in str(body.get(attribute, ""))]


def bucket_id(stack: dict, purpose: str) -> str:
    [name] = [
        k
        for k, v in resources(stack, "aws_s3_bucket").items()
        if f"-{purpose}-" in v["bucket"] and v["bucket"].endswith("eu-west-1")
    ]
    return name


# --- network -------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_vpc_has_nine_24_subnets_in_three_azs_inside_the_16(stacks, env):
    stack = stacks[env]
    vpc = find_one(stack, "aws_vpc")
    assert vpc["cidr_block"] == VPC_CIDRS[env] and vpc["enable_dns_hostnames"] is True
    subnets = list(resources(stack, "aws_subnet").values())
    assert len(subnets) == 9
    network = ipaddress.ip_network(VPC_CIDRS[env])
    for tier in ("public", "private", "database"):
        tier_subnets = [s for s in subnets if s["tags"]["Tier"] == tier]
        assert sorted(s["availability_zone"] for s in tier_subnets) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
        for subnet in tier_subnets:
            cidr = ipaddress.ip_network(subnet["cidr_block"])
            assert cidr.prefixlen == 24 and cidr.subnet_of(network)
            assert subnet["map_public_ip_on_launch"] is False


@pytest.mark.parametrize("env, nat_count", [("dev", 1), ("staging", 3), ("prod", 3)])
def test_nat_gateways_per_environment(stacks, env, nat_count):
    assert len(resources(stacks[env], "aws_nat_gateway")) == nat_count
    # every private route table still has a default route through a NAT gateway
    routes = [r for r in resources(stacks[env], "aws_route").values() if "nat_gateway_id" in r]
    assert len(routes) == 3


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_subnets_have_no_route_out(stacks, env):
    stack = stacks[env]
    [(db_rt, _)] = [
        (k, v) for k, v in resources(stack, "aws_route_table").items() if v["tags"]["Name"].endswith("-database")
    ]
    assert not [r for r in resources(stack, "aws_route").values() if db_rt in r["route_table_id"]]
    assert len(by_ref(stack, "aws_route_table_association", "route_table_id", db_rt)) == 3


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_flow_logs_go_to_an_encrypted_log_group(stacks, env):
    stack = stacks[env]
    flow_log = find_one(stack, "aws_flow_log")
    assert flow_log["traffic_type"] == "ALL" and flow_log["log_destination_type"] == "cloud-watch-logs"
    group = find_one(stack, "aws_cloudwatch_log_group", "flow-logs")
    assert group["kms_key_id"].startswith("${aws_kms_key.security_key") and group["retention_in_days"] >= 30


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_security_groups_admit_only_the_next_tier(stacks, env):
    stack = stacks[env]
    ingress = list(resources(stack, "aws_vpc_security_group_ingress_rule").values())
    from_internet = sorted(r["from_port"] for r in ingress if r.get("cidr_ipv4") == "0.0.0.0/0")
    assert from_internet == []  # the load balancers are internal (docs/request-paths.md)
    # Not even from the private subnets: the ALB admits the NLB's group only (tests/modules/test_review_findings.py).
    assert [r for r in ingress if r.get("cidr_ipv4") or r.get("cidr_ipv6")] == []
    groups = {name.split("_")[1]: name for name in resources(stack, "aws_security_group")}
    alb_in = [r for r in ingress if groups["alb-sg"] in r["security_group_id"]]
    assert [(r["from_port"], groups["nlb-sg"] in r["referenced_security_group_id"]) for r in alb_in] == [(443, True)]
    app_in = [r for r in ingress if groups["app-sg"] in r["security_group_id"]]
    assert [(r["from_port"], groups["alb-sg"] in r["referenced_security_group_id"]) for r in app_in] == [(8080, True)]
    db_in = [r for r in ingress if groups["db-sg"] in r["security_group_id"]]
    assert [(r["from_port"], r["referenced_security_group_id"].split(".")[1]) for r in db_in] == [
        (5432, groups["proxy-sg"])
    ]  # the primary: from the RDS Proxy only
    proxy_in = [r for r in ingress if groups["proxy-sg"] in r["security_group_id"]]
    assert sorted(r["from_port"] for r in proxy_in) == [5432, 5432]
    assert {r["referenced_security_group_id"].split(".")[1] for r in proxy_in} == {
        groups["app-sg"],
        groups["worker-sg"],
    }
    default_sg = find_one(stack, "aws_default_security_group")
    assert "ingress" not in default_sg and "egress" not in default_sg


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nacls_per_tier_and_no_ssh_or_rdp_service_rule_from_anywhere(stacks, env):
    stack = stacks[env]
    assert len(resources(stack, "aws_network_acl")) == 3
    for rule in resources(stack, "aws_network_acl_rule").values():
        if not rule["egress"] and rule["cidr_block"] == "0.0.0.0/0":
            # Only the return-traffic rule spans 22 or 3389; no rule opens either port on its own.
            if rule["from_port"] <= 3389 <= rule["to_port"] or rule["from_port"] <= 22 <= rule["to_port"]:
                assert (rule["from_port"], rule["to_port"]) == (1024, 65535), rule
    # Security groups (stateful) are what admits connections: none admits 22 or 3389.
    for rule in resources(stack, "aws_vpc_security_group_ingress_rule").values():
        assert rule["from_port"] not in (22, 3389)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nacl_return_traffic_admits_every_ephemeral_port(stacks, env):
    """NACLs are stateless: answers to connections the NAT gateway and the load balancer open arrive on any
    port 1024-65535 (NAT gateways use all of them), 3389 included; a hole there drops some of them."""
    stack = stacks[env]
    acls = {
        f"${{aws_network_acl.{name}.id}}": body["tags"]["Name"].rsplit("-", 1)[1]
        for name, body in resources(stack, "aws_network_acl").items()
    }
    for acl, tier in acls.items():
        if tier == "database":
            continue  # no internet traffic: answers come only from the private and database subnets
        inbound = [
            r
            for r in resources(stack, "aws_network_acl_rule").values()
            if r["network_acl_id"] == acl and not r["egress"] and r["cidr_block"] == "0.0.0.0/0"
        ]
        admitted = set()
        for rule in inbound:
            admitted.update(range(rule["from_port"], rule["to_port"] + 1))
        assert set(range(1024, 65536)) <= admitted, (tier, sorted(set(range(1024, 65536)) - admitted)[:5])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_gateway_endpoints_for_s3_and_dynamodb(stacks, env):
    endpoints = resources(stacks[env], "aws_vpc_endpoint").values()
    assert sorted(e["service_name"] for e in endpoints) == [
        "com.amazonaws.eu-west-1.dynamodb",
        "com.amazonaws.eu-west-1.s3",
    ]
    assert all(len(e["route_table_ids"]) == 4 for e in endpoints)  # three private + the database table


# --- storage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_video_bucket_tiers_originals_to_deep_archive_and_served_videos_to_instant_retrieval(stacks, env):
    stack = stacks[env]
    videos = bucket_id(stack, "videos")
    [lifecycle] = by_ref(stack, "aws_s3_bucket_lifecycle_configuration", "bucket", videos)
    rules = {rule["filter"][0]["prefix"]: rule for rule in lifecycle["rule"]}
    transitions = lambda prefix: [(t["days"], t["storage_class"]) for t in rules[prefix]["transition"]]
    assert transitions("originals/") == [(30, "STANDARD_IA"), (90, "GLACIER"), (365, "DEEP_ARCHIVE")]
    assert transitions("processed/") == [(30, "STANDARD_IA"), (90, "GLACIER_IR")]
    rule = rules[""]
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == 90
    assert rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 7


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_video_bucket_is_versioned_encrypted_private_owner_enforced_and_logged(stacks, env):
    stack = stacks[env]
    videos = bucket_id(stack, "videos")
    assert (
        by_ref(stack, "aws_s3_bucket_versioning", "bucket", videos)[0]["versioning_configuration"]["status"]
        == "Enabled"
    )
    sse = by_ref(stack, "aws_s3_bucket_server_side_encryption_configuration", "bucket", videos)[0]["rule"][0]
    assert sse["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    block = by_ref(stack, "aws_s3_bucket_public_access_block", "bucket", videos)[0]
    assert all(
        block[k] for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    ownership = by_ref(stack, "aws_s3_bucket_ownership_controls", "bucket", videos)[0]
    assert ownership["rule"]["object_ownership"] == "BucketOwnerEnforced"
    logging = by_ref(stack, "aws_s3_bucket_logging", "bucket", videos)[0]
    assert "-logs-" in logging["target_bucket"] or "storage_logs" in logging["target_bucket"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_video_bucket_policy_is_tls_only_and_admits_only_the_distribution(stacks, env):
    stack = stacks[env]
    policy = json.loads(by_ref(stack, "aws_s3_bucket_policy", "bucket", bucket_id(stack, "videos"))[0]["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    cloudfront = statements["CloudFrontReadsVideos"]
    assert cloudfront["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert cloudfront["Action"] == ["s3:GetObject"]
    assert cloudfront["Condition"]["StringEquals"]["AWS:SourceArn"].startswith("${aws_cloudfront_distribution.")
    assert find_one(stack, "aws_cloudfront_origin_access_control")["signing_behavior"] == "always"


@pytest.mark.parametrize(
    "env, replicated, rtc", [("dev", False, False), ("staging", False, False), ("prod", True, True)]
)
def test_cross_region_replication_per_environment(stacks, env, replicated, rtc):
    stack = stacks[env]
    replications = list(resources(stack, "aws_s3_bucket_replication_configuration").values())
    assert bool(replications) == replicated
    if replicated:
        [rule] = replications[0]["rule"]
        assert rule["destination"]["encryption_configuration"]["replica_kms_key_id"].startswith(
            "${aws_kms_key.security_dr-key"
        )
        assert ("replication_time" in rule["destination"]) == rtc
        replica = [
            b
            for b in resources(stack, "aws_s3_bucket").values()
            if b["bucket"].endswith("eu-central-1") and "-videos-" in b["bucket"]
        ]
        assert replica and replica[0]["provider"] == "aws.dr"


# --- database ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_matches_the_spec(stacks, env):
    db = find_one(stacks[env], "aws_db_instance", "primary")
    instance_class, multi_az, retention, deletion_protection = SPEC_DATABASE[env]
    assert (db["instance_class"], db["multi_az"], db["backup_retention_period"], db["deletion_protection"]) == (
        instance_class,
        multi_az,
        retention,
        deletion_protection,
    )
    assert db["engine"] == "postgres" and db["engine_version"].split(".")[0] == "15"
    assert db["storage_type"] == "gp3" and db["max_allocated_storage"] > db["allocated_storage"]
    assert db["storage_encrypted"] is True and db["kms_key_id"].startswith("${aws_kms_key.security_key")
    assert db["iam_database_authentication_enabled"] and db["performance_insights_enabled"]
    assert db["monitoring_interval"] == 60 and db["enabled_cloudwatch_logs_exports"] == ["postgresql", "upgrade"]
    assert db["copy_tags_to_snapshot"]
    assert db["publicly_accessible"] is False
    assert "database_subnet-group" in db["db_subnet_group_name"]


@pytest.mark.parametrize("env, kept", [("dev", False), ("staging", True), ("prod", True)])
def test_final_snapshot_is_kept_under_a_name_no_earlier_instance_used(stacks, env, kept):
    """dev is destroyed and re-created at will: no final snapshot. Elsewhere the name carries the UUID of a
    terraform_data created with the instance, so destroying a re-created environment does not collide."""
    db = find_one(stacks[env], "aws_db_instance", "primary")
    assert db["skip_final_snapshot"] is not kept
    if kept:
        [suffix] = resources(stacks[env], "terraform_data")
        assert db["final_snapshot_identifier"] == f"video-ingest-{env}-db-final-${{terraform_data.{suffix}.id}}"
    else:
        assert "final_snapshot_identifier" not in db and not resources(stacks[env], "terraform_data")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_plain_text_password_anywhere(stacks, synth_dir, env):
    db = find_one(stacks[env], "aws_db_instance", "primary")
    assert db["manage_master_user_password"] is True and "password" not in db
    assert db["master_user_secret_kms_key_id"].startswith("${aws_kms_key.security_key")
    text = (synth_dir / "stacks" / env / "cdk.tf.json").read_text()
    assert '"password"' not in text
    # The only secret value anywhere: the placeholder that lets tasks start, which Terraform never compares again.
    from modules.security import SECRET_PLACEHOLDER

    for version in resources(stacks[env], "aws_secretsmanager_secret_version").values():
        assert version["secret_string"] == SECRET_PLACEHOLDER
        assert version["lifecycle"]["ignore_changes"] == ["secret_string"]
    assert text.count("secret_string") == 2 * len(resources(stacks[env], "aws_secretsmanager_secret_version"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_parameter_group_forces_tls(stacks, env):
    parameters = {p["name"]: p["value"] for p in find_one(stacks[env], "aws_db_parameter_group")["parameter"]}
    assert parameters["rds.force_ssl"] == "1" and parameters["ssl_min_protocol_version"] == "TLSv1.2"


def test_prod_read_replica_inherits_credentials_from_the_source(stacks):
    [replica] = [v for k, v in resources(stacks["prod"], "aws_db_instance").items() if "replica" in k]
    assert replica["replicate_source_db"].startswith("${aws_db_instance.database_primary")
    # terraform-aws-rds #512: a replica must not set these, or create fails.
    for attribute in ("manage_master_user_password", "username", "password", "engine", "db_name"):
        assert attribute not in replica
    assert not [k for k in resources(stacks["dev"], "aws_db_instance") if "replica" in k]


def test_same_region_read_replicas_do_not_pass_a_kms_key(stacks):
    """AWS refuses KmsKeyId on a same-region read replica ("Your request does not require the KMS key
    parameter"): the replica is encrypted with the source's key. Only a cross-region replica names one."""
    replicas = [v for k, v in resources(stacks["prod"], "aws_db_instance").items() if "replica" in k]
    assert replicas
    primary_provider = find_one(stacks["prod"], "aws_db_instance", "primary").get("provider")
    for replica in replicas:
        assert replica.get("provider") == primary_provider  # same region as the source
        assert "kms_key_id" not in replica
        assert replica["storage_encrypted"] is True


# Types whose names need not be unique: a replacement created before the old one goes can keep the name.
DUPLICATE_NAMES_ALLOWED = {"aws_api_gateway_rest_api": "API Gateway allows several REST APIs of one name"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_create_before_destroy_never_meets_a_fixed_name(stacks, env):
    """The replacement exists next to the old resource for a moment: a fixed unique name collides
    (CloudFront public keys, DB parameter groups); such resources take a name_prefix."""
    for rtype, bodies in stacks[env]["resource"].items():
        for name, body in bodies.items():
            if body.get("lifecycle", {}).get("create_before_destroy") and rtype not in DUPLICATE_NAMES_ALLOWED:
                assert "name" not in body, f"{rtype}.{name}: create_before_destroy with a fixed name"


# --- security ---------------------------------------------------------------------------------------


def all_policies(stack: dict) -> list[dict]:
    return [
        json.loads(body["policy"])
        for rtype in ("aws_iam_role_policy", "aws_iam_policy")
        for body in resources(stack, rtype).values()
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_star_action_on_star_resource(stacks, env):
    for document in all_policies(stacks[env]):
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions, statement


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kms_key_policy_names_its_users(stacks, env):
    key = find_one(stacks[env], "aws_kms_key", "security_key")
    assert key["enable_key_rotation"] is True
    sids = {s["Sid"] for s in json.loads(key["policy"])["Statement"]}
    assert {
        "AccountAdministersKey",
        "CloudWatchLogsEncrypt",
        "S3SendsUploadEvents",
        "CloudFrontDecryptsVideos",
        "AlarmPublishers",
    } <= sids


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_operator_role_requires_mfa(stacks, env):
    operator = json.loads(find_one(stacks[env], "aws_iam_role", "operator-role")["assume_role_policy"])
    assert operator["Statement"][0]["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}


def test_prod_operator_role_trusts_the_identity_account(stacks):
    operator = json.loads(find_one(stacks["prod"], "aws_iam_role", "operator-role")["assume_role_policy"])
    assert operator["Statement"][0]["Principal"]["AWS"] == [
        "arn:aws:iam::333333333333:root",
        "arn:aws:iam::444444444444:root",
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_app_secrets_are_kms_encrypted_in_secrets_manager(stacks, env):
    secrets = resources(stacks[env], "aws_secretsmanager_secret").values()
    assert sorted(s["name"] for s in secrets) == [
        f"video-ingest-{env}/cdn-signing-key",
        f"video-ingest-{env}/database-app-user",
    ]
    # Disposable environments (dev, staging) are destroyed and re-created under the same names: their secrets go
    # at once (a name in its recovery window cannot be reused); prod's can be restored for 30 days.
    for secret in secrets:
        assert secret["kms_key_id"].startswith("${aws_kms_key.security_key")
        assert secret["recovery_window_in_days"] == (30 if env == "prod" else 0)
