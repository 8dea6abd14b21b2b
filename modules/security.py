"""Security: the environment's KMS key, IAM roles (ECS, operators, CI) and app secrets."""
from __future__ import annotations

import re
from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from modules import checkov
from modules.naming import Naming, assume_role_policy, policy, statement

# Services that may use the environment key on behalf of a caller in this account (kms:ViaService).
KEY_SERVICES = ("s3", "rds", "sqs", "sns", "secretsmanager", "ecr", "logs", "backup", "dynamodb", "ecs")


@dataclass(frozen=True, kw_only=True)
class SecurityConfig:
    """Inputs. Every default is the prod-safe choice."""
    key_deletion_window_days: int = 30          # KMS waiting period before a scheduled key deletion (7-30)
    trusted_account_ids: tuple[str, ...] = ()   # accounts whose MFA-authenticated users may assume the operator role
    ci_repository: str = ""                     # GitHub "org/repo" whose `environment:<env>` jobs may assume the deploy role; empty: no deploy role
    max_session_hours: int = 1                  # operator/deploy role session length (1-12 h)

    def __post_init__(self) -> None:
        if not 7 <= self.key_deletion_window_days <= 30:
            raise ValueError(f"key_deletion_window_days = {self.key_deletion_window_days}: must be 7-30 days")
        for account in self.trusted_account_ids:
            if not (len(account) == 12 and account.isdigit()):
                raise ValueError(f"trusted_account_ids: {account!r}: must be a 12-digit AWS account id")
        if self.ci_repository and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", self.ci_repository):
            raise ValueError(f"ci_repository = {self.ci_repository!r}: must be a GitHub 'org/repo' (no wildcards)")
        if not 1 <= self.max_session_hours <= 12:
            raise ValueError(f"max_session_hours = {self.max_session_hours}: must be 1-12 hours")


