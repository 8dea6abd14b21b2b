"""The offline price table of `make cost` (tools/cost/cost.py): AWS on-demand list prices in USD, per region used by
the environments (eu-west-1 primary, eu-central-1 DR, us-east-1 edge), and "global" for CloudFront.

Where each figure came from (SOURCES, per key): the AWS pricing page of the service is the authority and is
named for every figure; the figures were compiled on PRICES_DATE without network access from this machine.
The us-east-1 NAT gateway, ALB and Fargate figures were cross-checked against the third-party pages listed
under CHECKED (they quote those AWS list prices, 2026); every other figure is the AWS list price as known to the
compiler on that date and was NOT re-read from the AWS page here: check it there before relying on it, and
update PRICES_DATE when you do. Prices change; this table is for comparing changes, not for invoices.
"""

from __future__ import annotations

PRICES_DATE = "2026-12-04"
HOURS_PER_MONTH = 730

# key -> (AWS pricing page, unit)
SOURCES: dict[str, tuple[str, str]] = {
    "nat_gateway_hour": ("https://aws.amazon.com/vpc/pricing/", "per NAT gateway-hour"),
    "nat_gateway_gb": ("https://aws.amazon.com/vpc/pricing/", "per GB processed"),
    "public_ipv4_hour": ("https://aws.amazon.com/vpc/pricing/", "per public IPv4 address-hour (since 2024-02)"),
    "interface_endpoint_hour": ("https://aws.amazon.com/privatelink/pricing/", "per endpoint ENI (AZ)-hour"),
    "alb_hour": ("https://aws.amazon.com/elasticloadbalancing/pricing/", "per ALB-hour"),
    "alb_lcu_hour": ("https://aws.amazon.com/elasticloadbalancing/pricing/", "per LCU-hour"),
    "fargate_vcpu_hour": ("https://aws.amazon.com/fargate/pricing/", "per vCPU-hour, Linux/x86"),
    "fargate_gb_hour": ("https://aws.amazon.com/fargate/pricing/", "per GB-hour, Linux/x86"),
    "fargate_spot_factor": (
        "https://aws.amazon.com/fargate/pricing/",
        "Fargate Spot as a share of on-demand (Spot varies; AWS: 'up to 70% discount')",
    ),
    "rds_instance_hour": ("https://aws.amazon.com/rds/postgresql/pricing/", "per instance-hour, single-AZ, by class"),
    "rds_storage_gb_month": ("https://aws.amazon.com/rds/postgresql/pricing/", "gp2/gp3 per GB-month, single-AZ"),
    "rds_backup_gb_month": (
        "https://aws.amazon.com/rds/postgresql/pricing/",
        "backup storage beyond the provisioned size, per GB-month",
    ),
    "rds_proxy_vcpu_hour": (
        "https://aws.amazon.com/rds/proxy/pricing/",
        "per vCPU of the instance-hour, minimum 2 vCPU",
    ),
    "cloudfront_gb": (
        "https://aws.amazon.com/cloudfront/pricing/",
        "first 10 TB to the internet, North America/Europe, per GB",
    ),
    "cloudfront_million_https": ("https://aws.amazon.com/cloudfront/pricing/", "per million HTTPS requests"),
    "waf_acl_month": ("https://aws.amazon.com/waf/pricing/", "per web ACL-month"),
    "waf_rule_month": ("https://aws.amazon.com/waf/pricing/", "per rule-month"),
    "waf_million_requests": ("https://aws.amazon.com/waf/pricing/", "per million requests"),
    "kms_key_month": ("https://aws.amazon.com/kms/pricing/", "per customer managed key-month"),
    "secret_month": ("https://aws.amazon.com/secrets-manager/pricing/", "per secret-month"),
    "cloudwatch_alarm_month": (
        "https://aws.amazon.com/cloudwatch/pricing/",
        "per standard-resolution alarm metric-month",
    ),
    "cloudwatch_dashboard_month": (
        "https://aws.amazon.com/cloudwatch/pricing/",
        "per dashboard-month (first 3 per account free: not deducted)",
    ),
    "cloudwatch_logs_gb": ("https://aws.amazon.com/cloudwatch/pricing/", "standard log ingestion per GB"),
    "cloudwatch_logs_storage_gb_month": ("https://aws.amazon.com/cloudwatch/pricing/", "archived logs per GB-month"),
    "s3_standard_gb_month": ("https://aws.amazon.com/s3/pricing/", "S3 Standard, first 50 TB, per GB-month"),
    "s3_standard_ia_gb_month": ("https://aws.amazon.com/s3/pricing/", "S3 Standard-IA per GB-month"),
    "s3_glacier_ir_gb_month": ("https://aws.amazon.com/s3/pricing/", "S3 Glacier Instant Retrieval per GB-month"),
    "s3_deep_archive_gb_month": ("https://aws.amazon.com/s3/pricing/", "S3 Glacier Deep Archive per GB-month"),
    "apigw_million_requests": (
        "https://aws.amazon.com/api-gateway/pricing/",
        "REST API, first 333 million, per million",
    ),
    "apigw_cache_hour": ("https://aws.amazon.com/api-gateway/pricing/", "cache per hour, by size in GB"),
    "config_item": ("https://aws.amazon.com/config/pricing/", "per configuration item recorded"),
    "guardduty_million_events": (
        "https://aws.amazon.com/guardduty/pricing/",
        "CloudTrail management events analysed, per million",
    ),
    "cloudtrail_100k_data_events": (
        "https://aws.amazon.com/cloudtrail/pricing/",
        "data events per 100,000 (first copy of management events free)",
    ),
}
CHECKED = {
    "nat_gateway_hour": [
        "https://cloudburn.io/blog/aws-nat-gateway-pricing",
        "https://cloudpipelines.pages.dev/guides/aws-nat-gateway-pricing-2026/",
    ],
    "nat_gateway_gb": ["https://cloudburn.io/blog/aws-nat-gateway-pricing"],
    "alb_hour": ["https://cloud-horizons.com/blog/alb-the-line-item-nobody-watches/"],
    "alb_lcu_hour": ["https://cloud-horizons.com/blog/alb-the-line-item-nobody-watches/"],
    "fargate_vcpu_hour": [
        "https://www.vantage.sh/blog/fargate-pricing",
        "https://www.wring.co/blog/aws-fargate-pricing-guide",
    ],
    "fargate_gb_hour": ["https://www.vantage.sh/blog/fargate-pricing"],
}

