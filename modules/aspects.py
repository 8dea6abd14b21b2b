"""What is decided once the whole stack is built, at synth: the permissions boundary on every role (a cdktf
Aspect), and policies that grow with each grant rendered once from their collected statements (a Lazy value)."""

from __future__ import annotations

from collections.abc import Callable

import jsii
from cdktf import IAspect, IResolveContext, IStringProducer, Lazy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from constructs import IConstruct


@jsii.implements(IAspect)
class PermissionsBoundary:
    """Every IAM role under the scope it is added to carries `boundary_arn` (the deploy role may create roles only
    with the account's boundary, modules/identity.py); visited by cdktf before it synthesizes."""

    def __init__(self, boundary_arn: str) -> None:
        self.boundary_arn = boundary_arn

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, IamRole):
            node.permissions_boundary = self.boundary_arn


@jsii.implements(IStringProducer)
class _Rendered:
    def __init__(self, render: Callable[[], str]) -> None:
        self._render = render

    def produce(self, context: IResolveContext) -> str:
        return self._render()


def rendered_at_synth(render: Callable[[], str]) -> str:
    """A string token whose value is `render()`, called once when the stack is synthesized: a policy document
    built from statements that grants keep adding until then."""
    return Lazy.string_value(_Rendered(render))
