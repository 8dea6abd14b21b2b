"""CDN: one CloudFront distribution: videos from S3 (OAC, signed URLs, failover to the DR replica).

The API is not behind it: the load balancer is internal and reachable only through API Gateway (its keys,
SigV4, usage plans, throttling; docs/request-paths.md), which browsers call directly (CORS, modules/api_cors.py).
An `/api/*` behaviour to the ALB would be a path around all of that."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudfront_cache_policy import CloudfrontCachePolicy
from cdktf_cdktf_provider_aws.cloudfront_cache_policy import (
    CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOrigin as CacheKey,
)
from cdktf_cdktf_provider_aws.cloudfront_cache_policy import (
    CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfig as Cookies,
)
from cdktf_cdktf_provider_aws.cloudfront_cache_policy import (
    CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfig as Headers,
)
from cdktf_cdktf_provider_aws.cloudfront_cache_policy import (
    CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfig as QueryStrings,
)
from cdktf_cdktf_provider_aws.cloudfront_distribution import (
    CloudfrontDistribution,
    CloudfrontDistributionDefaultCacheBehavior,
    CloudfrontDistributionLoggingConfig,
    CloudfrontDistributionOrigin,
    CloudfrontDistributionOriginGroup,
    CloudfrontDistributionOriginGroupFailoverCriteria,
    CloudfrontDistributionOriginGroupMember,
    CloudfrontDistributionRestrictions,
    CloudfrontDistributionRestrictionsGeoRestriction,
    CloudfrontDistributionViewerCertificate,
)
from cdktf_cdktf_provider_aws.cloudfront_key_group import CloudfrontKeyGroup
from cdktf_cdktf_provider_aws.cloudfront_public_key import CloudfrontPublicKey
from cdktf_cdktf_provider_aws.cloudfront_response_headers_policy import CloudfrontResponseHeadersPolicy
from cdktf_cdktf_provider_aws.cloudfront_response_headers_policy import (
    CloudfrontResponseHeadersPolicySecurityHeadersConfig as Security,
)
from cdktf_cdktf_provider_aws.cloudfront_response_headers_policy import (
    CloudfrontResponseHeadersPolicySecurityHeadersConfigContentTypeOptions as ContentTypeOptions,
)
from cdktf_cdktf_provider_aws.cloudfront_response_headers_policy import (
    CloudfrontResponseHeadersPolicySecurityHeadersConfigFrameOptions as FrameOptions,
)
from cdktf_cdktf_provider_aws.cloudfront_response_headers_policy import (
    CloudfrontResponseHeadersPolicySecurityHeadersConfigReferrerPolicy as ReferrerPolicy,
)
from cdktf_cdktf_provider_aws.cloudfront_response_headers_policy import (
    CloudfrontResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurity as Hsts,
)
from cdktf_cdktf_provider_aws.cloudfront_response_headers_policy import (
    CloudfrontResponseHeadersPolicySecurityHeadersConfigXssProtection as XssProtection,
)
from cdktf_cdktf_provider_aws.wafv2_web_acl import Wafv2WebAcl
from constructs import Construct

from modules import checkov
from modules.bucket import BucketOptions, SecureBucket
from modules.dns import DnsConfig, alias_records, validated_certificate
from modules.limits import Check, Doc, OneOf, Pattern, Range
from modules.naming import Naming
from modules.policy import ServiceGrant
from modules.validation import DNS_NAME, LOG_RETENTION
from modules.waf import waf_logging, web_acl

PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
S3_ORIGIN, S3_REPLICA_ORIGIN, VIDEO_ORIGIN_GROUP = "videos", "videos-dr", "videos-with-failover"


def _domain_problem(name: str) -> str | None:
    if not name:
        return (
            "required: with the default *.cloudfront.net certificate CloudFront allows only TLSv1 (it ignores "
            "minimum_protocol_version), and the spec asks TLS 1.2+"
        )
    return None if re.fullmatch(DNS_NAME, name) else f"must be {DOMAIN_NAME.description}"


DOMAIN_NAME = Check(_domain_problem, "a DNS name such as 'cdn.example.com'")
CERTIFICATE_ARN = Pattern(
    r"(arn:aws:acm:us-east-1:\d{12}:certificate/[\w-]+)?", "empty or an ACM certificate in us-east-1"
)
PUBLIC_KEY = Pattern(
    r"\s*-----BEGIN PUBLIC KEY-----[\s\S]*",
    "a PEM public key ('-----BEGIN PUBLIC KEY-----...'); generate "
    "with `openssl genrsa -out private.pem 2048 && openssl rsa -pubout -in private.pem`",
)
COUNTRY = Pattern(r"[A-Z]{2}", "an ISO 3166-1 alpha-2 code such as 'KP'")


@dataclass(frozen=True, kw_only=True)
class CdnConfig:
    """Inputs. Every default is the prod-safe choice."""

    signing_public_key_pem: Annotated[
        str, PUBLIC_KEY, Doc("public key for signed URLs; the private key stays with the API")
    ]
    domain_name: Annotated[
        str, DOMAIN_NAME, Doc("viewer-facing name, required: only a certificate of its own gives TLS 1.2+ at the edge")
    ] = "cdn.video.example.com"
    certificate_arn: Annotated[
        str,
        CERTIFICATE_ARN,
        Doc("an issued ACM certificate in us-east-1; empty: request one, validated in dns.hosted_zone_id"),
    ] = ""
    price_class: Annotated[str, OneOf(PRICE_CLASSES), Doc("edge locations used")] = "PriceClass_All"
    waf_enabled: Annotated[bool, Doc("CLOUDFRONT-scope web ACL (us-east-1)")] = True
    waf_rate_limit: Annotated[int, Doc("requests per 5 minutes per client IP")] = 2000
    video_default_ttl_seconds: Annotated[
        int, Range(0, above=True), Doc("edge cache TTL when the origin sends none; at most video_max_ttl_seconds")
    ] = 86400
    video_max_ttl_seconds: Annotated[int, Doc("upper bound on any TTL")] = 31536000
    blocked_countries: Annotated[
        tuple[Annotated[str, COUNTRY], ...], Doc("ISO 3166-1 alpha-2 codes denied at the edge")
    ] = ()
    log_retention_days: Annotated[int, LOG_RETENTION, Doc("edge WAF log retention")] = 365

    def __post_init__(self) -> None:
        if self.video_default_ttl_seconds > self.video_max_ttl_seconds:
            raise ValueError(
                f"video_default_ttl_seconds = {self.video_default_ttl_seconds}: must be at most "
                f"video_max_ttl_seconds ({self.video_max_ttl_seconds})"
            )


class Cdn(Construct):
    """Exposes `distribution`, `key_group`, `web_acl` (or None), `certificate_validation` (None with an issued
    certificate), and `video_key_grant` (what CloudFront needs on the keys of the video buckets)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: CdnConfig,
        video_bucket_domain: str,
        origin_access_control_id: str,
        kms_key_arn_us_east_1: str,
        protect: bool,
        access_log_bucket: SecureBucket,
        dns: DnsConfig,
        replica_bucket_domain: str | None = None,
        us_east_1_provider=None,
        force_destroy: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        self._naming, self._config, self._edge_provider = naming, config, us_east_1_provider
        self.key_group = self._key_group()
        logs = self._log_bucket(access_log_bucket, force_destroy=force_destroy, protect=protect)
        self.web_acl = self._edge_waf(kms_key_arn_us_east_1) if config.waf_enabled else None
        certificate_arn = self._certificate_arn(dns)
        origins = _origins(video_bucket_domain, replica_bucket_domain, origin_access_control_id)
        self.distribution = self._distribution(origins, certificate_arn, logs, protect)
        if dns.hosted_zone_id:
            alias_records(
                self,
                "alias",
                name=config.domain_name,
                dns=dns,
                target_name=self.distribution.domain_name,
                target_zone_id=self.distribution.hosted_zone_id,
                ipv6=True,
                evaluate_target_health=False,
            )
        self._reasons(naming, config, replica_bucket_domain)

    def _edge_waf(self, kms_key_arn_us_east_1: str) -> Wafv2WebAcl:
        """The CLOUDFRONT-scope web ACL (in us-east-1, as CloudFront requires) and its logging."""
        naming, config, provider = self._naming, self._config, self._edge_provider
        acl = web_acl(
            self,
            "waf",
            name=naming.name("edge"),
            scope_name="CLOUDFRONT",
            rate_limit=config.waf_rate_limit,
            provider=provider,
        )
        waf_logging(
            self,
            "waf",
            name=naming.name("edge"),
            web_acl_arn=acl.arn,
            kms_key_arn=kms_key_arn_us_east_1,
            retention_days=config.log_retention_days,
            environment=naming.environment,
            provider=provider,
        )
        return acl

    def _certificate_arn(self, dns: DnsConfig) -> str:
        """The configured certificate, or one requested and validated in the zone (`certificate_validation`)."""
        certificate_arn, self.certificate_validation = self._config.certificate_arn, None
        if not certificate_arn:
            # CloudFront takes certificates from us-east-1; the validation record goes into the zone, and the
            # distribution (nothing stateful) waits until ACM has issued the certificate.
            _, self.certificate_validation = validated_certificate(
                self, "certificate", domain_name=self._config.domain_name, dns=dns, provider=self._edge_provider
            )
            certificate_arn = self.certificate_validation.certificate_arn
        return certificate_arn

    def _distribution(
        self, origins: tuple, certificate_arn: str, logs: SecureBucket, protect: bool
    ) -> CloudfrontDistribution:
        naming, config = self._naming, self._config
        origins, origin_groups, video_target = origins
        return CloudfrontDistribution(
            self,
            "distribution",
            enabled=True,
            is_ipv6_enabled=True,
            comment=f"{naming.prefix} videos and API",
            price_class=config.price_class,
            http_version="http2and3",
            default_root_object="index.html",
            aliases=[config.domain_name],
            web_acl_id=self.web_acl.arn if self.web_acl else None,
            origin=origins,
            origin_group=origin_groups,
            **self._behaviours(video_target),
            restrictions=CloudfrontDistributionRestrictions(
                geo_restriction=CloudfrontDistributionRestrictionsGeoRestriction(
                    restriction_type="blacklist" if config.blocked_countries else "none",
                    locations=sorted(config.blocked_countries) or None,
                )
            ),
            viewer_certificate=CloudfrontDistributionViewerCertificate(
                acm_certificate_arn=certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            ),
            logging_config=CloudfrontDistributionLoggingConfig(
                bucket=logs.bucket.bucket_domain_name, prefix="cloudfront/", include_cookies=False
            ),
            # Standard logging writes through an ACL grant: the bucket must have left BucketOwnerEnforced.
            depends_on=[logs.policy, logs.ownership],
            lifecycle=TerraformResourceLifecycle(prevent_destroy=protect),
        )

    @property
    def video_key_grant(self) -> ServiceGrant:
        """CloudFront decrypts the SSE-KMS videos it reads through OAC. The key policy must not name this
        distribution: a key that names the distribution's ARN is created after the distribution, which waits for its
        certificate, and everything encrypted with the key (database, queues, secrets, logs) would queue behind
        both. Any distribution of this account may ask the key to decrypt, and only for objects a bucket policy
        lets it read (`Storage.grant_read_to_distribution`)."""
        return ServiceGrant(
            "CloudFrontDecryptsVideos",
            "cloudfront.amazonaws.com",
            ("kms:Decrypt",),
            {
                "ArnLike": {"AWS:SourceArn": self._naming.distributions_arn},
                "StringEquals": {"AWS:SourceAccount": self._naming.account_id},
            },
        )

    def _key_group(self) -> CloudfrontKeyGroup:
        # A new key must exist before the old one leaves the key group (CloudFront refuses to delete a key in
        # use), so it is created first, under a generated name: public key names are unique in the account.
        public_key = CloudfrontPublicKey(
            self,
            "signing-key",
            name_prefix=self._naming.name("signing") + "-",
            encoded_key=self._config.signing_public_key_pem.strip() + "\n",
            comment="Signed URLs for private videos",
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        return CloudfrontKeyGroup(self, "key-group", name=self._naming.name("signers"), items=[public_key.id])

    def _behaviours(self, video_target: str) -> dict:
        """Videos: signed URLs, long cache."""
        naming, config = self._naming, self._config
        video_cache = CloudfrontCachePolicy(
            self,
            "video-cache",
            name=naming.name("video"),
            comment="Large media: long TTLs, no cookies/headers",
            default_ttl=config.video_default_ttl_seconds,
            max_ttl=config.video_max_ttl_seconds,
            min_ttl=0,
            parameters_in_cache_key_and_forwarded_to_origin=CacheKey(
                enable_accept_encoding_gzip=True,
                enable_accept_encoding_brotli=True,
                cookies_config=Cookies(cookie_behavior="none"),
                headers_config=Headers(header_behavior="none"),
                query_strings_config=QueryStrings(query_string_behavior="none"),
            ),
        )
        headers = CloudfrontResponseHeadersPolicy(
            self,
            "security-headers",
            name=naming.name("security-headers"),
            security_headers_config=Security(
                strict_transport_security=Hsts(
                    access_control_max_age_sec=63072000, include_subdomains=True, preload=True, override=True
                ),
                content_type_options=ContentTypeOptions(override=True),
                frame_options=FrameOptions(frame_option="DENY", override=True),
                referrer_policy=ReferrerPolicy(referrer_policy="strict-origin-when-cross-origin", override=True),
                xss_protection=XssProtection(protection=True, mode_block=True, override=True),
            ),
        )
        return dict(
            default_cache_behavior=CloudfrontDistributionDefaultCacheBehavior(
                target_origin_id=video_target,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD", "OPTIONS"],
                cached_methods=["GET", "HEAD"],
                compress=True,
                cache_policy_id=video_cache.id,
                response_headers_policy_id=headers.id,
                trusted_key_groups=[self.key_group.id],
            )
        )

    def _log_bucket(self, access_log_bucket: SecureBucket, *, force_destroy: bool, protect: bool) -> SecureBucket:
        logs = SecureBucket(
            self,
            "logs",
            name=self._naming.bucket("cdn-logs"),
            options=BucketOptions(
                kms_key_arn=None,
                log_bucket=access_log_bucket,
                notifications=False,
                force_destroy=force_destroy,
                protect=protect,
                # CloudFront standard logging writes through the awslogsdelivery ACL grant.
                object_ownership="BucketOwnerPreferred",
                skips={
                    "CKV_AWS_145": "CloudFront standard logs cannot be delivered to an SSE-KMS bucket (AWS limit).",
                    "CKV_AWS_144": "Edge access logs are audit data for this environment; not replicated.",
                    "CKV2_AWS_62": "Log objects are read by tools in batches; per-object event notifications would "
                    "only add cost.",
                },
            ),
        )
        checkov.skip(
            logs.ownership,
            "CKV2_AWS_65",
            "CloudFront standard logging can only write through an ACL "
            "grant to awslogsdelivery; AWS requires ACLs enabled here.",
        )
        return logs

    def _reasons(self, naming: Naming, config: CdnConfig, replica: str | None) -> None:
        env = naming.environment
        if not config.blocked_countries:
            checkov.skip(
                self.distribution,
                "CKV_AWS_374",
                f"{env}: no country is blocked by config; the service "
                "has a global audience (blocked_countries to restrict).",
            )
        if not replica:
            checkov.skip(
                self.distribution,
                "CKV_AWS_310",
                f"{env}: no DR replica bucket (replication off by config) "
                "to fail over to; production config requires one.",
            )
        if not config.waf_enabled:
            for check in ("CKV_AWS_68", "CKV2_AWS_47"):
                checkov.skip(
                    self.distribution,
                    check,
                    f"{env}: edge WAF off by config (cost, ~$5+/month per ACL); "
                    "the ALB and API keep their regional WAF.",
                )


def _origins(
    video_bucket_domain: str, replica_bucket_domain: str | None, origin_access_control_id: str
) -> tuple[list, list | None, str]:
    """The video bucket (through OAC); with a DR replica, a group that fails over to it. Returns the origins,
    the origin groups and the origin id videos are read from."""
    origins = [
        CloudfrontDistributionOrigin(
            origin_id=S3_ORIGIN, domain_name=video_bucket_domain, origin_access_control_id=origin_access_control_id
        )
    ]
    if not replica_bucket_domain:
        return origins, None, S3_ORIGIN
    origins.append(
        CloudfrontDistributionOrigin(
            origin_id=S3_REPLICA_ORIGIN,
            domain_name=replica_bucket_domain,
            origin_access_control_id=origin_access_control_id,
        )
    )
    # Reads fail over to the DR replica when the primary region answers with errors.
    groups = [
        CloudfrontDistributionOriginGroup(
            origin_id=VIDEO_ORIGIN_GROUP,
            failover_criteria=CloudfrontDistributionOriginGroupFailoverCriteria(status_codes=[500, 502, 503, 504]),
            member=[
                CloudfrontDistributionOriginGroupMember(origin_id=S3_ORIGIN),
                CloudfrontDistributionOriginGroupMember(origin_id=S3_REPLICA_ORIGIN),
            ],
        )
    ]
    return origins, groups, VIDEO_ORIGIN_GROUP
