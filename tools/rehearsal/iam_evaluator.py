"""AWS's decision for a request, read from the project's policy documents (modules/policy.py writes them).

`evaluate` answers "may this request go through?" for such documents (parsed JSON), by AWS's logic for a
request within one account: an explicit Deny in any document wins; otherwise the request is allowed when
the identity policies or the resource policy allow it, and the permissions boundary (if any) allows it too.
Left out: SCPs/RCPs, session policies, cross-account rules, NotPrincipal, policy variables (Terraform's
`${...}` references stay literal), date/IP/binary operators; what it cannot evaluate raises ValueError.
Used by the rehearsal's permission check, the emulator's assume-role checks and the tests; never by a stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Request:
    """One API call. `context` holds condition keys (any case); `aws:RequestedRegion` comes from `region`,
    `aws:PrincipalAccount`/`aws:ResourceAccount` from `account`. A list value is a multivalued key.
    `principal` (an ARN, a service like `s3.amazonaws.com`, an OIDC provider ARN) is matched against the
    resource policy's `Principal`."""

    action: str
    resource: str
    region: str
    account: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    principal: str | None = None

    def context_keys(self) -> dict[str, Any]:
        """The request context by lower-cased key: condition keys are case-insensitive."""
        filled: dict[str, Any] = {"aws:RequestedRegion": self.region}
        if self.account:
            filled |= {"aws:PrincipalAccount": self.account, "aws:ResourceAccount": self.account}
        return {key.lower(): value for key, value in (filled | dict(self.context)).items()}


@dataclass(frozen=True)
class Decision:
    """`allowed`, why (`reason`), and the sids of the statements that decided it."""

    allowed: bool
    reason: str
    sids: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.allowed


Documents = Mapping[str, Any] | str | Iterable[Mapping[str, Any] | str] | None


def evaluate(
    request: Request, *, identity: Documents, boundary: Documents = None, resource_policy: Documents = None
) -> Decision:
    """AWS's decision for `request` (single account). Each argument is one policy document (a parsed
    JSON dict, or its JSON text) or a list of them; `boundary=None` means no permissions boundary."""
    context = request.context_keys()
    verdicts = {
        where: _verdict(_statements(documents), request, context, with_principal=where == "resource policy")
        for where, documents in (
            ("identity policy", identity),
            ("boundary", boundary),
            ("resource policy", resource_policy),
        )
    }
    for where, (denies, _) in verdicts.items():
        if denies:
            return Decision(False, f"explicit deny by statement {denies[0]!r} in {where}", tuple(denies))
    grants = [(sid, where) for where in ("identity policy", "resource policy") for sid in verdicts[where][1]]
    sids = tuple(sid for sid, _ in grants)
    if not grants:
        return Decision(False, "no statement allows it")
    if boundary is not None and not verdicts["boundary"][1]:
        return Decision(False, "permissions boundary does not allow it", sids)
    return Decision(True, f"allowed by statement {grants[0][0]!r} in {grants[0][1]}", sids)


def _statements(documents: Documents) -> list[tuple[str, Mapping[str, Any]]]:
    """(sid, statement) of every statement; one without a Sid is named by its position (`#0`)."""
    if documents is None:
        return []
    if isinstance(documents, (str, Mapping)):
        documents = [documents]
    found = []
    for document in documents:
        document = json.loads(document) if isinstance(document, str) else document
        for i, body in enumerate(_listed(document["Statement"])):
            if body.get("Effect") not in ("Allow", "Deny"):
                raise ValueError(f"statement {body.get('Sid', i)!r}: Effect must be Allow or Deny")
            found.append((body.get("Sid", f"#{i}"), body))
    return found


def _verdict(
    statements: list[tuple[str, Mapping[str, Any]]], request: Request, context: dict[str, Any], *, with_principal: bool
) -> tuple[list[str], list[str]]:
    """The sids of the Deny and of the Allow statements that apply to the request (`with_principal`: the
    statements name whom they apply to, as resource policies do; identity policies apply to their holder)."""
    denies, allows = [], []
    for sid, body in statements:
        if (
            _element(body, "Action", request.action, _action_matches)
            and _element(body, "Resource", request.resource, _resource_matches)
            and (not with_principal or _principal_matches(body, request.principal))
            and _conditions_hold(body.get("Condition", {}), context)
        ):
            (denies if body["Effect"] == "Deny" else allows).append(sid)
    return denies, allows


def _element(body: Mapping[str, Any], name: str, value: str, matches: Callable[[str, str], bool]) -> bool:
    """Action/NotAction, Resource/NotResource. No Resource at all: the policy's own resource (trust policies)."""
    if name in body:
        return any(matches(pattern, value) for pattern in _listed(body[name]))
    if f"Not{name}" in body:
        return not any(matches(pattern, value) for pattern in _listed(body[f"Not{name}"]))
    if name == "Resource":
        return True
    raise ValueError(f"statement {body.get('Sid')!r} has neither {name} nor Not{name}")


