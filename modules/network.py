"""Network: a /16 VPC over three AZs with public, private and database tiers.

Public subnets hold the ALB and NAT gateways; private subnets the ECS tasks;
database subnets have no route out of the VPC at all. Every tier has its own
route table(s) and NACL; security groups admit only the next tier in.
All rules are separate resources (never inline), so plans converge.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.network_acl import NetworkAcl
from cdktf_cdktf_provider_aws.network_acl_rule import NetworkAclRule
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules import checkov
from modules.limits import Check, Doc, OneOf
from modules.naming import Naming
from modules.policy import policy, service_trust, statement
from modules.validation import LOG_RETENTION

TIERS = {"public": 0, "private": 10, "database": 20}  # third octet offset of each tier's /24s
ANYWHERE = "0.0.0.0/0"
POSTGRES_PORT = 5432
# Return traffic for connections the VPC opened: NACLs are stateless, and a NAT gateway uses every source port
# 1024-65535 (AWS: "Network ACLs for NAT gateways"), so the whole range must come back in. A carve-out (e.g. 3389)
# silently drops the answers that land on it. Security groups, which are stateful, admit no RDP or SSH.
EPHEMERAL_PORTS = (1024, 65535)


def _vpc_cidr_problem(cidr: str) -> str | None:
    try:
        network = ipaddress.ip_network(cidr)
    except ValueError:
        return "not a valid IPv4 CIDR (e.g. '10.20.0.0/16')"
    if network.version != 4 or network.prefixlen != 16:
        return "must be an IPv4 /16 (e.g. '10.20.0.0/16')"
    if not network.is_private:
        return "must be a private range (10/8, 172.16/12, 192.168/16)"
    return None


VPC_CIDR = Check(_vpc_cidr_problem, "a private IPv4 /16 such as '10.20.0.0/16'")


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """Inputs. Every default is the prod-safe choice."""

    vpc_cidr: Annotated[str, VPC_CIDR, Doc("tiers take /24s at offsets 0, 10 and 20")] = "10.0.0.0/16"
    one_nat_gateway_per_az: Annotated[bool, Doc("false: one shared NAT gateway (dev: cheaper, not AZ-resilient)")] = (
        True
    )
    flow_log_retention_days: Annotated[int, LOG_RETENTION, Doc("CloudWatch retention of VPC flow logs")] = 365
    flow_log_traffic_type: Annotated[str, OneOf(("ALL", "ACCEPT", "REJECT")), Doc("what the flow logs record")] = "ALL"


def subnet_cidrs(vpc_cidr: str, tier: str, count: int = 3) -> list[str]:
    """`10.20.0.0/16`, `private` -> `10.20.10.0/24`, `10.20.11.0/24`, `10.20.12.0/24`."""
    subnets = list(ipaddress.ip_network(vpc_cidr).subnets(new_prefix=24))
    return [str(subnets[TIERS[tier] + i]) for i in range(count)]


# NACL rules, (rule number, egress, protocol, cidr, from, to) per tier.
def _public_nacl_rules() -> list[tuple]:
    return [
        (100, False, "tcp", ANYWHERE, 443, 443),
        (110, False, "tcp", ANYWHERE, 80, 80),
        (120, False, "tcp", ANYWHERE, *EPHEMERAL_PORTS),
        (100, True, "-1", ANYWHERE, 0, 0),
    ]


def _private_nacl_rules(private: list[str], app_port: int) -> list[tuple]:
    # The load balancers are internal, in the private tier (modules/private_link.py): NLB -> ALB on 443,
    # ALB -> tasks on the app port, all between the private subnets.
    return [
        *[
            (100 + i, False, "tcp", cidr, app_port, app_port)  # load balancer -> tasks
            for i, cidr in enumerate(private)
        ],
        *[
            (120 + i, False, "tcp", cidr, 443, 443)  # network load balancer -> application one
            for i, cidr in enumerate(private)
        ],
        (110, False, "tcp", ANYWHERE, *EPHEMERAL_PORTS),
        (100, True, "-1", ANYWHERE, 0, 0),
    ]


def _database_nacl_rules(private: list[str], database: list[str]) -> list[tuple]:
    return [
        *[(100 + i, False, "tcp", cidr, POSTGRES_PORT, POSTGRES_PORT) for i, cidr in enumerate(private)],
        *[(100 + i, True, "tcp", cidr, 1024, 65535) for i, cidr in enumerate(private)],
        # replication and Multi-AZ traffic between the database subnets
        *[(110 + i, False, "tcp", cidr, POSTGRES_PORT, POSTGRES_PORT) for i, cidr in enumerate(database)],
        *[(110 + i, True, "tcp", cidr, 1024, 65535) for i, cidr in enumerate(database)],
        # the RDS Proxy (in these subnets): the primary's answers to its connections
        *[(120 + i, False, "tcp", cidr, *EPHEMERAL_PORTS) for i, cidr in enumerate(database)],
    ]


class Network(Construct):
    """Exposes `vpc`, subnet ids per tier, and the security groups `nlb_sg`, `alb_sg`, `app_sg`, `worker_sg`,
    `proxy_sg` (RDS Proxy), `db_sg` (the primary: from the proxy only), `replica_sg` (read replicas: from the API;
    None without)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: NetworkConfig,
        availability_zones: tuple[str, ...],
        kms_key_arn: str,
        app_port: int,
        read_replicas: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        self._naming = naming
        self.vpc = Vpc(
            self,
            "vpc",
            cidr_block=config.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": naming.name("vpc")},
        )
        self.cidrs = {tier: subnet_cidrs(config.vpc_cidr, tier) for tier in TIERS}
        self.subnets = {
            tier: [
                Subnet(
                    self,
                    f"{tier}-{az[-1]}",
                    vpc_id=self.vpc.id,
                    cidr_block=cidr,
                    availability_zone=az,
                    map_public_ip_on_launch=False,
                    tags={"Name": naming.name(tier, az[-1]), "Tier": tier},
                )
                for az, cidr in zip(availability_zones, self.cidrs[tier], strict=False)
            ]
            for tier in TIERS
        }
        self.public_subnet_ids = [s.id for s in self.subnets["public"]]
        self.private_subnet_ids = [s.id for s in self.subnets["private"]]
        self.database_subnet_ids = [s.id for s in self.subnets["database"]]

        self._routing(config, availability_zones)
        self._flow_logs(config, kms_key_arn)
        self._nacls(app_port)
        self._security_groups(app_port, read_replicas)

    def _routing(self, config: NetworkConfig, azs: tuple[str, ...]) -> None:
        n = self._naming
        igw = InternetGateway(self, "igw", vpc_id=self.vpc.id, tags={"Name": n.name("igw")})
        public_rt = RouteTable(self, "public-rt", vpc_id=self.vpc.id, tags={"Name": n.name("public")})
        Route(self, "public-default", route_table_id=public_rt.id, destination_cidr_block=ANYWHERE, gateway_id=igw.id)
        for subnet in self.subnets["public"]:
            RouteTableAssociation(self, f"{subnet.node.id}-rt", subnet_id=subnet.id, route_table_id=public_rt.id)

        nat_azs = azs if config.one_nat_gateway_per_az else azs[:1]
        self.nat_gateways = []
        for az, subnet in zip(nat_azs, self.subnets["public"], strict=False):
            eip = Eip(self, f"nat-eip-{az[-1]}", domain="vpc", tags={"Name": n.name("nat", az[-1])})
            self.nat_gateways.append(
                NatGateway(
                    self,
                    f"nat-{az[-1]}",
                    allocation_id=eip.id,
                    subnet_id=subnet.id,
                    tags={"Name": n.name("nat", az[-1])},
                    depends_on=[igw],
                )
            )
        self.private_route_tables = []
        for i, (az, subnet) in enumerate(zip(azs, self.subnets["private"], strict=False)):
            table = RouteTable(
                self, f"private-rt-{az[-1]}", vpc_id=self.vpc.id, tags={"Name": n.name("private", az[-1])}
            )
            nat = self.nat_gateways[i if config.one_nat_gateway_per_az else 0]
            Route(
                self,
                f"private-default-{az[-1]}",
                route_table_id=table.id,
                destination_cidr_block=ANYWHERE,
                nat_gateway_id=nat.id,
            )
            RouteTableAssociation(self, f"{subnet.node.id}-rt", subnet_id=subnet.id, route_table_id=table.id)
            self.private_route_tables.append(table)
        # Database tier: local routes only (plus the S3/DynamoDB gateway endpoints below).
        database_rt = RouteTable(self, "database-rt", vpc_id=self.vpc.id, tags={"Name": n.name("database")})
        for subnet in self.subnets["database"]:
            RouteTableAssociation(self, f"{subnet.node.id}-rt", subnet_id=subnet.id, route_table_id=database_rt.id)
        endpoint_tables = [t.id for t in self.private_route_tables] + [database_rt.id]
        for service in ("s3", "dynamodb"):
            VpcEndpoint(
                self,
                f"{service}-endpoint",
                vpc_id=self.vpc.id,
                vpc_endpoint_type="Gateway",
                service_name=f"com.amazonaws.{n.region}.{service}",
                route_table_ids=endpoint_tables,
                tags={"Name": n.name(service)},
            )

    def _flow_logs(self, config: NetworkConfig, kms_key_arn: str) -> None:
        n = self._naming
        self.flow_log_group = CloudwatchLogGroup(
            self,
            "flow-logs",
            name=n.log_group("vpc", "flow-logs"),
            kms_key_id=kms_key_arn,
            retention_in_days=config.flow_log_retention_days,
        )
        checkov.short_log_retention(self.flow_log_group, config.flow_log_retention_days, n.environment)
        role = IamRole(
            self,
            "flow-logs-role",
            name=n.name("vpc-flow-logs"),
            description="VPC flow logs delivery",
            assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com", source_account=n.account_id),
        )
        # AWS's documented flow-logs role policy ("IAM role for publishing flow logs to CloudWatch Logs") also
        # lists logs:DescribeLogGroups: the service looks its destination group up. That action has no
        # resource-level scoping to one group (it lists), so it is granted on the account's log groups.
        IamRolePolicy(
            self,
            "flow-logs-policy",
            name="deliver",
            role=role.id,
            policy=policy(
                statement(
                    "DeliverToOwnGroup",
                    ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                    [self.flow_log_group.arn, f"{self.flow_log_group.arn}:*"],
                ),
                statement("FindOwnGroup", ["logs:DescribeLogGroups"], [n.arn("logs", "log-group:*")]),
            ),
        )
        FlowLog(
            self,
            "flow-log",
            vpc_id=self.vpc.id,
            traffic_type=config.flow_log_traffic_type,
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
        )

    def _nacls(self, app_port: int) -> None:
        private, database = self.cidrs["private"], self.cidrs["database"]
        tiers = (
            ("public", _public_nacl_rules()),
            ("private", _private_nacl_rules(private, app_port)),
            ("database", _database_nacl_rules(private, database)),
        )
        for tier, rules in tiers:
            self._nacl(tier, rules)

    def _nacl(self, tier: str, rules: list[tuple]) -> None:
        """One tier's NACL on its subnets, and each of its `(rule number, egress, protocol, cidr, from, to)` rules."""
        acl = NetworkAcl(
            self,
            f"{tier}-nacl",
            vpc_id=self.vpc.id,
            subnet_ids=[s.id for s in self.subnets[tier]],
            tags={"Name": self._naming.name(tier)},
        )
        for number, egress, protocol, cidr, low, high in rules:
            rule = NetworkAclRule(
                self,
                f"{tier}-nacl-{'out' if egress else 'in'}-{number}",
                network_acl_id=acl.id,
                rule_number=number,
                egress=egress,
                protocol=protocol,
                rule_action="allow",
                cidr_block=cidr,
                from_port=low,
                to_port=high,
            )
            if not egress and cidr == ANYWHERE and (low, high) == EPHEMERAL_PORTS:
                checkov.skip(
                    rule,
                    "CKV_AWS_231",
                    "Return traffic on the ephemeral ports 1024-65535, which "
                    "include 3389: a NAT gateway uses all of them, so a hole drops answers. Nothing "
                    "listens for RDP: no security group admits 3389 (the stateful layer).",
                )

    def _security_groups(self, app_port: int, read_replicas: bool) -> None:
        n = self._naming
        DefaultSecurityGroup(self, "default-sg", vpc_id=self.vpc.id, tags={"Name": n.name("default-deny")})

        def group(id_: str, description: str) -> SecurityGroup:
            return SecurityGroup(
                self, id_, name=n.name(id_), description=description, vpc_id=self.vpc.id, tags={"Name": n.name(id_)}
            )

        self.alb_sg = group("alb-sg", "Internal load balancer: HTTPS from the API's network load balancer")
        self.nlb_sg = group("nlb-sg", "VPC link's network load balancer: PrivateLink only, HTTPS to the ALB")
        self.app_sg = group("app-sg", "API service tasks: from the load balancer only")
        self.worker_sg = group("worker-sg", "Processing workers: no inbound")
        self.proxy_sg = group("proxy-sg", "RDS Proxy: PostgreSQL from the API service and workers only")
        checkov.skip(
            self.proxy_sg,
            "CKV2_AWS_5",
            "Attached to the RDS Proxy (aws_db_proxy.vpc_security_group_ids): "
            "checkov 3.3.30's CKV2_AWS_5 does not list aws_db_proxy among the "
            "resources that attach a group.",
        )
        # The description is AWS's ForceNew field (a new group, while the instance still holds this one): kept as
        # created; what it admits is the rule below, from the proxy only.
        self.db_sg = group("db-sg", "PostgreSQL: from the API service and workers only")
        self.replica_sg = (
            group("replica-sg", "PostgreSQL read replicas: reads from the API service only") if read_replicas else None
        )
        self._group_rules(app_port)

    def _group_rules(self, app_port: int) -> None:
        """Who may reach whom: the VPC link's NLB -> ALB -> API tasks; API tasks and workers -> proxy -> primary."""
        # Nothing from the internet, nor from inside the VPC: API Gateway reaches the ALB only through its VPC
        # link, whose network load balancer has a group of its own with no inbound rule (PrivateLink traffic is
        # not evaluated against it: modules/private_link.py), and the ALB admits 443 from that group only, not
        # from the private subnets where the tasks run. NLB health checks are subject to the NLB group's
        # outbound rules, not its inbound ones (ELB guide, "Update the security groups for your Network Load
        # Balancer"), so this one egress carries both the forwarded traffic and the health checks.
        self._allow(self.nlb_sg, self.alb_sg, 443, "nlb-to-alb", "VPC link's network load balancer to the ALB")
        self._allow(self.alb_sg, self.app_sg, app_port, "alb-to-app", "Load balancer to API tasks")
        for source, id_ in ((self.app_sg, "app"), (self.worker_sg, "worker")):
            self._allow(source, self.proxy_sg, POSTGRES_PORT, f"{id_}-to-proxy", f"{id_} tasks to the RDS Proxy")
            VpcSecurityGroupEgressRule(
                self,
                f"{id_}-out-https",
                security_group_id=source.id,
                cidr_ipv4=ANYWHERE,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description="AWS APIs (ECR, Secrets Manager, SQS, logs) over HTTPS",
            )

        self._allow(self.proxy_sg, self.db_sg, POSTGRES_PORT, "proxy-to-db", "RDS Proxy to the PostgreSQL primary")
        if self.replica_sg:
            self._allow(self.app_sg, self.replica_sg, POSTGRES_PORT, "app-to-replicas", "API reads on the replicas")

    def _allow(self, source: SecurityGroup, target: SecurityGroup, port: int, id_: str, description: str) -> None:
        """The egress on the source and the ingress on the target, each naming the other group."""
        VpcSecurityGroupEgressRule(
            self,
            f"{id_}-out",
            security_group_id=source.id,
            referenced_security_group_id=target.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=description,
        )
        VpcSecurityGroupIngressRule(
            self,
            f"{id_}-in",
            security_group_id=target.id,
            referenced_security_group_id=source.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=description,
        )
