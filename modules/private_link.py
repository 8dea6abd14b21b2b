"""API Gateway's private way to the load balancer: an internal network load balancer in front of the internal
ALB, and the REST API's VPC link to it.

A REST API's VPC link targets network load balancers only (API Gateway developer guide, "Private integrations
for REST APIs"), so the ALB becomes the NLB's one target (target type `alb`, TCP 443: TLS still ends at the ALB
with the API's certificate, which API Gateway verifies against the integration URI's host). Nothing of this is
reachable from the internet: API keys, SigV4, usage plans and throttling are the only way in (docs/request-paths.md).
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.api_gateway_vpc_link import ApiGatewayVpcLink
from cdktf_cdktf_provider_aws.lb import Lb
from cdktf_cdktf_provider_aws.lb_listener import LbListener, LbListenerDefaultAction
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from cdktf_cdktf_provider_aws.lb_target_group_attachment import LbTargetGroupAttachment
from constructs import Construct

from modules import checkov
from modules.naming import Naming

HTTPS = 443


class PrivateLink(Construct):
    """Exposes `nlb`, `target_group` and `vpc_link` (the API's integrations connect through it)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        subnet_ids: list[str],
        vpc_id: str,
        alb_arn: str,
        alb_listener,
        health_check_path: str,
        deletion_protection: bool,
        security_group_id: str,
    ) -> None:
        super().__init__(scope, id_)
        self.nlb = self._nlb(naming, subnet_ids, deletion_protection, security_group_id)
        self.target_group = self._target_group(naming, vpc_id, health_check_path)
        self._vpc_link(naming, alb_arn, alb_listener)

    def _nlb(self, naming: Naming, subnet_ids: list[str], deletion_protection: bool, security_group_id: str) -> Lb:
        # A security group from the start: an NLB created without one can never get one (ELB guide, "Update the
        # security groups for your Network Load Balancer"). The group has no inbound rule and inbound rules are
        # not enforced on PrivateLink traffic ("off"), so the VPC link's traffic passes and nothing else in the
        # VPC can reach the listener; its one egress is 443 to the ALB's group, which admits only this group
        # (modules/network.py), so nothing in the VPC reaches the ALB around API Gateway's authentication.
        nlb = Lb(
            self,
            "nlb",
            name=naming.name("nlb"),
            load_balancer_type="network",
            internal=True,
            subnets=subnet_ids,
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=deletion_protection,
            security_groups=[security_group_id],
            enforce_security_group_inbound_rules_on_private_link_traffic="off",
        )
        checkov.skip(
            nlb,
            "CKV_AWS_91",
            "NLB access logs exist only for TLS listeners; this one passes TCP "
            "through to the ALB, whose access logs record every request.",
        )
        if not deletion_protection:
            checkov.skip(
                nlb,
                "CKV_AWS_150",
                f"{naming.environment}: deletion protection off by config so the "
                "environment can be torn down; production keeps it on.",
            )
        return nlb

    def _target_group(self, naming: Naming, vpc_id: str, health_check_path: str) -> LbTargetGroup:
        return LbTargetGroup(
            self,
            "alb-target",
            name=naming.name("alb"),
            target_type="alb",
            port=HTTPS,
            protocol="TCP",
            vpc_id=vpc_id,
            health_check=LbTargetGroupHealthCheck(
                enabled=True,
                protocol="HTTPS",
                path=health_check_path,
                matcher="200",
                interval=30,
                healthy_threshold=3,
                unhealthy_threshold=3,
            ),
        )

    def _vpc_link(self, naming: Naming, alb_arn: str, alb_listener) -> None:
        """The ALB as the target group's one target, the NLB's TCP listener, and the VPC link (`self.vpc_link`)."""
        # ELB refuses an ALB target without a listener on the target group's port.
        LbTargetGroupAttachment(
            self,
            "alb-attachment",
            target_group_arn=self.target_group.arn,
            target_id=alb_arn,
            port=HTTPS,
            depends_on=[alb_listener],
        )
        listener = LbListener(
            self,
            "tcp",
            load_balancer_arn=self.nlb.arn,
            port=HTTPS,
            protocol="TCP",
            default_action=[LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)],
        )
        self.vpc_link = ApiGatewayVpcLink(
            self,
            "vpc-link",
            name=naming.name("api"),
            description="API Gateway -> internal NLB -> internal ALB",
            target_arns=[self.nlb.arn],
            depends_on=[listener],
        )