class Security(Construct):
    """Exposes `key` (shared CMK), `key_arn`, and role helpers; ids are a contract."""

    def __init__(self, scope: Construct, id_: str, *, naming: Naming, config: SecurityConfig,
                 protect: bool, dr_provider=None, dr_region: str = "") -> None:
        super().__init__(scope, id_)
        self._naming = naming
        self._key_statements: list[dict] = []
        self.key = KmsKey(
            self, "key",
            description=f"{naming.prefix}: data at rest (S3, RDS, logs, queues, secrets, images)",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=config.key_deletion_window_days,
            policy=self._key_policy(naming.region),
            lifecycle=TerraformResourceLifecycle(prevent_destroy=protect),
        )
        self.key_arn = self.key.arn
        KmsAlias(self, "key-alias", name=f"alias/{naming.prefix}", target_key_id=self.key.key_id)
        self._config = config
        self.dr_key = None
        if dr_provider is not None:
            # The DR region's key: replicas of the video bucket and of the database backups.
            self.dr_key = KmsKey(
                self, "dr-key", provider=dr_provider, description=f"{naming.prefix}: DR-region replicas and backups",
                enable_key_rotation=True, rotation_period_in_days=365,
                deletion_window_in_days=config.key_deletion_window_days, policy=self._key_policy(dr_region),
                lifecycle=TerraformResourceLifecycle(prevent_destroy=protect))
            KmsAlias(self, "dr-key-alias", provider=dr_provider, name=f"alias/{naming.prefix}-dr",
                     target_key_id=self.dr_key.key_id)

    def add_key_statements(self, *statements: dict) -> None:
        """Key-policy grants to principals created after the key (e.g. CloudFront reading SSE-KMS videos)."""
        self._key_statements.extend(statements)
        self.key.policy = self._key_policy(self._naming.region)

    def _key_policy(self, region: str) -> str:
        n = self._naming
        return policy(
            # Without this statement IAM policies cannot grant use of the key (and nobody can manage it).
            statement("AccountAdministersKey", ["kms:*"], "*", principal={"AWS": n.root_arn}),
            statement("CloudWatchLogsEncrypt",
                      ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                      "*", principal={"Service": f"logs.{region}.amazonaws.com"},
                      condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                             n.arn("logs", "log-group:*", region=region)}}),
            *(self._key_statements if region == n.region else ()),
        )

    def service_role(self, id_: str, *, service: str, description: str) -> IamRole:
        """A role only `service` (e.g. ecs-tasks.amazonaws.com) can assume, from this account only."""
        return IamRole(self, id_, name=self._naming.name(id_), description=description,
                       assume_role_policy=assume_role_policy(service, source_account=self._naming.account_id))

    def grant(self, role: IamRole, id_: str, *statements: dict) -> IamRolePolicy:
        """An inline policy: least-privilege statements that live and die with the role."""
        return IamRolePolicy(self, f"{id_}-policy", name=id_, role=role.id, policy=policy(*statements))

    def operator_roles(self, *, state_bucket_arn: str, lock_table_arn: str) -> None:
        """The MFA-guarded operator role and the CI deploy role (cross-account, by assume-role)."""
        n, config = self._naming, self._config
        trusted = [f"arn:aws:iam::{account}:root" for account in (n.account_id, *config.trusted_account_ids)]
        self.operator_role = IamRole(
            self, "operator-role", name=n.name("operator"),
            description="Operators: read everything, change the platform, only with MFA",
            max_session_duration=config.max_session_hours * 3600,
            assume_role_policy=policy({
                "Sid": "TrustedAccountsWithMfa", "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"AWS": trusted},
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"},
                              "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}))
        checkov.skip(self.operator_role, "CKV_AWS_61", "Trusts named accounts (this one and config's "
                     "trusted_account_ids), whose IAM must also allow it, and only with MFA under an hour old.")
        # PowerUserAccess, not AdministratorAccess: operators cannot rewrite IAM (that goes through CI).
        for suffix, managed in (("power-user", "PowerUserAccess"), ("iam-read", "IAMReadOnlyAccess")):
            IamRolePolicyAttachment(self, f"operator-{suffix}", role=self.operator_role.name,
                                    policy_arn=f"arn:aws:iam::aws:policy/{managed}")

        if not config.ci_repository:
            return
        oidc_provider = f"arn:aws:iam::{n.account_id}:oidc-provider/token.actions.githubusercontent.com"
        # Exact subject: only jobs of this repository running in this GitHub environment (no wildcards).
        subject = f"repo:{config.ci_repository}:environment:{n.environment}"
        self.deploy_role = IamRole(
            self, "deploy-role", name=n.name("deploy"),
            description="CI: terraform plan/apply of this environment only",
            max_session_duration=config.max_session_hours * 3600,
            assume_role_policy=policy({
                "Sid": "GitHubActionsOidc", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": oidc_provider},
                "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                               "token.actions.githubusercontent.com:sub": subject}}}))
        self._deploy_policies(state_bucket_arn, lock_table_arn)

    def _deploy_policies(self, state_bucket_arn: str, lock_table_arn: str) -> None:
        n = self._naming
        own = f"{n.prefix}-*"
        regions = {"StringEquals": {"aws:RequestedRegion": sorted({n.region, "us-east-1"})}}
        # Terraform manages these services for this stack; names and tags scope what it may touch.
        managed_services = ["acm", "apigateway", "application-autoscaling", "backup", "budgets", "ce",
                            "cloudfront", "cloudwatch", "ec2", "ecr", "ecs", "elasticloadbalancing", "events",
                            "kms", "logs", "rds", "s3", "secretsmanager", "servicediscovery", "sns", "sqs",
                            "wafv2", "xray"]
        self.grant(self.deploy_role, "deploy-platform", statement(
            "ManagePlatformServices", [f"{service}:*" for service in managed_services],
            "*", condition=regions | {"StringEqualsIfExists": {"aws:ResourceAccount": n.account_id}}))
        self.grant(self.deploy_role, "deploy-iam", statement(
            "ManageProjectRoles",
            ["iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy",
             "iam:DetachRolePolicy", "iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies",
             "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies", "iam:PassRole", "iam:PutRolePolicy",
             "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole"],
            [f"arn:aws:iam::{n.account_id}:role/{own}"]))
        self.grant(self.deploy_role, "deploy-state", statement(
            "ReadWriteOwnState", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [f"{state_bucket_arn}/{n.environment}/*"]), statement(
            "ListState", ["s3:ListBucket"], [state_bucket_arn]), statement(
            "LockState", ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"], [lock_table_arn]))
