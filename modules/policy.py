"""IAM policy documents: one way to write them (builders).

Pure Python, no resources (the counterpart of AWS CDK's PolicyStatement/PolicyDocument). Every policy
of every stack is built here, so its JSON has one shape: sorted keys (no plan noise), `Action` a sorted
list (one string in trust policies), one `Resource` written as a string, as AWS itself returns it.

The way to read them back ("may this request go through?") is the rehearsal's: tools/rehearsal/iam_evaluator.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

VERSION = "2012-10-17"
Statement = dict[str, Any]
ACCOUNT_ID = re.compile(r"\d{12}")


def policy(*statements: Statement) -> str:
    """An IAM policy document as deterministic JSON (stable key order: no plan noise)."""
    return json.dumps({"Version": VERSION, "Statement": list(statements)}, sort_keys=True)


def statement(
    sid: str,
    actions: Iterable[str] | str,
    resources: Iterable[str] | str | None,
    *,
    effect: str = "Allow",
    principal: dict[str, Any] | None = None,
    condition: dict[str, Any] | None = None,
) -> Statement:
    """One statement. `actions` are written sorted; one action given as a string stays a string (trust
    policies). `resources` is None only where the policy's resource is implied (a role's trust policy)."""
    body: Statement = {"Sid": sid, "Effect": effect, "Action": actions if isinstance(actions, str) else sorted(actions)}
    if principal is not None:
        body["Principal"] = principal
    if resources is not None:
        resources = [resources] if isinstance(resources, str) else list(resources)
        # One resource is written as a string, as AWS itself returns it (and as moto's log-delivery check needs).
        body["Resource"] = resources[0] if len(resources) == 1 else resources
    if condition:
        body["Condition"] = condition
    return body


def deny_insecure_transport(
    service_prefix: str, resources: Iterable[str] | str, *, actions: Iterable[str] = ("*",)
) -> Statement:
    """The TLS-only statement of every bucket, queue and topic policy. `actions` are relative to the
    service: `deny_insecure_transport("sns", [topic], actions=["Publish"])` denies `sns:Publish`."""
    return statement(
        "DenyInsecureTransport",
        [f"{service_prefix}:{action}" for action in actions],
        resources,
        effect="Deny",
        principal={"AWS": "*"},
        condition={"Bool": {"aws:SecureTransport": "false"}},
    )


class Grantee(Protocol):
    """A principal whose policy a resource's owner adds to: `storage.grant_read_videos(role)` (as AWS CDK's
    `bucket.grantRead(role)`). The stack only says who gets what; the owner writes the statements."""

    def add_to_policy(self, *statements: Statement) -> None: ...


@dataclass(frozen=True)
class ServiceGrant:
    """What AWS services (`services`) need on a resource another module owns, e.g. a KMS key: the owner's
    grant method writes `statement()` into that resource's policy (`Security.grant_to_service`)."""

    sid: str
    services: str | tuple[str, ...]
    actions: tuple[str, ...]
    condition: Mapping[str, Any]

    def statement(self, resources: Iterable[str] | str = "*") -> Statement:
        services = self.services if isinstance(self.services, str) else list(self.services)
        return statement(
            self.sid, self.actions, resources, principal={"Service": services}, condition=dict(self.condition)
        )


def service_trust(service: str, *, source_account: str | None = None) -> str:
    """Trust policy for an AWS service; `source_account` guards against the confused deputy."""
    condition = {"StringEquals": {"aws:SourceAccount": source_account}} if source_account else None
    return policy(
        statement("TrustService", "sts:AssumeRole", None, principal={"Service": service}, condition=condition)
    )


def account_trust(
    accounts_or_principals: Iterable[str], *, condition: dict[str, Any] | None = None, sid: str = "TrustAccounts"
) -> str:
    """Trust policy for IAM principals: a 12-digit account id stands for its root ARN (the whole account,
    whose own IAM policies must then allow the assume), anything else is a principal ARN. Order is kept."""
    principals = [f"arn:aws:iam::{p}:root" if ACCOUNT_ID.fullmatch(p) else p for p in accounts_or_principals]
    if not principals:
        raise ValueError("account_trust: no account or principal to trust")
    return policy(statement(sid, "sts:AssumeRole", None, principal={"AWS": principals}, condition=condition))


def web_identity_trust(provider_arn: str, *, audience: str, subjects: Iterable[str], sid: str = "WebIdentity") -> str:
    """Trust policy for an OIDC provider (`arn:aws:iam::<account>:oidc-provider/<host>`): tokens for
    `audience` whose subject is one of `subjects` (StringLike when one has a wildcard, else StringEquals)."""
    host = provider_arn.partition(":oidc-provider/")[2]
    subjects = list(subjects)
    if not host or not subjects:
        raise ValueError(
            f"web_identity_trust: need an oidc-provider ARN and subjects, got {provider_arn!r}, {subjects}"
        )
    condition: dict[str, Any] = {"StringEquals": {f"{host}:aud": audience}}
    subject_test = "StringLike" if any(wildcard in s for s in subjects for wildcard in "*?") else "StringEquals"
    condition.setdefault(subject_test, {})[f"{host}:sub"] = subjects[0] if len(subjects) == 1 else subjects
    return policy(
        statement(
            sid, "sts:AssumeRoleWithWebIdentity", None, principal={"Federated": provider_arn}, condition=condition
        )
    )
