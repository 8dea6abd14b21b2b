"""CKV_VIDEO_1: nothing that API Gateway (or CloudFront) fronts is reachable from the internet around it."""

from __future__ import annotations

from urllib.parse import urlparse

from checkov.common.models.enums import CheckCategories
from video_policy_model import Config, Policy, blocks, refers_to, truthy

ANYWHERE = {"0.0.0.0/0", "::/0"}
PASSIVE_ACTIONS = {"redirect", "fixed-response"}


def backend_hosts(config: Config) -> set[str]:
    """Host names that API Gateway integrations and CloudFront origins call."""
    hosts = set()
    for body in config.of("aws_api_gateway_integration").values():
        if body.get("type") in ("HTTP", "HTTP_PROXY") and body.get("connection_type") != "VPC_LINK":
            host = urlparse(str(body.get("uri", ""))).hostname
            if host:
                hosts.add(host.lower())
    for body in config.of("aws_cloudfront_distribution").values():
        for origin in blocks(body.get("origin")):
            if origin.get("custom_origin_config") and isinstance(origin.get("domain_name"), str):
                hosts.add(origin["domain_name"].lower())
    return hosts


def alias_names(config: Config, name: str) -> set[str]:
    """The DNS names (Route 53 alias records) that point at load balancer `name`."""
    return {
        str(record.get("name", "")).lower().rstrip(".")
        for record in config.of("aws_route53_record").values()
        for alias in blocks(record.get("alias"))
        if refers_to(alias.get("name"), "aws_lb", name)
    }


def open_ports(config: Config, lb: dict) -> list[tuple[int, int, str, str]]:
    """(from port, to port, cidr, rule) of every ingress from anywhere into the load balancer's security groups."""
    groups = [
        name
        for name in config.of("aws_security_group")
        if any(refers_to(value, "aws_security_group", name) for value in lb.get("security_groups") or [])
    ]

    def of_group(value) -> bool:
        return any(refers_to(value, "aws_security_group", group) for group in groups)

    def span(rule) -> tuple[int, int]:
        if str(rule.get("ip_protocol", rule.get("protocol"))) == "-1":
            return 0, 65535
        return int(rule.get("from_port", 0)), int(rule.get("to_port", 65535))

    found = []
    for group in groups:
        for rule in blocks(config.get("aws_security_group", group).get("ingress")):
            for cidr in (rule.get("cidr_blocks") or []) + (rule.get("ipv6_cidr_blocks") or []):
                if cidr in ANYWHERE:
                    found.append((*span(rule), cidr, f"aws_security_group.{group}"))
    for rname, rule in config.of("aws_vpc_security_group_ingress_rule").items():
        if of_group(rule.get("security_group_id")):
            for cidr in (rule.get("cidr_ipv4"), rule.get("cidr_ipv6")):
                if cidr in ANYWHERE:
                    found.append((*span(rule), cidr, f"aws_vpc_security_group_ingress_rule.{rname}"))
    for rname, rule in config.of("aws_security_group_rule").items():
        if rule.get("type") == "ingress" and of_group(rule.get("security_group_id")):
            for cidr in (rule.get("cidr_blocks") or []) + (rule.get("ipv6_cidr_blocks") or []):
                if cidr in ANYWHERE:
                    found.append((*span(rule), cidr, f"aws_security_group_rule.{rname}"))
    return found


def forwards(actions) -> bool:
    return any(action.get("type") not in PASSIVE_ACTIONS for action in blocks(actions))


def header_guarded_rules(config: Config, listener: str) -> bool:
    """Every listener rule that forwards requires an HTTP header (a secret only API Gateway/CloudFront send)."""
    rules = [
        rule
        for rule in config.of("aws_lb_listener_rule").values()
        if refers_to(rule.get("listener_arn"), "aws_lb_listener", listener) and forwards(rule.get("action"))
    ]
    return all(
        any(blocks(condition.get("http_header")) for condition in blocks(rule.get("condition"))) for rule in rules
    )


def waf_requires_header(config: Config, name: str) -> bool:
    """A web ACL on the load balancer that blocks by default and allows only on a header match."""
    for association in config.of("aws_wafv2_web_acl_association").values():
        if not refers_to(association.get("resource_arn"), "aws_lb", name):
            continue
        for acl_name, acl in config.of("aws_wafv2_web_acl").items():
            if not refers_to(association.get("web_acl_arn"), "aws_wafv2_web_acl", acl_name):
                continue
            default_block = any(
                blocks(action.get("block")) or "block" in action for action in blocks(acl.get("default_action"))
            )
            header_allow = any(
                any("allow" in action for action in blocks(rule.get("action")))
                and "single_header" in str(rule.get("statement"))
                for rule in blocks(acl.get("rule"))
            )
            if default_block and header_allow:
                return True
    return False


class NoPublicPathAroundTheApi(Policy):
    def __init__(self) -> None:
        super().__init__(
            name="A load balancer that API Gateway or CloudFront calls is not reachable from the internet around "
            "them (internal, closed security group, secret-header rules, header-only WAF, or mutual TLS)",
            id="CKV_VIDEO_1",
            supported_resources=["aws_lb"],
            categories=[CheckCategories.NETWORKING],
        )

    def evaluate(self, config, rtype, name, body):
        names = alias_names(config, name)
        hosts = backend_hosts(config)
        direct = [i.get("uri") for i in config.of("aws_api_gateway_integration").values()] + [
            o.get("domain_name")
            for d in config.of("aws_cloudfront_distribution").values()
            for o in blocks(d.get("origin"))
        ]
        called = sorted(names & hosts) or (
            ["its DNS name"] if any(refers_to(v, "aws_lb", name) for v in direct) else []
        )
        if not called:
            return []  # not a backend of the API: nothing to bypass
        if truthy(body.get("internal")):
            return []
        if waf_requires_header(config, name):
            return []
        problems = []
        ports = open_ports(config, body)
        for lname, listener in config.of("aws_lb_listener").items():
            if not refers_to(listener.get("load_balancer_arn"), "aws_lb", name):
                continue
            port = int(listener.get("port", 0))
            opening = [p for p in ports if p[0] <= port <= p[1]]
            if not opening:
                continue
            if any(str(m.get("mode")) == "verify" for m in blocks(listener.get("mutual_authentication"))):
                continue
            default_forwards = forwards(listener.get("default_action"))
            if not default_forwards and header_guarded_rules(config, lname):
                continue
            problems.append(
                f"{', '.join(called)} (API Gateway/CloudFront backend) reaches aws_lb_listener.{lname} (port "
                f"{port}) from {opening[0][2]} ({opening[0][3]}) with no secret header, header-only WAF or mTLS"
            )
        return problems


check = NoPublicPathAroundTheApi()
