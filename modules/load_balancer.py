"""Load balancer: an internal ALB, HTTPS only, ACM certificate; reached only through API Gateway's VPC link
(modules/private_link.py). Its regional WAFv2 web ACL is the API stage's (where the client IP is seen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cdktf_cdktf_provider_aws.lb import Lb, LbAccessLogs
from cdktf_cdktf_provider_aws.lb_listener import LbListener, LbListenerDefaultAction
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck, LbTargetGroupStickiness
from constructs import Construct

from modules import checkov
from modules.bucket import SecureBucket
from modules.dns import DnsConfig, validated_certificate
from modules.limits import Doc, Pattern, Range
from modules.naming import Naming
from modules.policy import statement
from modules.validation import DNS_NAME, LOG_RETENTION
from modules.waf import waf_logging, web_acl

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only
# Regions older than August 2022 deliver ALB access logs from an AWS-owned account (AWS docs, "Enable access logs").
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "eu-central-1": "054676820928",
    "eu-north-1": "897822967062",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
    "ca-central-1": "985666609251",
    "sa-east-1": "507241528517",
}


CERTIFICATE_ARN = Pattern(r"(arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+)?", "empty or an ACM certificate ARN")
WAF_RATE_LIMIT = Range(100, 2_000_000_000, "requests / 5 min")


@dataclass(frozen=True, kw_only=True)
class LoadBalancerConfig:
    """Inputs. Every default is the prod-safe choice."""

    domain_name: Annotated[
        str,
        Pattern(DNS_NAME, "a DNS name such as 'api.example.com'"),
        Doc("name clients use; the certificate covers it"),
    ] = "api.video.example.com"
    certificate_arn: Annotated[
        str,
        CERTIFICATE_ARN,
        Doc("an issued ACM certificate in this region; empty: request one, validated in dns.hosted_zone_id"),
    ] = ""
    deletion_protection: Annotated[bool, Doc("the ALB refuses deletion")] = True
    stickiness_seconds: Annotated[
        int, Range(1, 604800, "s"), Doc("lb_cookie duration for stateful upload sessions")
    ] = 3600
    waf_rate_limit: Annotated[
        int, WAF_RATE_LIMIT, Doc("requests per 5 minutes per client IP (at the API stage, which sees it)")
    ] = 2000
    waf_log_retention_days: Annotated[int, LOG_RETENTION, Doc("WAF log retention")] = 365
    idle_timeout_seconds: Annotated[int, Range(1, 4000, "s"), Doc("connection idle timeout")] = 60


def alb_log_delivery_statements(region: str, bucket_name: str, account_id: str) -> list[dict]:
    """The log bucket grants for ALB access logs (to be given to the bucket's policy)."""
    principal = (
        {"AWS": f"arn:aws:iam::{ELB_LOG_ACCOUNTS[region]}:root"}
        if region in ELB_LOG_ACCOUNTS
        else {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    )
    return [
        statement(
            "AlbAccessLogs",
            ["s3:PutObject"],
            [f"arn:aws:s3:::{bucket_name}/alb/AWSLogs/{account_id}/*"],
            principal=principal,
        )
    ]


class LoadBalancer(Construct):
    """Exposes `alb`, `target_group`, `https_listener`, `web_acl` (regional, reusable by API Gateway) and
    `certificate_validation` (None with an issued certificate). The target group checks `health_check_path`,
    the API service's own (compute.health_check_path: one definition for container and target group)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: LoadBalancerConfig,
        subnet_ids: list[str],
        security_group_id: str,
        vpc_id: str,
        app_port: int,
        health_check_path: str,
        log_bucket: SecureBucket,
        kms_key_arn: str,
        dns: DnsConfig,
    ) -> None:
        super().__init__(scope, id_)
        self.alb = self._alb(naming, config, subnet_ids, security_group_id, log_bucket)
        self.target_group = LbTargetGroup(
            self,
            "api-targets",
            name=naming.name("api"),
            port=app_port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=vpc_id,
            deregistration_delay="30",
            health_check=LbTargetGroupHealthCheck(
                enabled=True,
                path=health_check_path,
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            stickiness=LbTargetGroupStickiness(
                type="lb_cookie", enabled=True, cookie_duration=config.stickiness_seconds
            ),
        )
        certificate_arn = self._certificate_arn(config, dns)
        self._listeners(certificate_arn)
        # The regional web ACL (managed rules, per-client-IP rate limit) is associated with the API stage only
        # (modules/api.py): every request that reaches this ALB came through the stage and was inspected there,
        # and here it would arrive from the network load balancer's addresses, so a per-IP limit would count
        # all clients as one.
        self.web_acl = web_acl(
            self, "waf", name=naming.name("regional"), scope_name="REGIONAL", rate_limit=config.waf_rate_limit
        )
        waf_logging(
            self,
            "waf",
            name=naming.name("regional"),
            web_acl_arn=self.web_acl.arn,
            kms_key_arn=kms_key_arn,
            retention_days=config.waf_log_retention_days,
            environment=naming.environment,
        )

    def _alb(
        self,
        naming: Naming,
        config: LoadBalancerConfig,
        subnet_ids: list[str],
        security_group_id: str,
        log_bucket: SecureBucket,
    ) -> Lb:
        # Internal: no public address. API Gateway reaches it through the VPC link's network load balancer; a
        # public ALB would let anyone skip the API's keys, SigV4, usage plans and throttling.
        alb = Lb(
            self,
            "alb",
            name=naming.name("alb"),
            load_balancer_type="application",
            internal=True,
            subnets=subnet_ids,
            security_groups=[security_group_id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=config.deletion_protection,
            idle_timeout=config.idle_timeout_seconds,
            desync_mitigation_mode="strictest",
            access_logs=LbAccessLogs(bucket=log_bucket.name, prefix="alb", enabled=True),
            # ELB checks on create that the bucket policy admits its log delivery.
            depends_on=[log_bucket.policy],
        )
        if not config.deletion_protection:
            checkov.skip(
                alb,
                "CKV_AWS_150",
                f"{naming.environment}: deletion protection off by config so the "
                "environment can be torn down; production keeps it on.",
            )
        return alb

    def _certificate_arn(self, config: LoadBalancerConfig, dns: DnsConfig) -> str:
        """The configured certificate, or one requested and validated in the zone."""
        self.certificate_validation = None
        if config.certificate_arn:
            certificate_arn = config.certificate_arn
        else:
            # The validation record goes into the zone; the listener waits until ACM has issued the certificate.
            _, self.certificate_validation = validated_certificate(
                self, "certificate", domain_name=config.domain_name, dns=dns
            )
            certificate_arn = self.certificate_validation.certificate_arn
        return certificate_arn

    def _listeners(self, certificate_arn: str) -> None:
        """HTTPS (TLS 1.3/1.2 policy) forwards to the API's targets.
        No alias record and no port 80: the name exists for the certificate API Gateway verifies (the
        integrations' URI host); nobody resolves it, the VPC link connects to the network load balancer."""
        self.https_listener = LbListener(
            self,
            "https",
            load_balancer_arn=self.alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=certificate_arn,
            default_action=[LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)],
        )