_COMMON = {
    "public_ipv4_hour": 0.005,
    "alb_lcu_hour": 0.008,
    "fargate_spot_factor": 0.30,
    "rds_backup_gb_month": 0.095,
    "rds_proxy_vcpu_hour": 0.015,
    "waf_acl_month": 5.00,
    "waf_rule_month": 1.00,
    "waf_million_requests": 0.60,
    "kms_key_month": 1.00,
    "secret_month": 0.40,
    "cloudwatch_alarm_month": 0.10,
    "cloudwatch_dashboard_month": 3.00,
    "cloudwatch_logs_storage_gb_month": 0.03,
    "apigw_million_requests": 3.50,
    "config_item": 0.003,
    "guardduty_million_events": 4.00,
    "cloudtrail_100k_data_events": 0.10,
}
# API Gateway cache sizes (GB, as cache_cluster_size) -> USD per hour.
APIGW_CACHE_HOUR = {
    "0.5": 0.020,
    "1.6": 0.038,
    "6.1": 0.200,
    "13.5": 0.250,
    "28.4": 0.500,
    "58.2": 1.000,
    "118": 1.900,
    "237": 3.800,
}
# RDS for PostgreSQL, single-AZ on-demand instance-hour (Multi-AZ: twice), and the instance's vCPUs (RDS Proxy).
RDS_CLASSES = {
    "eu-west-1": {
        "db.t3.micro": 0.018,
        "db.t3.small": 0.036,
        "db.t3.medium": 0.072,
        "db.t4g.micro": 0.017,
        "db.t4g.small": 0.034,
        "db.t4g.medium": 0.068,
        "db.m6g.large": 0.168,
        "db.r6g.large": 0.250,
        "db.r6g.xlarge": 0.500,
    },
    "eu-central-1": {
        "db.t3.micro": 0.019,
        "db.t3.small": 0.038,
        "db.t3.medium": 0.076,
        "db.t4g.micro": 0.018,
        "db.t4g.small": 0.036,
        "db.t4g.medium": 0.072,
        "db.m6g.large": 0.178,
        "db.r6g.large": 0.267,
        "db.r6g.xlarge": 0.534,
    },
    "us-east-1": {
        "db.t3.micro": 0.018,
        "db.t3.small": 0.036,
        "db.t3.medium": 0.072,
        "db.t4g.micro": 0.016,
        "db.t4g.small": 0.032,
        "db.t4g.medium": 0.065,
        "db.m6g.large": 0.159,
        "db.r6g.large": 0.225,
        "db.r6g.xlarge": 0.450,
    },
}
RDS_VCPUS = {
    "db.t3.micro": 2,
    "db.t3.small": 2,
    "db.t3.medium": 2,
    "db.t4g.micro": 2,
    "db.t4g.small": 2,
    "db.t4g.medium": 2,
    "db.m6g.large": 2,
    "db.r6g.large": 2,
    "db.r6g.xlarge": 4,
}

