"""The architecture view of one environment, derived from its synthesized `cdk.tf.json` (never drawn by hand).

Every resource type the stacks synthesize has exactly one rule in `RULES` (tools/diagrams/rules.py):

    Node(icon, label)      drawn: one icon per resource (or one per region for `aggregate` types)
    Part(parent)           folded into the resource of type `parent` it references (a bucket's versioning)
    UsedBy(users)          folded into whatever uses it (a task definition into its ECS service)
    Container(label)       drawn as a box around what is inside it (the VPC; its subnets make the tiers)
    Hidden(reason)         left out on purpose; the caption says so

`unruled_types()` names the synthesized types without a rule: a test fails on them (and the picture's caption
names them), so a new module can never vanish from the picture. Edges come from the references between
resources (`${aws_x.y.attr}`, and host names that are a certificate's domain), each classified by `FLOWS`
(a request, an upload or its event, replication or backup, an IAM read or write, an alarm, access logs, a
WAF in front) or ignored with a reason; `unclassified()` names the rest (a test fails on them too).
`rows()` stacks the regions and orders each one along its flows; `render()` (tools/diagrams/render.py) draws it
with the `diagrams` package, which only it imports: the rules and the model need nothing beyond the standard library.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.diagrams.rules import (  # noqa: F401
    EDGE,
    FLOWS,
    KINDS,
    PROJECT,
    ROLE_NODE,
    RULES,
    Container,
    Flow,
    Hidden,
    Ignore,
    Node,
    Part,
    Ref,
    Res,
    UsedBy,
    first,
    flow_rule,
    statement_flows,
)

REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_]+))?")
NOT_REFERENCES = ("//", "depends_on", "lifecycle", "provider", "tags")
REGION_ROLES = {None: "primary", "dr": "DR", "edge": "edge"}


# ----------------------------------------------------------------------------------------------- the model


@dataclass
class Edge:
    source: str
    target: str
    kind: str
    labels: list[str] = field(default_factory=list)


@dataclass
class DrawnNode:
    id: str
    icon: str
    label: str
    region: str
    group: str = ""
    vpc: str = ""  # node id of the VPC container it sits in
    tier: str = ""
    members: list[tuple[str, str]] = field(default_factory=list)


class View:
    """One stack's resources, their rules applied: nodes, containers, folded parts, hidden, edges."""

    def __init__(self, config: dict, env: str):
        self.env = env
        self.config = config
        aliases = {p.get("alias"): p.get("region") for p in config.get("provider", {}).get("aws", [])}
        self.regions = {REGION_ROLES.get(alias, alias): region for alias, region in aliases.items()}
        self.resources: dict[tuple[str, str], Res] = {}
        for rtype, items in sorted(config.get("resource", {}).items()):
            for name, body in sorted(items.items()):
                alias = body.get("provider", "aws").partition(".")[2] or None
                self.resources[(rtype, name)] = Res(rtype, name, body, REGION_ROLES.get(alias, alias))
        self.refs = self._references()
        self.out: dict[tuple[str, str], list[Ref]] = defaultdict(list)
        self.into: dict[tuple[str, str], list[Ref]] = defaultdict(list)
        for ref in self.refs:
            self.out[ref.source].append(ref)
            self.into[ref.target].append(ref)
        self._owners: dict[tuple[str, str], Any] = {}
        self._resolving: set[tuple[str, str]] = set()
        self.owners = {key: self.owner(key) for key in self.resources}
        # resources with a rule that found no parent, types without a rule: a test fails on any, the caption
        # names them
        self.unresolved = sorted(k for k, o in self.owners.items() if o is None and k[0] in RULES)
        self.unruled = sorted({k[0] for k in self.resources} - set(RULES))
        self._nodes: dict[str, DrawnNode] | None = None

    # references
    def _references(self) -> list[Ref]:
        certificates = {}
        for key, res in self.resources.items():
            if key[0] == "aws_acm_certificate":
                for domain in [res.get("domain_name"), *res.get("subject_alternative_names", [])]:
                    if domain:
                        certificates[domain] = key
        self._certificates = certificates
        refs = []
        for key, res in self.resources.items():
            for attribute, value in res.body.items():
                if attribute in NOT_REFERENCES:
                    continue
                text = json.dumps(value)
                for target_type, target_name, target_attribute in REFERENCE.findall(text):
                    if (target_type, target_name) in self.resources and (target_type, target_name) != key:
                        refs.append(Ref(key, attribute, (target_type, target_name), target_attribute, text))
                if key[0] != "aws_acm_certificate":
                    for string in strings(value):
                        host = re.sub(r"^https?://", "", string).split("/", 1)[0]
                        if host in certificates:
                            refs.append(Ref(key, attribute, certificates[host], "domain_name", text))
        return sorted(set(refs), key=lambda r: (r.source, r.attribute, r.target, r.target_attribute))

    def certificate_for(self, domain: str) -> tuple[str, str] | None:
        return self._certificates.get(re.sub(r"^https?://", "", domain).split("/", 1)[0])

    def resource(self, key: tuple[str, str] | None) -> Res | None:
        return self.resources.get(key) if key else None

    def ref_name(self, text: str) -> str:
        match = REFERENCE.search(text)
        return match.group(2) if match else ""

    def resource_at(self, text: str) -> Res | None:
        match = REFERENCE.search(text or "")
        return self.resources.get((match.group(1), match.group(2))) if match else None

    def referrers(self, res: Res, rtype: str, attribute: str) -> list[Ref]:
        return [r for r in self.into[res.key] if r.source[0] == rtype and r.attribute == attribute]

    # ownership
    def owner(self, key: tuple[str, str] | None) -> Any:
        """The drawn node or container a resource belongs to: a node id, `("hidden", type)`, or None."""
        if key is None or key not in self.resources:
            return None
        if key not in self._owners:
            if key in self._resolving:
                return None
            self._resolving.add(key)
            try:
                self._owners[key] = self._resolve(self.resources[key])
            finally:
                self._resolving.discard(key)
        return self._owners[key]

    def _resolve(self, res: Res) -> Any:
        rule = RULES.get(res.type)
        if rule is None:
            return None
        if isinstance(rule, Hidden):
            return ("hidden", res.type)
        if isinstance(rule, (Node, Container)):
            return self.node_id(res, rule)
        if isinstance(rule, Part):
            parents = [
                r.target
                for r in self.out[res.key]
                if r.target[0] == rule.parent and (not rule.via or r.attribute in rule.via)
            ]
            parents.sort(key=lambda t: self.resources[t].region != res.region)  # same region first, stable
            return self.owner(first(parents))
        users = [r.source for r in self.into[res.key] if not rule.users or r.source[0] in rule.users]
        users = [u for u in users if not (isinstance(RULES.get(u[0]), Part) and RULES[u[0]].parent == res.type)]
        users.sort(key=lambda u: (rule.users.index(u[0]) if rule.users else 0, u))
        found = first(o for o in map(self.owner, users) if o is not None)
        if found is None and rule.waited_for_by:
            # Declared only to be there first (a log group a service would create itself): its producer waits
            # for it (depends_on) and names it nowhere.
            waiting = sorted(
                key
                for key, other in self.resources.items()
                if other.type in rule.waited_for_by and f"{res.type}.{res.name}" in other.body.get("depends_on", [])
            )
            found = first(o for o in map(self.owner, waiting) if o is not None)
        if found is None and rule.otherwise is not None:
            return self.node_id(res, rule.otherwise)
        return found

    def rule_of(self, res: Res) -> Node | Container | None:
        """How a resource is drawn: its own rule, or an unused `UsedBy` resource's `otherwise`."""
        rule = RULES.get(res.type)
        if isinstance(rule, UsedBy):
            return rule.otherwise if self.owners.get(res.key) == f"{res.type}.{res.name}" else None
        return rule if isinstance(rule, (Node, Container)) else None

    def node_id(self, res: Res, rule: Node | Container) -> str:
        if isinstance(rule, Node) and rule.aggregate:
            return f"{res.type}@{rule.region or res.region}"
        return f"{res.type}.{res.name}"

    def parts_of(self, res: Res) -> list[Res]:
        own = self.owners.get(res.key)
        return [r for k, r in self.resources.items() if self.owners.get(k) == own and k != res.key]

    # the drawing
    def nodes(self) -> dict[str, DrawnNode]:
        if self._nodes is None:
            self._nodes = self._build_nodes()
        return self._nodes

    def _build_nodes(self) -> dict[str, DrawnNode]:
        nodes: dict[str, DrawnNode] = {}
        for key, res in self.resources.items():
            rule = self.rule_of(res)
            if not isinstance(rule, Node):
                continue
            node_id = self.owners[key]
            node = nodes.get(node_id)
            if node is None:
                node = nodes[node_id] = DrawnNode(node_id, rule.icon, "", rule.region or res.region, rule.group)
            node.members.append(key)
        for node in nodes.values():
            members = [self.resources[k] for k in node.members]
            rule = self.rule_of(members[0])
            node.label = rule.label(self, members) if rule.aggregate else rule.label(self, members[0])
            node.vpc, node.tier = self._placement(node)
        for node in nodes.values():  # a replica without subnets of its own sits with what it replicates
            if node.vpc and not node.tier:
                for ref in (r for k in node.members for r in self.out[k]):
                    other = nodes.get(self.owners.get(ref.target))
                    if other and other is not node and other.icon == node.icon and other.tier:
                        node.tier = other.tier
        return nodes

    def _placement(self, node: DrawnNode) -> tuple[str, str]:
        owned = [k for k, o in self.owners.items() if o == node.id]
        vpcs, tiers = set(), set()
        for key in owned:
            for ref in self.out[key]:
                target_owner = self.owners.get(ref.target)
                if ref.target[0] == "aws_vpc" or (
                    isinstance(RULES.get(ref.target[0]), Part) and str(target_owner).startswith("aws_vpc.")
                ):
                    vpcs.add(target_owner)
                    if ref.target[0] == "aws_subnet":
                        tiers.add(self.resources[ref.target].get("tags", {}).get("Tier", ""))
        vpc = first(sorted(vpcs), "")
        return vpc, (first(tiers) if len(tiers) == 1 else "")

    def containers(self) -> dict[str, Res]:
        return {self.owners[k]: r for k, r in self.resources.items() if isinstance(RULES.get(r.type), Container)}

    def tiers(self, vpc: str) -> dict[str, list[Res]]:
        subnets: dict[str, list[Res]] = defaultdict(list)
        for key, res in self.resources.items():
            if key[0] == "aws_subnet" and self.owners[key] == vpc:
                subnets[res.get("tags", {}).get("Tier", "")].append(res)
        return dict(subnets)

    def edges(self) -> list[Edge]:
        """The flows between nodes: one edge per pair and kind, labels merged; where two kinds join the same
        pair, only the first of KINDS (a request over the IAM access that serves it)."""
        raw: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for ref, rule in self.classified():
            if not isinstance(rule, Flow):
                continue
            source_node, target_node = self.owners.get(ref.source), self.owners.get(ref.target)
            source = self.resources[ref.source]
            flows = (
                rule.label(self, source, ref)
                if rule.label is statement_flows
                else [(rule.kind, rule.label(self, source, ref) if callable(rule.label) else rule.label, rule.reverse)]
            )
            for kind, label, reverse in flows:
                a, b = (target_node, source_node) if reverse else (source_node, target_node)
                if label not in raw[(a, b)][kind]:
                    raw[(a, b)][kind].append(label)
        for entry in self.entries():
            raw[(entry.source, entry.target)][entry.kind].extend(entry.labels)
        edges = []
        pairs = defaultdict(list)
        for (a, b), kinds in raw.items():
            pairs[frozenset((a, b))].append((a, b, kinds))
        for _pair, directed in sorted(pairs.items(), key=lambda p: sorted(p[0])):
            best = min(KINDS[k][4] for _, _, kinds in directed for k in kinds)
            for a, b, kinds in sorted(directed, key=lambda d: (d[0], d[1])):
                for kind, labels in kinds.items():
                    if KINDS[kind][4] == best:
                        edges.append(Edge(a, b, kind, [label for label in labels if label]))
        return edges

    def classified(self) -> list[tuple[Ref, Flow | Ignore | None]]:
        """Every reference that crosses from one drawn node to another, with its FLOWS rule (or None)."""
        drawn = set(self.nodes())
        result = []
        for ref in self.refs:
            source_node, target_node = self.owners.get(ref.source), self.owners.get(ref.target)
            if source_node == target_node or source_node not in drawn or target_node not in drawn:
                continue
            result.append((ref, flow_rule(ref, self)))
        return result

    def entries(self) -> list[Edge]:
        """Who comes from outside: viewers of the distribution, API clients, and uploaders (a bucket that admits
        browser PUTs through CORS)."""
        edges = []
        for key, res in self.resources.items():
            node = self.owners.get(key)
            if res.type == "aws_cloudfront_distribution":
                signed = bool(res.get("default_cache_behavior", {}).get("trusted_key_groups"))
                edges.append(Edge("viewers", node, "request", ["HTTPS" + (", signed URLs" if signed else "")]))
            elif res.type == "aws_api_gateway_rest_api":
                iam = any(
                    m.get("authorization") == "AWS_IAM"
                    for m in self.parts_of(res)
                    if m.type == "aws_api_gateway_method"
                )
                edges.append(Edge("clients", node, "request", ["API key" + (" + SigV4" if iam else "")]))
            elif res.type == "aws_s3_bucket_cors_configuration" and any(
                "PUT" in rule.get("allowed_methods", []) for rule in res.get("cors_rule", [])
            ):
                edges.append(Edge("clients", node, "upload", ["PUT parts (presigned)"]))
        return edges

    def hidden(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for key, owner in self.owners.items():
            if isinstance(owner, tuple):
                counts[key[0]] += 1
        return dict(sorted(counts.items()))


def strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def unruled_types(configs: Iterable[dict]) -> set[str]:
    """Synthesized resource types that have no rule (a test fails on any)."""
    return {rtype for config in configs for rtype in config.get("resource", {})} - set(RULES)


def unclassified(view: View) -> set[tuple[str, str, str]]:
    """(source type, attribute, target type) of references between drawn nodes without a FLOWS rule."""
    return {(ref.source[0], ref.attribute, ref.target[0]) for ref, rule in view.classified() if rule is None}


def load(out: Path, env: str) -> View:
    return View(json.loads((out / env / "cdk.tf.json").read_text()), env)
