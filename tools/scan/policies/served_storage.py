"""CKV_VIDEO_3: nothing CloudFront serves sits in an archive storage class (a GET of it is 403)."""

from __future__ import annotations

import json

from checkov.common.models.enums import CheckCategories
from video_policy_model import Config, Policy, blocks, refers_to

ARCHIVE = {"GLACIER", "DEEP_ARCHIVE"}  # GLACIER_IR serves reads; these need a restore first


def prefix_of(pattern: str) -> str:
    """The key prefix a cache behavior's path pattern covers ("/videos/*.mp4" -> "videos/", "*" -> "")."""
    head = pattern.lstrip("/")
    for wildcard in ("*", "?"):
        head = head.split(wildcard, 1)[0]
    return head


def served_prefixes(config: Config, bucket: str) -> list[tuple[str, str]]:
    """(key prefix, distribution) of every path CloudFront serves from aws_s3_bucket `bucket`."""
    served = []
    for dname, distribution in config.of("aws_cloudfront_distribution").items():
        origins = {o.get("origin_id"): o for o in blocks(distribution.get("origin"))}
        groups = {
            g.get("origin_id"): [m.get("origin_id") for m in blocks(g.get("member"))]
            for g in blocks(distribution.get("origin_group"))
        }
        behaviors = [dict(b, path_pattern="*") for b in blocks(distribution.get("default_cache_behavior"))]
        behaviors += blocks(distribution.get("ordered_cache_behavior"))
        for behavior in behaviors:
            target = behavior.get("target_origin_id")
            for origin_id in groups.get(target, [target]):
                origin = origins.get(origin_id, {})
                if refers_to(origin.get("domain_name"), "aws_s3_bucket", bucket):
                    root = str(origin.get("origin_path") or "").strip("/")
                    prefix = prefix_of(str(behavior.get("path_pattern", "*")))
                    served.append(((root + "/" if root else "") + prefix, f"aws_cloudfront_distribution.{dname}"))
    return served


def cloudfront_readable(config: Config, bucket: str) -> list[str] | None:
    """The key prefixes the bucket policy lets CloudFront read (`s3:GetObject` allowed to the service principal,
    the Resource's key part up to its first wildcard), or None when no bucket policy of `bucket` names CloudFront
    (then every path a behaviour serves counts). Through OAC, CloudFront reads only what the policy allows: an
    object outside these prefixes is never served (403 AccessDenied), whatever its storage class."""
    readable, found = [], False
    for policy in config.of("aws_s3_bucket_policy").values():
        if not refers_to(policy.get("bucket"), "aws_s3_bucket", bucket):
            continue
        try:
            document = json.loads(policy.get("policy")) if isinstance(policy.get("policy"), str) else None
        except ValueError:
            return None  # not readable here: count every served path
        for statement in (document or {}).get("Statement", []):
            principal = statement.get("Principal") or {}
            services = principal.get("Service", []) if isinstance(principal, dict) else []
            actions = statement.get("Action", [])
            if statement.get("Effect") != "Allow" or "cloudfront.amazonaws.com" not in (
                [services] if isinstance(services, str) else services
            ):
                continue
            if not {"s3:GetObject", "s3:*", "*"} & set([actions] if isinstance(actions, str) else actions):
                continue
            found = True
            resources = statement.get("Resource", [])
            for resource in [resources] if isinstance(resources, str) else resources:
                _, slash, key = str(resource).partition(".arn}/")
                readable.append(prefix_of(key) if slash else "")
    return readable if found else None


def readable_served(config: Config, bucket: str) -> list[tuple[str, str]]:
    """`served_prefixes` narrowed to what the bucket policy lets CloudFront read (the longer of two overlapping
    prefixes is their intersection)."""
    served, readable = served_prefixes(config, bucket), cloudfront_readable(config, bucket)
    if readable is None:
        return served
    return [
        (max(path, allowed, key=len), distribution)
        for path, distribution in served
        for allowed in readable
        if overlaps(path, allowed)
    ]


def overlaps(rule_prefix: str, served: str) -> bool:
    return rule_prefix.startswith(served) or served.startswith(rule_prefix)


def rule_prefix(rule: dict) -> str:
    for condition in blocks(rule.get("filter")):
        if "prefix" in condition:
            return str(condition.get("prefix") or "")
        for both in blocks(condition.get("and")):
            return str(both.get("prefix") or "")
    return str(rule.get("prefix") or "")


def bucket_of(config: Config, value) -> str | None:
    return next((name for name in config.of("aws_s3_bucket") if refers_to(value, "aws_s3_bucket", name)), None)


class ServedObjectsStayServeable(Policy):
    def __init__(self) -> None:
        super().__init__(
            name="No lifecycle transition or replication puts an object CloudFront serves (origin bucket, "
            "failover replica) into GLACIER or DEEP_ARCHIVE",
            id="CKV_VIDEO_3",
            supported_resources=["aws_s3_bucket_lifecycle_configuration", "aws_s3_bucket_replication_configuration"],
            categories=[CheckCategories.GENERAL_SECURITY],
        )

    def evaluate(self, config, rtype, name, body):
        problems = []
        if rtype == "aws_s3_bucket_lifecycle_configuration":
            bucket = bucket_of(config, body.get("bucket"))
            served = readable_served(config, bucket) if bucket else []
            for rule in blocks(body.get("rule")):
                if rule.get("status") != "Enabled":
                    continue
                prefix = rule_prefix(rule)
                for transition in blocks(rule.get("transition")):
                    if transition.get("storage_class") in ARCHIVE:
                        for path, distribution in served:
                            if overlaps(prefix, path):
                                problems.append(
                                    f"rule {rule.get('id')} moves '{prefix}*' of aws_s3_bucket.{bucket} to "
                                    f"{transition.get('storage_class')} after {transition.get('days')} days; "
                                    f"{distribution} serves '{path}*' from it"
                                )
                                break
        else:
            for rule in blocks(body.get("rule")):
                for destination in blocks(rule.get("destination")):
                    replica = bucket_of(config, destination.get("bucket"))
                    if replica and destination.get("storage_class") in ARCHIVE:
                        for path, distribution in readable_served(config, replica):
                            if overlaps(rule_prefix(rule), path):
                                problems.append(
                                    f"rule {rule.get('id')} replicates into aws_s3_bucket.{replica} as "
                                    f"{destination.get('storage_class')}; {distribution} serves "
                                    f"'{path}*' from it"
                                )
                                break
        return problems


check = ServedObjectsStayServeable()
