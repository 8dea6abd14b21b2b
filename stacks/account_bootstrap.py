"""Per-account bootstrap: the identities an environment is deployed and reviewed through, and the account's
SOC 2 / GDPR controls (modules/compliance.py; each adoptable from the organization, docs/compliance.md).

An administrator of the environment's account applies it once, before the environment's first
apply (`make bootstrap-account ENV=…`). Its state stays local, at the project root
(`terraform.bootstrap-<env>.tfstate`, outside `cdktf.out/`), as the state backend's does: the state
role admits only the roles this stack creates, so it cannot keep its own state behind them.
"""

from __future__ import annotations

from cdktf import LocalBackend, TerraformOutput, TerraformStack
from constructs import Construct

from environments.config import Environment, StateBackendConfig
from modules.compliance import Compliance
from modules.identity import Identity
from modules.naming import Naming
from stacks.providers import aws_provider


def stack_name(environment: str) -> str:
    return f"bootstrap-{environment}"


class AccountBootstrapStack(TerraformStack):
    def __init__(self, scope: Construct, id_: str, *, env: Environment, state: StateBackendConfig) -> None:
        super().__init__(scope, id_)
        LocalBackend(self, path=f"../../../terraform.{id_}.tfstate")
        aws_provider(self, "aws", region=env.region, account_id=env.account_id, environment=env.name)
        identity = Identity(
            self,
            "identity",
            naming=Naming(env.name, env.account_id, env.region),
            config=env.identity,
            dr_region=env.dr_region,
            state_role_arn=state.role_arn_for(env.name),
            state_read_role_arn=state.read_role_arn_for(env.name),
        )
        # Account-wide controls, applied by the administrator: the deploy role can neither create nor stop them.
        compliance = Compliance(
            self,
            "compliance",
            naming=Naming(env.name, env.account_id, env.region),
            config=env.compliance,
            key_deletion_window_days=env.security.key_deletion_window_days,
            disposable=not env.production,
        )
        if compliance.trail:
            TerraformOutput(self, "audit_trail_arn", value=compliance.trail.arn)
        if compliance.trail_bucket:
            TerraformOutput(self, "audit_bucket", value=compliance.trail_bucket.name)
        # What the repository's variables need: AWS_DEPLOY_ROLE_<ENV> and AWS_PLAN_ROLE_<ENV>.
        TerraformOutput(self, "deploy_role_arn", value=identity.deploy_role.arn)
        TerraformOutput(self, "plan_role_arn", value=identity.plan_role.arn)
        TerraformOutput(self, "refresh_role_arn", value=identity.refresh_role.arn)  # AWS_REFRESH_ROLE_<ENV>
        TerraformOutput(self, "permissions_boundary_arn", value=identity.boundary.arn)
