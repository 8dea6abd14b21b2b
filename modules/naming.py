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

    def bucket(self, purpose: str, region: str | None = None) -> str:
        """Bucket names are global: the account and region make them unique and predictable."""
        bucket = f"{self.prefix}-{purpose}-{self.account_id}-{region or self.region}"
        if len(bucket) > 63:
            raise ValueError(f"bucket name {bucket!r} is {len(bucket)} chars; S3 allows 63: shorten {purpose!r}")
        return bucket

    def arn(self, service: str, resource: str, region: str | None = None, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region is None else region}:" \
               f"{self.account_id if account else ''}:{resource}"

    @property
    def root_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"

    def role_arn(self, purpose: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.name(purpose)}"

    @property
    def deploy_role_arn(self) -> str:
        """CI's role for plan + apply of this environment (created by the account bootstrap)."""
        return self.role_arn("deploy")

    @property
    def plan_role_arn(self) -> str:
        """Read-only role for pull-request plans against real state (created by the account bootstrap)."""
        return self.role_arn("plan")

    @property
    def boundary_arn(self) -> str:
        """Permissions boundary every role the deploy role creates must carry."""
        return f"arn:aws:iam::{self.account_id}:policy/{self.name('boundary')}"

