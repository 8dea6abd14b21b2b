"""WAFv2 web ACLs with logging: a building block like `bucket`, used by the load balancer (REGIONAL,
also associated with the API stage) and the CDN (CLOUDFRONT scope, in us-east-1)."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.wafv2_web_acl import (
    Wafv2WebAcl,
    Wafv2WebAclDefaultAction,
    Wafv2WebAclDefaultActionAllow,
    Wafv2WebAclRule,
    Wafv2WebAclRuleAction,
    Wafv2WebAclRuleActionBlock,
    Wafv2WebAclRuleOverrideAction,
    Wafv2WebAclRuleOverrideActionNone,
    Wafv2WebAclRuleVisibilityConfig,
    Wafv2WebAclVisibilityConfig,
)
from cdktf_cdktf_provider_aws.wafv2_web_acl_logging_configuration import Wafv2WebAclLoggingConfiguration
from constructs import Construct

from modules import checkov

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
)
# Rules of those groups that only count: server-side API clients legitimately run in cloud hosting ranges.
COUNT_ONLY_RULES = {"AWSManagedRulesAnonymousIpList": ("HostingProviderIPList",)}


def web_acl(scope: Construct, id_: str, *, name: str, scope_name: str, rate_limit: int, provider=None) -> Wafv2WebAcl:
    """AWS managed rule groups (common, known bad inputs incl. Log4j, IP reputation, anonymous IPs) and a
    per-IP rate limit."""
    visibility = lambda metric: Wafv2WebAclRuleVisibilityConfig(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )
    rules = [
        Wafv2WebAclRule(
            name=group,
            priority=i,
            override_action=Wafv2WebAclRuleOverrideAction(none=Wafv2WebAclRuleOverrideActionNone()),
            # The bindings type `statement` as Any (it nests too deep): Terraform's own keys, passed through.
            statement={
                "managed_rule_group_statement": {
                    "name": group,
                    "vendor_name": "AWS",
                    **(
                        {
                            "rule_action_override": [
                                {"name": rule, "action_to_use": {"count": {}}} for rule in COUNT_ONLY_RULES[group]
                            ]
                        }
                        if group in COUNT_ONLY_RULES
                        else {}
                    ),
                }
            },
            visibility_config=visibility(group),
        )
        for i, group in enumerate(MANAGED_RULE_GROUPS)
    ]
    rules.append(
        Wafv2WebAclRule(
            name="rate-limit-per-ip",
            priority=len(rules),
            action=Wafv2WebAclRuleAction(block=Wafv2WebAclRuleActionBlock()),
            statement={"rate_based_statement": {"limit": rate_limit, "aggregate_key_type": "IP"}},
            visibility_config=visibility("rate-limit-per-ip"),
        )
    )
    return Wafv2WebAcl(
        scope,
        id_,
        name=name,
        scope=scope_name,
        provider=provider,
        default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()),
        rule=rules,
        visibility_config=Wafv2WebAclVisibilityConfig(
            cloudwatch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
        ),
    )


def waf_logging(
    scope: Construct,
    id_: str,
    *,
    name: str,
    web_acl_arn: str,
    kms_key_arn: str,
    retention_days: int,
    environment: str,
    provider=None,
) -> CloudwatchLogGroup:
    """WAF logs go to a log group whose name AWS requires to start with `aws-waf-logs-`."""
    group = CloudwatchLogGroup(
        scope,
        f"{id_}-logs",
        name=f"aws-waf-logs-{name}",
        kms_key_id=kms_key_arn,
        retention_in_days=retention_days,
        provider=provider,
    )
    checkov.short_log_retention(group, retention_days, environment)
    Wafv2WebAclLoggingConfiguration(
        scope, f"{id_}-logging", resource_arn=web_acl_arn, provider=provider, log_destination_configs=[group.arn]
    )
    return group
