"""The order of a first apply, read from the synthesized graph: references (`${type.name...}`) and
`depends_on`, followed transitively. Terraform creates a resource only after everything it reaches here,
and AWS refuses or stalls several calls when the order is left to luck."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ENVIRONMENTS, find_one, resources

# `aws_lb.x`, `data.aws_iam_policy_document.y`, `terraform_data.z` inside an interpolation.
REFERENCE = re.compile(r"(?<![\w.-])(data\.)?((?:aws|terraform)_[a-z0-9_]+)\.([A-Za-z0-9_-]+)")


def _interpolations(text: str):
    """The bodies of `${...}` in a string (nested braces included)."""
    start = text.find("${")
    while start != -1:
        depth, i = 0, start + 1
        while i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        yield text[start + 2 : i]
        start = text.find("${", i)


def _references(value) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_references(v) for k, v in value.items() if k != "//"))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    if isinstance(value, str):
        return {
            f"{data or ''}{rtype}.{name}"
            for expression in _interpolations(value)
            for data, rtype, name in REFERENCE.findall(expression)
        }
    return set()


def graph(stack: dict) -> dict[str, set[str]]:
    """address -> addresses it waits for directly (references and depends_on)."""
    edges = {}
    for prefix, block in (("", stack.get("resource", {})), ("data.", stack.get("data", {}))):
        for rtype, bodies in block.items():
            for name, body in bodies.items():
                edges[f"{prefix}{rtype}.{name}"] = _references(body) | set(body.get("depends_on", []))
    return edges


def upstream(edges: dict[str, set[str]], address: str) -> set[str]:
    """Everything `address` waits for, transitively."""
    seen, todo = set(), [address]
    while todo:
        for target in edges.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def address(stack: dict, rtype: str, contains: str = "") -> str:
    [name] = [n for n in resources(stack, rtype) if contains in n]
    return f"{rtype}.{name}"


def test_the_graph_reader_follows_references_and_depends_on():
    stack = {
        "resource": {
            "aws_a": {"a": {"x": "${aws_b.b.arn}", "//": {"note": "${aws_z.z.id}"}}},
            "aws_b": {"b": {"y": "${tolist(aws_c.c-1.items)[0].name}", "depends_on": ["aws_d.d"]}},
            "aws_c": {"c-1": {}},
            "aws_d": {"d": {"z": "plain aws_e.e text, not a reference"}},
        }
    }
    edges = graph(stack)
    assert edges["aws_a.a"] == {"aws_b.b"}
    assert upstream(edges, "aws_a.a") == {"aws_b.b", "aws_c.c-1", "aws_d.d"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_service_waits_for_the_listener_that_attaches_its_target_group(stacks, env):
    """ECS refuses a service whose target group no load balancer uses yet ("The target group ... does not
    have an associated load balancer"); the HTTPS listener is what attaches it."""
    stack = stacks[env]
    [https] = [
        f"aws_lb_listener.{n}" for n, b in resources(stack, "aws_lb_listener").items() if b["protocol"] == "HTTPS"
    ]
    assert https in upstream(graph(stack), address(stack, "aws_ecs_service", "api-service"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", ["api", "worker"])
def test_services_wait_for_the_cluster_capacity_providers(stacks, env, service):
    """A capacity-provider strategy naming FARGATE_SPOT fails until the cluster has that provider."""
    stack = stacks[env]
    assert address(stack, "aws_ecs_cluster_capacity_providers") in upstream(
        graph(stack), address(stack, "aws_ecs_service", f"{service}-service")
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_distribution_waits_for_its_log_bucket_policy_and_ownership_controls(stacks, env):
    """CloudFront standard logging writes through an ACL grant: the bucket must have left
    BucketOwnerEnforced (the default of a new bucket) before the distribution is created."""
    stack = stacks[env]
    [logs] = [n for n, b in resources(stack, "aws_s3_bucket").items() if "-cdn-logs-" in b["bucket"]]
    ownership = [
        f"aws_s3_bucket_ownership_controls.{n}"
        for n, b in resources(stack, "aws_s3_bucket_ownership_controls").items()
        if logs in b["bucket"]
    ]
    policy = [
        f"aws_s3_bucket_policy.{n}" for n, b in resources(stack, "aws_s3_bucket_policy").items() if logs in b["bucket"]
    ]
    assert (
        resources(stack, "aws_s3_bucket_ownership_controls")[ownership[0].split(".", 1)[1]]["rule"]["object_ownership"]
        == "BucketOwnerPreferred"
    )
    waits_for = upstream(graph(stack), address(stack, "aws_cloudfront_distribution"))
    assert set(ownership + policy) <= waits_for


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_secret_a_task_reads_has_a_version_before_its_service_starts(stacks, env):
    """ECS reads each secret when a task starts: a secret without a value fails every task
    (ResourceInitializationError). RDS writes the master secret's value itself; app secrets get a placeholder
    version that Terraform writes once and then leaves to the operators (README: Secrets)."""
    stack = stacks[env]
    edges = graph(stack)
    read = 0
    for task_name, task in resources(stack, "aws_ecs_task_definition").items():
        [service] = [
            f"aws_ecs_service.{n}"
            for n, b in resources(stack, "aws_ecs_service").items()
            if f"aws_ecs_task_definition.{task_name}." in b["task_definition"]
        ]
        waits_for = upstream(edges, service)
        for container in json.loads(task["container_definitions"]):
            for secret in container.get("secrets", []):
                read += 1
                [source] = _references(secret["valueFrom"])
                assert source in waits_for
                if source.startswith("aws_db_instance."):
                    assert ".master_user_secret[0].secret_arn" in secret["valueFrom"]  # RDS-managed
                    continue
                assert source.startswith("aws_secretsmanager_secret.")
                versions = {
                    f"aws_secretsmanager_secret_version.{n}": b
                    for n, b in resources(stack, "aws_secretsmanager_secret_version").items()
                    if source in b["secret_id"]
                }
                assert len(versions) == 1, (secret["name"], versions)
                [(version, body)] = versions.items()
                assert version in waits_for, (service, version)
                assert body["secret_string"] and body["lifecycle"]["ignore_changes"] == ["secret_string"]
    assert read == 1  # the API's CDN signing key (the database: IAM auth tokens through the proxy, no secret)


# Resources that hold data: nothing of these may wait for the distribution or for a certificate to be issued.
STATEFUL = (
    "aws_db_instance",
    "aws_s3_bucket",
    "aws_kms_key",
    "aws_secretsmanager_secret",
    "aws_sqs_queue",
    "aws_dynamodb_table",
    "aws_cloudwatch_log_group",
)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nothing_stateful_waits_for_the_distribution_or_a_certificate(stacks, env):
    """A distribution takes minutes to deploy and waits for its certificate, which waits for DNS: whatever
    stateful sits behind them (a key whose policy named the distribution held back RDS, SQS, ECS, secrets and
    logs) makes the first apply as slow as the slowest of them, and fails with them."""
    stack = stacks[env]
    edges = graph(stack)
    slow = {address(stack, "aws_cloudfront_distribution")} | {
        f"aws_acm_certificate_validation.{n}" for n in resources(stack, "aws_acm_certificate_validation")
    }
    assert len(slow) == 3  # the distribution and both certificates
    checked = 0
    for rtype in STATEFUL:
        for name in resources(stack, rtype):
            checked += 1
            assert not upstream(edges, f"{rtype}.{name}") & slow, f"{rtype}.{name} waits for {slow}"
    assert checked >= 15  # buckets, keys, the database, queues, the secret, log groups


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_certificate_is_validated_by_its_record_in_the_zone(stacks, env):
    """No certificate waits for a human: its validation record is written to the configured zone, and the
    validation resource names that record, so it waits for exactly that."""
    from environments.config import load_environment

    config = load_environment(env)
    stack = stacks[env]
    certificates = resources(stack, "aws_acm_certificate")
    assert sorted(c["domain_name"] for c in certificates.values()) == sorted(
        [config.load_balancer.domain_name, config.cdn.domain_name]
    )
    for name in certificates:
        [validation] = [
            v
            for v in resources(stack, "aws_acm_certificate_validation").values()
            if v["certificate_arn"] == f"${{aws_acm_certificate.{name}.arn}}"
        ]
        [fqdn] = validation["validation_record_fqdns"]
        [record_address] = _references(fqdn)
        assert fqdn == f"${{{record_address}.fqdn}}"
        record = resources(stack, "aws_route53_record")[record_address.split(".", 1)[1]]
        assert record["zone_id"] == config.dns.hosted_zone_id
        options = f"tolist(aws_acm_certificate.{name}.domain_validation_options).0"
        assert record["name"] == f"${{{options}.resource_record_name}}"
        assert record["type"] == f"${{{options}.resource_record_type}}"
        assert record["records"] == [f"${{{options}.resource_record_value}}"]
        assert record["//"]["hosted_zone"] == {"id": config.dns.hosted_zone_id, "name": config.dns.zone_name}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_cdn_name_points_at_the_distribution_and_no_name_at_a_load_balancer(stacks, env):
    """The load balancers are internal: API Gateway reaches them through its VPC link, and no public name points
    at them (docs/request-paths.md)."""
    from environments.config import load_environment

    config = load_environment(env)
    stack = stacks[env]
    aliases = {
        (r["name"], r["type"]): r["alias"]
        for r in resources(stack, "aws_route53_record").values()
        if "alias" in r and r["zone_id"] == config.dns.hosted_zone_id
    }
    distribution = address(stack, "aws_cloudfront_distribution")
    assert aliases == {
        **{
            (config.cdn.domain_name, kind): {
                "name": f"${{{distribution}.domain_name}}",
                "zone_id": f"${{{distribution}.hosted_zone_id}}",
                "evaluate_target_health": False,
            }
            for kind in ("A", "AAAA")
        }
    }


def test_issued_certificates_need_no_zone_and_no_validation(synth_dev_with):
    alb = "arn:aws:acm:eu-west-1:111111111111:certificate/0b5d3c1e-1111-2222-3333-444455556666"
    cdn = "arn:aws:acm:us-east-1:111111111111:certificate/7f2a9e4d-1111-2222-3333-444455556666"
    stack = synth_dev_with(
        {"load_balancer": f'certificate_arn = "{alb}"', "cdn": f'certificate_arn = "{cdn}"'},
        drop=("hosted_zone_id", "zone_name"),
    )
    for rtype in ("aws_acm_certificate", "aws_acm_certificate_validation", "aws_route53_record"):
        assert not resources(stack, rtype), rtype
    [https] = [v for v in resources(stack, "aws_lb_listener").values() if v["protocol"] == "HTTPS"]
    assert https["certificate_arn"] == alb
    assert find_one(stack, "aws_cloudfront_distribution")["viewer_certificate"] == {
        "acm_certificate_arn": cdn,
        "minimum_protocol_version": "TLSv1.2_2021",
        "ssl_support_method": "sni-only",
    }
