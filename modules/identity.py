"""Identity of one environment account: GitHub OIDC, the CI deploy role, the read-only plan role,
and the permissions boundary every role the deploy role creates must carry.

An administrator applies this once per account (`make bootstrap-account ENV=…`), before anything
else there, as `cdk bootstrap` does for AWS CDK: a deployment never depends on an identity it
creates itself. The deploy role can deploy its environment and no more:

- platform services only in the environment's regions (primary, DR, us-east-1 for the edge);
- roles only under `video-ingest-<env>-*`, and only with the boundary attached (`iam:PermissionsBoundary`);
- `iam:PassRole` only to the services that run the environment's roles (`iam:PassedToService`);
- service-linked roles only for the services the stack uses (`iam:AWSServiceName`);
- never its own role, the plan role or the boundary (explicit deny), never removing a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from modules import checkov
from modules.database_proxy import PROXY_ROLE
from modules.limits import Doc, Pattern, Range
from modules.naming import Naming
from modules.policy import policy, statement, web_identity_trust

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
REPOSITORY = Pattern(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", "a GitHub 'org/repo' (no wildcards)")
EDGE_REGION = "us-east-1"  # global services (IAM, CloudFront, Route 53, Cost Explorer) answer here
# Services Terraform manages for an environment stack (the deploy role may use them in its regions).
PLATFORM_SERVICES = (
    "acm",
    "apigateway",
    "application-autoscaling",
    "backup",
    "backup-storage",
    "budgets",
    "ce",
    "cloudfront",
    "cloudwatch",
    "ec2",
    "ecr",
    "ecs",
    "elasticloadbalancing",
    "events",
    "kms",
    "logs",
    "rds",
    "route53",
    "s3",
    "secretsmanager",
    "servicediscovery",
    "sns",
    "sqs",
    "wafv2",
    "xray",
)
# What the environment's own roles (tasks, RDS monitoring, flow logs, replication, backup, operators)
# may do at most: the platform services plus the data-plane prefixes those roles use.
BOUNDARY_SERVICES = (*PLATFORM_SERVICES, "rds-db", "tag")
# Services the environment's roles are passed to (iam:PassRole) ...
PASSED_TO_SERVICES = (
    "apigateway.amazonaws.com",
    "backup.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "monitoring.rds.amazonaws.com",
    "s3.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
)
# ... and the service-linked roles AWS creates on the caller's behalf on first use in a fresh account. Not AWS
# Backup's AWSServiceRoleForBackup: AWS Backup creates it only when cross-account management or Amazon EFS
# automatic backup is set up (AWS Backup developer guide, "Service-linked roles for AWS Backup"); this platform
# backs up RDS and copies to another region of the same account, with its own service role (modules/backup.py).
SERVICE_LINKED_ROLES = (
    "ecs.amazonaws.com",
    "ecs.application-autoscaling.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "ops.apigateway.amazonaws.com",
    "rds.amazonaws.com",
)
# IAM writes that the role-scoped statements allow; denied on the bootstrap roles themselves.
ROLE_WRITES = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PassRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)
POLICY_WRITES = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
)
# Writes whose authorization carries the role's boundary (iam:PermissionsBoundary).
BOUNDED_WRITES = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
)
ROLE_UPKEEP = (
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:ListRolePolicies",
    "iam:ListRoleTags",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)
# Reads a pull-request plan must never make, although ReadOnlyAccess allows them: data, not configuration.
DATA_READS = (
    "apigateway:GET",
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:PartiQLSelect",
    "dynamodb:Query",
    "dynamodb:Scan",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "logs:GetLogRecord",
    "logs:GetQueryResults",
    "logs:StartLiveTail",
    "logs:StartQuery",
    "rds:DownloadDBLogFilePortion",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "secretsmanager:GetSecretValue",
    "sqs:ReceiveMessage",
)


@dataclass(frozen=True, kw_only=True)
class IdentityConfig:
    """Inputs of the account bootstrap. Every default is the prod-safe choice."""

    ci_repository: Annotated[
        str, REPOSITORY, Doc('GitHub "org/repo" whose workflows deploy this environment (required)')
    ]
    create_oidc_provider: Annotated[
        bool, Doc("false when the account already has GitHub's OIDC provider (one per account)")
    ] = True
    deploy_session_hours: Annotated[
        int, Range(1, 12, "hours"), Doc("deploy role session: longer than the longest apply")
    ] = 3


def deploy_regions(region: str, dr_region: str) -> list[str]:
    return sorted({region, dr_region, EDGE_REGION})


class Identity(Construct):
    """Exposes `deploy_role`, `plan_role`, `refresh_role`, `boundary`, `oidc_provider_arn`; ids are a contract."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: IdentityConfig,
        dr_region: str,
        state_role_arn: str,
        state_read_role_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        self._naming = naming
        regions = deploy_regions(naming.region, dr_region)
        self.oidc_provider_arn = f"arn:aws:iam::{naming.account_id}:oidc-provider/{GITHUB_OIDC_HOST}"
        self._oidc_provider = self._github_oidc_provider() if config.create_oidc_provider else None
        self.boundary = self._boundary(regions)
        self.deploy_role = self._deploy_role(config, regions, state_role_arn)
        self.plan_role = self._plan_role(config, state_read_role_arn)
        self.refresh_role = self._refresh_role(config, state_read_role_arn)

    def _github_oidc_provider(self) -> IamOpenidConnectProvider:
        return IamOpenidConnectProvider(
            # IAM fetches GitHub's certificate thumbprint itself (thumbprint_list optional since provider 5.81).
            self,
            "github-oidc",
            url=f"https://{GITHUB_OIDC_HOST}",
            client_id_list=["sts.amazonaws.com"],
        )

    def _boundary(self, regions: list[str]) -> IamPolicy:
        boundary = IamPolicy(
            self,
            "boundary",
            name=self._naming.name("boundary"),
            description="Most any role of this environment may do; roles without it "
            "cannot be created by the deploy role",
            policy=boundary_policy(self._naming, regions),
        )
        for check, reason in BOUNDARY_SKIPS.items():
            checkov.skip(boundary, check, reason)
        return boundary

    def _deploy_role(self, config: IdentityConfig, regions: list[str], state_role_arn: str) -> IamRole:
        # The role that writes is reachable only from jobs of the GitHub environment `<env>`, the one with
        # required reviewers: its OIDC subject is `repo:<org/repo>:environment:<env>` whatever the branch, and
        # GitHub issues it only once the reviewers approved the job. `<env>-plan` (no reviewers; any branch may
        # name it) gets the refresh role below, which reads and never writes (docs/identities.md).
        role = self._github_role(
            "deploy-role",
            "deploy",
            [f"repo:{config.ci_repository}:environment:{self._naming.environment}"],
            "CI: terraform plan/apply of this environment only",
            config.deploy_session_hours,
        )
        for name, document in deploy_policies(self._naming, regions, state_role_arn).items():
            IamRolePolicy(self, f"deploy-{name}", name=name, role=role.id, policy=document)
        return role

    def _plan_role(self, config: IdentityConfig, state_read_role_arn: str) -> IamRole:
        role = self._github_role(
            "plan-role",
            "plan",
            [f"repo:{config.ci_repository}:pull_request"],
            "Pull requests: terraform plan -lock=false against real state; reads configuration only",
            1,
        )
        IamRolePolicyAttachment(
            self, "plan-read-only", role=role.name, policy_arn="arn:aws:iam::aws:policy/ReadOnlyAccess"
        )
        IamRolePolicy(self, "plan-policy", name="plan", role=role.id, policy=plan_policy(state_read_role_arn))
        return role

    def _refresh_role(self, config: IdentityConfig, state_read_role_arn: str) -> IamRole:
        # promote.yml's plan job: a refreshing plan against real state, for the reviewers of `<env>`. It reads
        # what a refresh reads (API Gateway, the environment's placeholder secret versions) and writes nothing:
        # ReadOnlyAccess, the read-only state role, -lock=false.
        role = self._github_role(
            "refresh-role",
            "refresh",
            [f"repo:{config.ci_repository}:environment:{self._naming.environment}-plan"],
            "CI: the promotion's refreshing plan (read-only, no lock) for the reviewers",
            1,
        )
        IamRolePolicyAttachment(
            self, "refresh-read-only", role=role.name, policy_arn="arn:aws:iam::aws:policy/ReadOnlyAccess"
        )
        IamRolePolicy(
            self,
            "refresh-policy",
            name="refresh",
            role=role.id,
            policy=refresh_policy(self._naming, state_read_role_arn),
        )
        return role

    def _github_role(self, id_: str, purpose: str, subjects: list[str], description: str, hours: int) -> IamRole:
        """A role GitHub Actions jobs reach by web identity: exact audience and subject, no wildcards."""
        return IamRole(
            self,
            id_,
            name=self._naming.name(purpose),
            description=description,
            max_session_duration=hours * 3600,
            assume_role_policy=web_identity_trust(
                self.oidc_provider_arn, audience="sts.amazonaws.com", subjects=subjects, sid="GitHubActionsOidc"
            ),
            depends_on=[self._oidc_provider] if self._oidc_provider else None,
        )


