"""Names and ARNs shared by every module (pure Python, no resources); policy documents: modules/policy.py."""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "video-ingest"


@dataclass(frozen=True)
class Naming:
    """Derives every physical name of one environment; names are a contract (renaming replaces)."""

    environment: str
    account_id: str
    region: str
    project: str = PROJECT

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    def name(self, *parts: str) -> str:
        """`video-ingest-dev-alb`: regional names that only need to be unique in the account."""
        return "-".join((self.prefix, *parts))

    @property
    def state_key(self) -> str:
        """This environment's Terraform state object in the state bucket."""
        return f"{self.environment}/terraform.tfstate"

    @property
    def database_identifier(self) -> str:
        """The primary DB instance (the snapshot target of `make snapshot`)."""
        return self.name("db")

    def replica_identifier(self, number: int) -> str:
        """Read replica `number` (from 1) of the primary."""
        return f"{self.database_identifier}-replica-{number}"

    def log_group(self, service: str, purpose: str) -> str:
        """`/ecs/video-ingest-dev/api`: log groups sorted by the service that writes them."""
        return f"/{service}/{self.prefix}/{purpose}"

    def secret(self, purpose: str) -> str:
        return f"{self.prefix}/{purpose}"

    def key_alias(self, *parts: str) -> str:
        return f"alias/{self.name(*parts)}"

    @property
    def service_namespace(self) -> str:
        """Private DNS namespace of the services (Cloud Map)."""
        return f"{self.environment}.{self.project}.internal"

    def bucket(self, purpose: str, region: str | None = None) -> str:
        """Bucket names are global: the account and region make them unique and predictable."""
        bucket = f"{self.prefix}-{purpose}-{self.account_id}-{region or self.region}"
        if len(bucket) > 63:
            raise ValueError(f"bucket name {bucket!r} is {len(bucket)} chars; S3 allows 63: shorten {purpose!r}")
        return bucket

    def arn(self, service: str, resource: str, region: str | None = None, account: bool = True) -> str:
        return (
            f"arn:aws:{service}:{self.region if region is None else region}:"
            f"{self.account_id if account else ''}:{resource}"
        )

    @property
    def root_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"

    def role_arn(self, purpose: str) -> str:
        """One role of the environment; `role_arn("*")`: all of them."""
        return f"arn:aws:iam::{self.account_id}:role/{self.name(purpose)}"

    @property
    def distributions_arn(self) -> str:
        """Every CloudFront distribution of the account (a global service: no region)."""
        return self.arn("cloudfront", "distribution/*", region="")

    @property
    def repositories_arn(self) -> str:
        """Every ECR repository of the environment."""
        return self.arn("ecr", f"repository/{self.name('*')}")

    @property
    def deploy_role_arn(self) -> str:
        """CI's role for plan + apply of this environment (created by the account bootstrap)."""
        return self.role_arn("deploy")

    @property
    def plan_role_arn(self) -> str:
        """Read-only role for pull-request plans against real state (created by the account bootstrap)."""
        return self.role_arn("plan")

    @property
    def refresh_role_arn(self) -> str:
        """Read-only role of the promotion's refreshing plan (created by the account bootstrap)."""
        return self.role_arn("refresh")

    @property
    def boundary_arn(self) -> str:
        """Permissions boundary every role the deploy role creates must carry."""
        return f"arn:aws:iam::{self.account_id}:policy/{self.name('boundary')}"
