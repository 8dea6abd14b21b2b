"""IAM statement changes between two synthesized stacks, as `cdk diff` shows them: a table, before the rest.

Every policy document in a resource (`policy`, `assume_role_policy` and any other attribute holding a JSON
document with a `Statement`: role policies, bucket, key, queue and topic policies, trust policies) is split into
statements. A statement with a `Sid` is matched by it; one without, by its effect, principals and resources.
A matched pair that differs is one row listing what was added and removed (actions, principals, resources,
conditions); an unmatched statement is a row of its own (`+` added, `-` removed). Pure Python, no cdktf.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

POLICY_KEYS = ("policy", "assume_role_policy")


@dataclass
class StatementChange:
    stack: str
    address: str  # <type>.<name>
    attribute: str  # policy | assume_role_policy | …
    sid: str
    kind: str  # "+" added, "-" removed, "~" changed
    effect: str
    actions: list[str] = field(default_factory=list)  # "+a" / "-a" for a changed statement
    principals: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)

    @property
    def widens(self) -> bool:
        """Grants more than before: an added Allow, or a changed Allow that gained something."""
        if self.effect != "Allow":
            return self.kind == "-"  # a removed Deny allows more
        if self.kind == "+":
            return True
        if self.kind == "~":
            return any(v.startswith("+") for v in (*self.actions, *self.principals, *self.resources)) or any(
                v.startswith("-") for v in self.conditions
            )
        return False


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principals(statement: dict) -> list[str]:
    found = []
    for key in ("Principal", "NotPrincipal"):
        value = statement.get(key)
        prefix = "not " if key == "NotPrincipal" else ""
        if isinstance(value, dict):
            found += [f"{prefix}{kind}:{p}" for kind, ps in sorted(value.items()) for p in _as_list(ps)]
        elif value is not None:
            found.append(f"{prefix}{value}")
    return sorted(found)


def _values(statement: dict, key: str) -> list[str]:
    return sorted(
        [*map(str, _as_list(statement.get(key))), *(f"not {v}" for v in _as_list(statement.get(f"Not{key}")))]
    )


def _conditions(statement: dict) -> list[str]:
    return sorted(
        f"{operator} {name} = {json.dumps(value, sort_keys=True)}"
        for operator, tests in (statement.get("Condition") or {}).items()
        for name, value in sorted(tests.items())
    )


def _document(value):
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) and "Statement" in value else None


def statements(config: dict | None) -> dict[tuple[str, str], list[dict]]:
    """(address, attribute) -> the statements of every policy document in the stack's resources."""
    found = {}
    for rtype, named in (config or {}).get("resource", {}).items():
        for name, body in named.items():
            for key, value in body.items():
                document = _document(value) if key in POLICY_KEYS or key.endswith("_policy") else None
                if document is not None:
                    found[(f"{rtype}.{name}", key)] = _as_list(document["Statement"])
    return found


def _key(statement: dict) -> tuple:
    if statement.get("Sid"):
        return ("sid", statement["Sid"])
    return (
        "shape",
        statement.get("Effect", "Allow"),
        tuple(_principals(statement)),
        tuple(_values(statement, "Resource")),
    )


def _delta(before: list[str], after: list[str]) -> list[str]:
    return [f"+{v}" for v in after if v not in before] + [f"-{v}" for v in before if v not in after]


def diff(stack: str, base: dict | None, head: dict | None) -> list[StatementChange]:
    base_docs, head_docs = statements(base), statements(head)
    rows: list[StatementChange] = []
    for address, attribute in sorted(set(base_docs) | set(head_docs)):
        old = {_key(s): s for s in base_docs.get((address, attribute), [])}
        new = {_key(s): s for s in head_docs.get((address, attribute), [])}
        for key in [*old, *(k for k in new if k not in old)]:
            before, after = old.get(key), new.get(key)
            if before == after:
                continue
            statement = after or before
            row = StatementChange(
                stack,
                address,
                attribute,
                statement.get("Sid", ""),
                "+" if before is None else "-" if after is None else "~",
                statement.get("Effect", "Allow"),
            )
            parts = (
                ("actions", lambda s: _values(s, "Action")),
                ("principals", _principals),
                ("resources", lambda s: _values(s, "Resource")),
                ("conditions", _conditions),
            )
            for name, read in parts:
                if row.kind == "~":
                    setattr(row, name, _delta(read(before), read(after)))
                else:
                    setattr(row, name, read(statement))
            if row.kind == "~" and before.get("Effect") != after.get("Effect"):
                row.effect = f"{before.get('Effect', 'Allow')} → {after.get('Effect', 'Allow')}"
            rows.append(row)
    return rows


def _cell(values: list[str], limit: int = 6) -> str:
    if not values:
        return ""
    shown = [f"`{v}`".replace("|", "\\|") for v in values[:limit]]
    return "<br>".join(shown) + (f"<br>… {len(values) - limit} more" if len(values) > limit else "")


def table(rows: list[StatementChange]) -> list[str]:
    """Markdown rows: the change, where, the effect, then what it grants."""
    if not rows:
        return []
    lines = [
        "| | stack | resource | effect | actions | principals | resources | conditions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        where = (
            f"`{r.address}`" + (f" {r.sid}" if r.sid else "") + (f" ({r.attribute})" if r.attribute != "policy" else "")
        )
        lines.append(
            f"| {r.kind} | {r.stack} | {where} | {r.effect} | {_cell(r.actions)} | {_cell(r.principals)} | "
            f"{_cell(r.resources)} | {_cell(r.conditions)} |"
        )
    return lines