BOUNDARY_SKIPS = {
    "CKV_AWS_355": "Permissions boundary: a cap, not a grant (it allows nothing by itself); resource scoping "
    "lives in each role's own policy.",
}


def boundary_policy(naming: Naming, regions: list[str]) -> str:
    return policy(
        statement(
            "PlatformServicesInEnvironmentRegions",
            [f"{service}:*" for service in BOUNDARY_SERVICES],
            "*",
            condition={
                "StringEquals": {"aws:RequestedRegion": regions},
                # Nothing in another account (a bucket elsewhere, say), whatever a role's policy says.
                "StringEqualsIfExists": {"aws:ResourceAccount": naming.account_id},
            },
        ),
        # Operators read IAM (IAMReadOnlyAccess); nothing under the boundary writes it.
        statement("ReadIam", ["iam:Get*", "iam:List*"], "*"),
    )


def deploy_policies(naming: Naming, regions: list[str], state_role_arn: str) -> dict[str, str]:
    """The deploy role's inline policies, by name."""
    account = naming.account_id
    roles = naming.role_arn("*")
    bootstrap_roles = [naming.deploy_role_arn, naming.plan_role_arn, naming.refresh_role_arn]
    return {
        "deploy-platform": policy(
            statement(
                "ManagePlatformServices",
                [f"{service}:*" for service in PLATFORM_SERVICES],
                "*",
                condition={
                    "StringEquals": {"aws:RequestedRegion": regions},
                    "StringEqualsIfExists": {"aws:ResourceAccount": account},
                },
            )
        ),
        "deploy-iam": policy(
            statement(
                "BoundedRoleWrites",
                BOUNDED_WRITES,
                [roles],
                condition={
                    "StringEquals": {"iam:PermissionsBoundary": naming.boundary_arn},
                    "ArnLikeIfExists": {"iam:PolicyARN": "arn:aws:iam::aws:policy/*"},
                },
            ),
            statement("RoleUpkeep", ROLE_UPKEEP, [roles]),
            statement(
                "PassRolesToPlatformServices",
                ["iam:PassRole"],
                [roles],
                condition={"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}},
            ),
            # RDS Proxy's role only (modules/database_proxy.py): rds.amazonaws.com is passed no other.
            statement(
                "PassProxyRoleToRds",
                ["iam:PassRole"],
                [naming.role_arn(PROXY_ROLE)],
                condition={"StringEquals": {"iam:PassedToService": "rds.amazonaws.com"}},
            ),
            statement(
                "ServiceLinkedRolesOnFirstUse",
                ["iam:CreateServiceLinkedRole"],
                [f"arn:aws:iam::{account}:role/aws-service-role/*"],
                condition={"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
            ),
            statement("NeverTheBootstrapRoles", ROLE_WRITES, bootstrap_roles, effect="Deny"),
            statement("NeverTheBoundary", POLICY_WRITES, [naming.boundary_arn], effect="Deny"),
            statement("NeverRemoveABoundary", ["iam:DeleteRolePermissionsBoundary"], "*", effect="Deny"),
        ),
        # Cross-account: the state role's trust admits this role, and this role may assume it.
        "deploy-state": policy(statement("ReachState", ["sts:AssumeRole"], [state_role_arn])),
    }


# What a refresh of the environment's state reads beyond configuration: every API Gateway resource is read with
# apigateway:GET (one action for configuration and API key values alike), and a secret version by its value.
REFRESH_READS = ("apigateway:GET", "secretsmanager:GetSecretValue")


def refresh_policy(naming: Naming, state_read_role_arn: str) -> str:
    return policy(
        statement("ReachStateReadOnly", ["sts:AssumeRole"], [state_read_role_arn]),
        statement(
            "ReadEnvironmentSecretVersions",
            ["secretsmanager:GetSecretValue"],
            [naming.arn("secretsmanager", f"secret:{naming.secret('*')}")],
        ),
        # The secrets are encrypted with the environment's key, whose policy delegates to IAM; ReadOnlyAccess has
        # no kms:Decrypt. The key is created by the environment stack after this one, so its id is unknown here:
        # kms:ResourceAliases matches the aliases associated with the key, whatever the request names (a Decrypt
        # names no key at all, the ciphertext does, so kms:RequestAlias would never be present). Only through
        # Secrets Manager in the environment's region (kms:ViaService).
        statement(
            "DecryptEnvironmentSecretsViaSecretsManager",
            ["kms:Decrypt"],
            [naming.arn("kms", "key/*")],
            condition={
                "StringEquals": {"kms:ViaService": f"secretsmanager.{naming.region}.amazonaws.com"},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": naming.key_alias()},
            },
        ),
        statement("NeverReadOtherData", [a for a in DATA_READS if a not in REFRESH_READS], "*", effect="Deny"),
        # Read-only, whatever a managed policy may grow into.
        statement("NeverWrite", ROLE_WRITES + POLICY_WRITES, "*", effect="Deny"),
    )


def plan_policy(state_read_role_arn: str) -> str:
    return policy(
        statement("ReachStateReadOnly", ["sts:AssumeRole"], [state_read_role_arn]),
        statement("NeverReadData", DATA_READS, "*", effect="Deny"),
    )
