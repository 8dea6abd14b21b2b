"""Names, ARNs and policy documents shared by every module (pure Python, no resources)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

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


def policy(*statements: dict[str, Any]) -> str:
    """An IAM policy document as deterministic JSON (stable key order: no plan noise)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def statement(sid: str, actions: Iterable[str], resources: Iterable[str] | str, *, effect: str = "Allow",
              principal: dict[str, Any] | None = None, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"Sid": sid, "Effect": effect, "Action": sorted(actions)}
    if principal is not None:
        body["Principal"] = principal
    resources = [resources] if isinstance(resources, str) else list(resources)
    # One resource is written as a string, as AWS itself returns it (and as moto's log-delivery check needs).
    body["Resource"] = resources[0] if len(resources) == 1 else resources
    if condition:
        body["Condition"] = condition
    return body


def deny_insecure_transport(resources: Iterable[str]) -> dict[str, Any]:
    """The TLS-only statement every bucket policy carries."""
    return statement("DenyInsecureTransport", ["s3:*"], resources, effect="Deny", principal={"AWS": "*"},
                     condition={"Bool": {"aws:SecureTransport": "false"}})


def assume_role_policy(service: str, *, source_account: str | None = None) -> str:
    """Trust policy for an AWS service; `source_account` guards against the confused deputy."""
    condition = {"StringEquals": {"aws:SourceAccount": source_account}} if source_account else None
    return policy(_trust(service, condition))


def _trust(service: str, condition: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"Sid": "TrustService", "Effect": "Allow", "Action": "sts:AssumeRole",
                            "Principal": {"Service": service}}
    if condition:
        body["Condition"] = condition
    return body