PRICES: dict[str, dict[str, float]] = {
    "eu-west-1": {
        **_COMMON,
        "nat_gateway_hour": 0.048,
        "nat_gateway_gb": 0.048,
        "interface_endpoint_hour": 0.011,
        "alb_hour": 0.0252,
        "fargate_vcpu_hour": 0.04048,
        "fargate_gb_hour": 0.004445,
        "rds_storage_gb_month": 0.127,
        "cloudwatch_logs_gb": 0.57,
        "s3_standard_gb_month": 0.023,
        "s3_standard_ia_gb_month": 0.0125,
        "s3_glacier_ir_gb_month": 0.004,
        "s3_deep_archive_gb_month": 0.00099,
    },
    "eu-central-1": {
        **_COMMON,
        "nat_gateway_hour": 0.052,
        "nat_gateway_gb": 0.052,
        "interface_endpoint_hour": 0.012,
        "alb_hour": 0.027,
        "alb_lcu_hour": 0.0096,
        "fargate_vcpu_hour": 0.04656,
        "fargate_gb_hour": 0.00511,
        "rds_storage_gb_month": 0.137,
        "cloudwatch_logs_gb": 0.63,
        "s3_standard_gb_month": 0.0245,
        "s3_standard_ia_gb_month": 0.0135,
        "s3_glacier_ir_gb_month": 0.005,
        "s3_deep_archive_gb_month": 0.0018,
    },
    "us-east-1": {
        **_COMMON,
        "nat_gateway_hour": 0.045,
        "nat_gateway_gb": 0.045,
        "interface_endpoint_hour": 0.01,
        "alb_hour": 0.0225,
        "fargate_vcpu_hour": 0.04048,
        "fargate_gb_hour": 0.004445,
        "rds_storage_gb_month": 0.115,
        "cloudwatch_logs_gb": 0.50,
        "s3_standard_gb_month": 0.023,
        "s3_standard_ia_gb_month": 0.0125,
        "s3_glacier_ir_gb_month": 0.004,
        "s3_deep_archive_gb_month": 0.00099,
    },
    "global": {"cloudfront_gb": 0.085, "cloudfront_million_https": 1.00},
}


def price(region: str, key: str) -> float:
    """One figure; a region not in the table is an error naming it (no silent zero)."""
    if region not in PRICES:
        raise KeyError(f"tools/cost/prices.py: no prices for region {region!r}; regions: {', '.join(sorted(PRICES))}")
    return PRICES[region][key]
