"""Connection pooling: RDS Proxy in front of the primary, TLS and IAM authentication required of every client.

The app never holds a database password and never the master secret: its tasks sign an IAM auth token
(`rds-db:connect` on the proxy's resource id, `prx-…`) for the app's own database user and connect to the proxy
with TLS; the proxy logs in to the primary as that user with the password in `secret` (the app user's credentials,
put once by an operator: docs/database-access.md), which only the proxy's role can read and decrypt.

Reads: a proxy's READ_ONLY endpoint exists for Aurora clusters only (requests to one fail when the proxy's target
is an RDS instance), so the replicas are reached directly, by their own addresses, with IAM auth as a read-only
user (`Database.grant_connect_replicas`): docs/database-access.md says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cdktf import Fn, TerraformLocal
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.db_proxy import DbProxy, DbProxyAuth
from cdktf_cdktf_provider_aws.db_proxy_default_target_group import (
    DbProxyDefaultTargetGroup,
    DbProxyDefaultTargetGroupConnectionPoolConfig,
)
from cdktf_cdktf_provider_aws.db_proxy_target import DbProxyTarget
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret
from constructs import Construct

from modules import checkov
from modules.limits import Doc, Range
from modules.naming import Naming
from modules.policy import Grantee, policy, service_trust, statement
from modules.validation import LOG_RETENTION

PROXY_ROLE = "db-proxy"  # naming.role_arn(PROXY_ROLE): the only role the deploy role may pass to rds.amazonaws.com


@dataclass(frozen=True, kw_only=True)
class DatabaseProxyConfig:
    """Inputs of the RDS Proxy ([database_proxy]). Limits are AWS's (CreateDBProxy, ModifyDBProxyTargetGroup)."""

    idle_client_timeout_seconds: Annotated[
        int, Range(1, 28800, "s"), Doc("a client idle this long is disconnected")
    ] = 1800
    connection_borrow_timeout_seconds: Annotated[
        int, Range(0, 3600, "s"), Doc("a client waits this long for a pooled connection, then fails")
    ] = 120
    max_connections_percent: Annotated[
        int, Range(1, 100, "%"), Doc("of the primary's max_connections; the rest stays for operators and RDS")
    ] = 90
    max_idle_connections_percent: Annotated[
        int, Range(0, 100, "%"), Doc("idle connections kept open, at most max_connections_percent")
    ] = 50
    log_retention_days: Annotated[int, LOG_RETENTION, Doc("the proxy's log group (/aws/rds/proxy/<name>)")] = 365

    def __post_init__(self) -> None:
        if self.max_idle_connections_percent > self.max_connections_percent:
            raise ValueError(
                f"max_idle_connections_percent = {self.max_idle_connections_percent}: must be at most "
                f"max_connections_percent ({self.max_connections_percent})"
            )


class DatabaseProxy(Construct):
    """Exposes `proxy` (its `endpoint` is the app's DATABASE_HOST), `resource_id` (`prx-…`), `role`,
    `log_group`; `grant_connect(grantee, user)`."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: DatabaseProxyConfig,
        instance_identifier: str,
        secret: SecretsmanagerSecret,
        subnet_ids: list[str],
        security_group_id: str,
        kms_key_arn: str,
        depends_on: list | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self._naming = naming
        name = naming.name("db-proxy")
        self.role = self._role(secret, kms_key_arn)
        # RDS writes the proxy's log to this group, creating it unencrypted and kept forever if it is missing.
        self.log_group = CloudwatchLogGroup(
            self,
            "log-group",
            name=f"/aws/rds/proxy/{name}",
            kms_key_id=kms_key_arn,
            retention_in_days=config.log_retention_days,
        )
        checkov.short_log_retention(self.log_group, config.log_retention_days, naming.environment)
        self.proxy = DbProxy(
            self,
            "proxy",
            name=name,
            engine_family="POSTGRESQL",
            role_arn=self.role.arn,
            require_tls=True,
            idle_client_timeout=config.idle_client_timeout_seconds,
            debug_logging=False,
            vpc_subnet_ids=subnet_ids,
            vpc_security_group_ids=[security_group_id],
            auth=[
                DbProxyAuth(
                    auth_scheme="SECRETS",
                    iam_auth="REQUIRED",
                    secret_arn=secret.arn,
                    description="The app's database user: clients sign IAM tokens for it",
                )
            ],
            depends_on=[self.log_group, *(depends_on or [])],
        )
        # arn:aws:rds:<region>:<account>:db-proxy:prx-<id>: IAM auth tokens name this id, not the proxy's name.
        # A local: the expression's quotes would otherwise sit inside the JSON policy text that names it.
        self.resource_id = TerraformLocal(self, "resource-id", Fn.element(Fn.split(":", self.proxy.arn), 6)).as_string
        self._pool(config, instance_identifier)

    def _role(self, secret: SecretsmanagerSecret, kms_key_arn: str) -> IamRole:
        """The proxy's role: reads and decrypts the app user's secret, nothing else."""
        naming = self._naming
        role = IamRole(
            self,
            "role",
            name=naming.name(PROXY_ROLE),
            description="RDS Proxy: reads the app database user's secret, nothing else",
            assume_role_policy=service_trust("rds.amazonaws.com", source_account=naming.account_id),
        )
        IamRolePolicy(
            self,
            "role-policy",
            name="read-app-user-secret",
            role=role.id,
            policy=policy(
                statement("ReadAppUserSecret", ["secretsmanager:GetSecretValue"], [secret.arn]),
                statement(
                    "DecryptThroughSecretsManager",
                    ["kms:Decrypt"],
                    [kms_key_arn],
                    condition={"StringEquals": {"kms:ViaService": f"secretsmanager.{naming.region}.amazonaws.com"}},
                ),
            ),
        )
        return role

    def _pool(self, config: DatabaseProxyConfig, instance_identifier: str) -> None:
        """The default target group's pool settings, and the primary as its one target."""
        target_group = DbProxyDefaultTargetGroup(
            self,
            "target-group",
            db_proxy_name=self.proxy.name,
            connection_pool_config=DbProxyDefaultTargetGroupConnectionPoolConfig(
                connection_borrow_timeout=config.connection_borrow_timeout_seconds,
                max_connections_percent=config.max_connections_percent,
                max_idle_connections_percent=config.max_idle_connections_percent,
            ),
        )
        DbProxyTarget(
            self,
            "target",
            db_proxy_name=self.proxy.name,
            target_group_name=target_group.name,
            db_instance_identifier=instance_identifier,
        )

    def grant_connect(self, grantee: Grantee, *, user: str) -> None:
        """Connect to the proxy as database `user` with an IAM auth token (TLS; no password)."""
        grantee.add_to_policy(
            statement(
                "ConnectThroughProxyWithIamAuth",
                ["rds-db:connect"],
                [self._naming.arn("rds-db", f"dbuser:{self.resource_id}/{user}")],
            )
        )
