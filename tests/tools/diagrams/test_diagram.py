"""Diagrams from the synthesized stacks: the architecture view of each environment (every synthesized type
has a rule, both flows end to end, environments differ where they differ, readable size) and the detailed
resource graph."""

from __future__ import annotations

import html
import json
import re
import struct
import subprocess
import sys

import pytest

from tests.conftest import ENVIRONMENTS, ROOT, STACKS
from tools.diagrams import render
from tools.diagrams.architecture import View, unclassified, unruled_types
from tools.diagrams.rules import ROLE_NODE, RULES, Hidden, Node


@pytest.fixture(scope="module")
def views(stacks) -> dict[str, View]:
    return {name: View(stacks[name], name) for name in STACKS}


def node(view: View, rtype: str, name_contains: str = "") -> str:
    """The id of the one drawn node of this type whose resource name contains the text."""
    found = [n for n in view.nodes() if n.startswith(f"{rtype}.") and name_contains in n.split(".", 1)[1]]
    assert len(found) == 1, (rtype, name_contains, found)
    return found[0]


def flows(view: View) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.kind) for e in view.edges()}


def test_every_synthesized_type_has_a_rule(stacks):
    """A new module whose types have no rule fails here instead of vanishing from the picture."""
    assert unruled_types(stacks.values()) == set()


def test_a_synthesized_type_without_a_rule_is_named(stacks):
    config = json.loads(json.dumps(stacks["dev"]))
    config["resource"]["aws_ssm_parameter"] = {"new_setting": {"name": "x", "type": "String", "value": "y"}}
    assert unruled_types([config]) == {"aws_ssm_parameter"}


def test_every_part_finds_its_node_and_every_reference_between_nodes_is_classified(views):
    for name, view in views.items():
        assert view.unresolved == [], name
        assert unclassified(view) == set(), name


def test_every_resource_is_drawn_folded_or_hidden_and_the_caption_says_what_is_hidden(views):
    for name in ENVIRONMENTS:
        view = views[name]
        drawn = {k for n in view.nodes().values() for k in n.members}
        folded = {k for k, o in view.owners.items() if isinstance(o, str) and k not in drawn}
        hidden = {k for k, o in view.owners.items() if isinstance(o, tuple)}
        assert drawn | folded | hidden == set(view.resources), name
        caption = " ".join(re.sub(r"<[^>]*>", " ", render.caption(view, {"request"})).split())
        for rtype in view.hidden():
            if isinstance(RULES[rtype], Hidden):
                assert render.escape(RULES[rtype].reason) in caption, rtype
        assert f"Hidden ({len(hidden)} resources)" in caption


def test_prod_labels_come_from_the_synthesized_values(views):
    view = views["prod"]
    labels = {node_id: n.label for node_id, n in view.nodes().items()}
    assert labels[node(view, "aws_db_instance", "primary")] == "PostgreSQL 15\ndb.r6g.large, Multi-AZ"
    assert labels[node(view, "aws_db_instance", "replica")] == "read replica\ndb.r6g.large"
    assert labels[node(view, "aws_ecs_service", "api")] == "api service (Fargate)\n1024 CPU / 2048 MiB\n2–10 tasks"
    assert "2048 CPU / 4096 MiB\n1–20 tasks" in labels[node(view, "aws_ecs_service", "worker")]
    assert "PriceClass_All" in labels[node(view, "aws_cloudfront_distribution")]
    assert labels[node(view, "aws_s3_bucket", "videos-replica")].startswith("videos replica")


def test_prod_shows_both_flows_end_to_end(views):
    view = views["prod"]
    edges = flows(view)
    cdn, alb, nlb, api_gateway = (
        node(view, "aws_cloudfront_distribution"),
        node(view, "aws_lb", "alb"),
        node(view, "aws_lb", "nlb"),
        node(view, "aws_api_gateway_rest_api"),
    )
    api, worker = node(view, "aws_ecs_service", "api"), node(view, "aws_ecs_service", "worker")
    videos, uploads = node(view, "aws_s3_bucket", "videos_bucket"), node(view, "aws_s3_bucket", "uploads")
    queue, dead_letters = node(view, "aws_sqs_queue", "ingest_queue"), node(view, "aws_sqs_queue", "dead-letter")
    database, proxy = node(view, "aws_db_instance", "primary"), node(view, "aws_db_proxy")
    # requests: viewer -> CloudFront -> S3, and API clients -> API Gateway -> VPC link (NLB) -> ALB -> ECS
    # -> RDS Proxy -> RDS
    assert {
        ("viewers", cdn, "request"),
        (cdn, videos, "request"),
        ("clients", api_gateway, "request"),
        (api_gateway, nlb, "request"),
        (nlb, alb, "request"),
        (alb, api, "request"),
        (api, proxy, "request"),
        (proxy, database, "request"),
    } <= edges
    assert (cdn, alb, "request") not in edges and (api_gateway, alb, "request") not in edges  # no way around
    assert (api, database, "request") not in edges  # the primary only through the proxy
    # uploads: client -> S3 -> SQS -> workers -> S3
    assert {
        ("clients", uploads, "upload"),
        (uploads, queue, "upload"),
        (queue, worker, "upload"),
        (queue, dead_letters, "upload"),
        (uploads, worker, "read"),
        (worker, videos, "data"),
    } <= edges
    # replication and backups into the DR region, alarms to topics
    replica = node(view, "aws_s3_bucket", "videos-replica")
    vault, dr_vault = node(view, "aws_backup_vault", "backup_vault"), node(view, "aws_backup_vault", "dr-vault")
    assert {
        (videos, replica, "replication"),
        (cdn, replica, "request"),
        (database, vault, "replication"),
        (vault, dr_vault, "replication"),
        (database, node(view, "aws_db_instance_automated_backups_replication"), "replication"),
        ("aws_cloudwatch_metric_alarm@primary", node(view, "aws_sns_topic", "monitoring_alarms"), "alarm"),
        ("aws_cloudwatch_metric_alarm@edge", node(view, "aws_sns_topic", "edge-alarms"), "alarm"),
    } <= edges
    assert {n.region for n in view.nodes().values()} == {"edge", "primary", "DR"}
    assert view.regions == {"primary": "eu-west-1", "DR": "eu-central-1", "edge": "us-east-1"}
    assert view.nodes()[cdn].region == "edge" and view.nodes()[replica].region == "DR"
    assert {view.nodes()[n].tier for n in (alb, nlb, api, worker, database)} == {"private", "database"}