def _principal_matches(body: Mapping[str, Any], principal: str | None) -> bool:
    """`*` matches anyone; otherwise the request's principal must be named. An account (its root ARN)
    names every principal of the account in a Deny; in an Allow it only delegates to the account's IAM."""
    if "NotPrincipal" in body:
        raise ValueError(f"statement {body.get('Sid')!r}: NotPrincipal is not supported")
    named = body.get("Principal", {})
    named = {"*"} if named == "*" else {n for values in named.values() for n in _listed(values)}
    if "*" in named or principal in named:
        return True
    account = re.match(r"arn:aws:(?:iam|sts)::(\d{12}):", principal or "")
    return (
        body["Effect"] == "Deny"
        and account is not None
        and (f"arn:aws:iam::{account[1]}:root" in named or account[1] in named)
    )


def _conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: dict[str, Any]) -> bool:
    """Operators AND, keys of one operator AND, values of one key OR (NOR for the negated operators)."""
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, tests in condition.items()
        for key, expected in tests.items()
    )


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    qualifier, _, name = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise ValueError(f"condition set operator {qualifier!r} is not supported")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name == "Null":  # "true": the key must be absent; "false": present
        return any((key.lower() not in context) == (str(value).lower() == "true") for value in _listed(expected))
    compare, negated = _operator(name)
    if key.lower() not in context:
        # A missing key fails the test, except under IfExists, ForAllValues, and the negated operators
        # (AWS: "If the key is not present ... StringNotLike or ArnNotLike ... the condition is true").
        return if_exists or qualifier == "ForAllValues" or (not qualifier and negated)
    actual = context[key.lower()]
    if not qualifier and isinstance(actual, (list, tuple, set, frozenset)):
        raise ValueError(f"{key} has several values: use ForAnyValue:{operator} or ForAllValues:{operator}")

    def one(value: Any) -> bool:
        return any(compare(value, each) for each in _listed(expected)) != negated

    if qualifier == "ForAllValues":  # every value of the key passes (true for none)
        return all(one(value) for value in _listed(actual))
    if qualifier == "ForAnyValue":  # at least one value passes
        return any(one(value) for value in _listed(actual))
    return one(actual)


def _operator(name: str) -> tuple[Callable[[Any, Any], bool], bool]:
    """The comparison behind a condition operator, and whether the operator negates it."""
    if name in _NEGATED:
        return _COMPARE[_NEGATED[name]], True
    if name in _COMPARE:
        return _COMPARE[name], False
    raise ValueError(f"condition operator {name!r} is not supported")


def _arn_matches(actual: Any, pattern: Any) -> bool:
    """ArnEquals/ArnLike (the same test): the six colon-separated parts matched one by one, wildcards allowed."""
    actual_parts, pattern_parts = str(actual).split(":", 5), str(pattern).split(":", 5)
    return len(actual_parts) == len(pattern_parts) and all(
        _glob(p).fullmatch(a) is not None for p, a in zip(pattern_parts, actual_parts, strict=False)
    )


@lru_cache(maxsize=1024)
def _glob(pattern: str, *, ignore_case: bool = False, in_arn: bool = False) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters, `?` one. `in_arn` (the Resource element): they stay within
    one colon-separated segment, except a `*` that ends a segment, which may run past its colons."""

    def wildcard(i: int, c: str) -> str:
        if c == "*":
            return ".*" if not in_arn or pattern[i + 1 : i + 2] in ("", ":") else "[^:]*"
        return ("[^:]" if in_arn else ".") if c == "?" else re.escape(c)

    regex = "".join(wildcard(i, c) for i, c in enumerate(pattern))
    return re.compile(regex, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def _resource_matches(pattern: str, resource: str) -> bool:
    """Resource/NotResource: case-sensitive, wildcards by ARN segment."""
    return _glob(pattern, in_arn=True).fullmatch(resource) is not None


def _action_matches(pattern: str, action: str) -> bool:
    """Actions: case-insensitive (`s3:getobject` is `s3:GetObject`)."""
    return _glob(pattern, ignore_case=True).fullmatch(action) is not None


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": lambda actual, value: str(actual) == str(value),
    "StringEqualsIgnoreCase": lambda actual, value: str(actual).casefold() == str(value).casefold(),
    "StringLike": lambda actual, value: _glob(str(value)).fullmatch(str(actual)) is not None,
    "ArnEquals": _arn_matches,
    "ArnLike": _arn_matches,
    "Bool": lambda actual, value: str(actual).lower() == str(value).lower(),
    "NumericEquals": lambda actual, value: float(actual) == float(value),
    "NumericLessThan": lambda actual, value: float(actual) < float(value),
    "NumericLessThanEquals": lambda actual, value: float(actual) <= float(value),
    "NumericGreaterThan": lambda actual, value: float(actual) > float(value),
    "NumericGreaterThanEquals": lambda actual, value: float(actual) >= float(value),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}