def test_environments_differ_where_they_differ(views):
    def count(name: str, rtype: str) -> int:
        return sum(n.startswith(f"{rtype}.") for n in views[name].nodes())

    assert [count(e, "aws_nat_gateway") for e in ENVIRONMENTS] == [1, 3, 3]
    assert [count(e, "aws_db_instance") for e in ENVIRONMENTS] == [1, 1, 2]
    assert [count(e, "aws_wafv2_web_acl") for e in ENVIRONMENTS] == [1, 2, 2]
    assert [count(e, "aws_backup_vault") for e in ENVIRONMENTS] == [0, 0, 2]
    assert ["DR" in {n.region for n in views[e].nodes().values()} for e in ENVIRONMENTS] == [False, False, True]
    assert "db.t3.micro, single-AZ" in views["dev"].nodes()[node(views["dev"], "aws_db_instance")].label
    assert "no subscribers" in views["dev"].nodes()[node(views["dev"], "aws_sns_topic", "monitoring_alarms")].label
    assert len(views["dev"].nodes()) < len(views["staging"].nodes()) < len(views["prod"].nodes()) <= 60


def test_every_node_rule_has_an_icon_from_diagrams():
    icons = (
        {rule.icon for rule in RULES.values() if isinstance(rule, Node)}
        | {icon for icon, _ in render.ACTORS.values()}
        | {ROLE_NODE.icon}
    )
    for icon in icons:
        assert render.icon_path(icon).endswith(".png"), icon
        assert open(render.icon_path(icon), "rb").read(8) == b"\x89PNG\r\n\x1a\n", icon


@pytest.fixture(scope="module")
def rendered(synth_dir, tmp_path_factory):
    """`python -m tools.diagrams.diagram prod` as `make diagram` runs it, on the session's synthesized stacks, in a
    process that must not load cdktf (the tool reads only cdk.tf.json)."""
    target = tmp_path_factory.mktemp("diagrams")
    code = (
        "import sys; from tools.diagrams import diagram; diagram.main(sys.argv[1:]); "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'jsii', 'constructs')); "
        "assert not loaded, loaded"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "prod", "--out", str(synth_dir / "stacks"), "--target", str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # 38: the deploy role moved to bootstrap-prod; the VPC link's network load balancer joined (issue 24);
    # then the RDS Proxy (its log group a part of it) and the app user's secret
    assert result.stdout.startswith("prod: 40 nodes; "), result.stdout
    return target


def test_architecture_view_is_written_as_svg_and_png_readable_in_a_readme_column(rendered, views):
    svg = html.unescape((rendered / "prod-architecture.svg").read_text())
    png = (rendered / "prod-architecture.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert 800 <= width <= 1800 and height <= 3000, (width, height)  # ~0.6 scale in a 1000 px column
    # icons are inside the file (GitHub shows an SVG without its neighbours), each stored once
    assert "data:image/png;base64," in svg and str(ROOT) not in svg and "site-packages" not in svg
    assert svg.count("<use ") == len(views["prod"].nodes()) + len(render.ACTORS)
    for title in (
        "eu-west-1 · primary",
        "eu-central-1 · disaster recovery",
        "us-east-1 · edge",
        "public subnets ×3",
        "private subnets ×3",
        "database subnets ×3",
        "VPC 10.30.0.0/16",
    ):
        assert title in svg, title
    assert "X-Ray sampling rule" in svg  # the caption names what is hidden


def test_resource_graph_has_every_module_and_the_edges_between_tiers(rendered, stacks):
    from tools.diagrams.diagram import graph, module_edges, module_of

    assert (rendered / "prod-resources.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all((rendered / f"prod-resources.{ext}").stat().st_size > 1000 for ext in ("dot", "svg", "png"))
    modules = {module_of(body) for resources_ in stacks["prod"]["resource"].values() for body in resources_.values()}
    dot = (rendered / "prod-resources.dot").read_text()
    assert modules >= {
        "network",
        "security",
        "storage",
        "database",
        "compute",
        "load-balancer",
        "api",
        "cdn",
        "ingest",
        "monitoring",
        "cost",
        "backup",
    }
    assert all(f'subgraph "cluster_{module}"' in dot for module in modules)
    nodes, edges = graph(stacks["prod"])
    between = module_edges(edges)
    for expected in [
        ("compute", "network"),
        ("database", "network"),
        ("database", "security"),
        ("load-balancer", "network"),
        ("cdn", "storage"),
        ("api", "load-balancer"),
        ("ingest", "security"),
        ("monitoring", "compute"),
    ]:
        assert expected in between, expected
    assert '"compute:aws_ecs_service" -> "network:aws_subnet"' in dot
