"""Security: the environment's KMS key, IAM roles (ECS, operators, CI) and app secrets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret
from cdktf_cdktf_provider_aws.secretsmanager_secret_version import SecretsmanagerSecretVersion
from constructs import Construct

from modules import checkov
from modules.aspects import rendered_at_synth
from modules.limits import Doc, OneOf, Range
from modules.naming import Naming
from modules.policy import Grantee, ServiceGrant, account_trust, policy, statement
from modules.validation import ACCOUNT_ID

# The first value of an app secret: tasks that read it can start (ECS fails a task whose secret has no value),
# and nothing in code, plan or state is the real one. docs/first-deploy.md "Secrets": how operators put the real value.
SECRET_PLACEHOLDER = "placeholder: put the real value with `aws secretsmanager put-secret-value` (README: Secrets)"
KEY, DR_KEY, EDGE_KEY = "key", "dr-key", "edge-key"  # construct ids of the environment's keys
RECOVERY_WINDOW = OneOf((0, *range(7, 31)), text="0 (delete at once) or 7-30 days (Secrets Manager's recovery window)")


@dataclass(frozen=True, kw_only=True)
class SecurityConfig:
    """Inputs. Every default is the prod-safe choice."""

    key_deletion_window_days: Annotated[
        int, Range(7, 30, "days"), Doc("KMS waiting period before a scheduled key deletion")
    ] = 30
    trusted_account_ids: Annotated[
        tuple[Annotated[str, ACCOUNT_ID], ...],
        Doc("accounts whose MFA-authenticated users may assume the operator role"),
    ] = ()
    max_session_hours: Annotated[int, Range(1, 12, "hours"), Doc("operator role session length")] = 1
    secret_recovery_window_days: Annotated[
        int,
        RECOVERY_WINDOW,
        Doc(
            "a deleted secret can be restored this long; 0: deleted at once, so a re-created environment can reuse the "
            "name (not in production)"
        ),
    ] = 30


class Security(Construct):
    """Exposes `key` (the environment's CMK) and `key_arn`, `dr_key` (None without a DR region), `edge_key`
    (us-east-1), `secret_versions`; `grant_to_service()` and `grant_encrypt_decrypt()` for the keys' users;
    `app_secret()` and `operator_role()`. Ids are a contract."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: SecurityConfig,
        protect: bool,
        edge_region: str,
        edge_provider,
        dr_region: str,
        dr_provider=None,
    ) -> None:
        super().__init__(scope, id_)
        self._naming, self._config, self._protect = naming, config, protect
        self._keys: dict[str, tuple[KmsKey, str, list[dict]]] = {}
        self.secret_versions: dict[str, SecretsmanagerSecretVersion] = {}
        self.key = self._key_in(
            KEY,
            region=naming.region,
            alias=naming.key_alias(),
            description=f"{naming.prefix}: data at rest (S3, RDS, logs, queues, secrets, images)",
        )
        self.key_arn = self.key.arn
        self.dr_key: KmsKey | None = None
        if dr_provider:
            self.dr_key = self._key_in(
                DR_KEY,
                provider=dr_provider,
                region=dr_region,
                alias=naming.key_alias("dr"),
                description=f"{naming.prefix}: DR-region replicas and backups",
            )
        self.edge_key = self._key_in(
            EDGE_KEY,
            provider=edge_provider,
            region=edge_region,
            alias=naming.key_alias("edge"),
            description=f"{naming.prefix}: us-east-1 (edge alarms, CloudFront WAF logs)",
        )

    @property
    def dr_key_arn(self) -> str | None:
        return self.dr_key.arn if self.dr_key else None

    def _key_in(self, id_: str, *, region: str, alias: str, description: str, provider=None) -> KmsKey:
        """A customer-managed key with yearly rotation in `region` (the DR region's replicas, us-east-1's edge logs)."""
        extra: list[dict] = []  # the services' grants (grant_to_service), added until the policy renders at synth
        key = KmsKey(
            self,
            id_,
            provider=provider,
            description=description,
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=self._config.key_deletion_window_days,
            policy=rendered_at_synth(lambda: self._key_policy(region, extra)),
            lifecycle=TerraformResourceLifecycle(prevent_destroy=self._protect),
        )
        KmsAlias(self, f"{id_}-alias", provider=provider, name=alias, target_key_id=key.key_id)
        self._keys[id_] = (key, region, extra)
        return key

    def grant_to_service(self, grant: ServiceGrant, *, dr: bool = False, edge: bool = False) -> None:
        """A key-policy grant to AWS services that encrypt or decrypt for resources made after the keys (S3 events
        into the encrypted queue, CloudFront reading SSE-KMS videos, alarms into encrypted topics): on the
        environment key, and with `dr`/`edge` on the DR-region key (where there is one) and the us-east-1 key."""
        for key_id in (KEY, *((DR_KEY,) if dr and self.dr_key else ()), *((EDGE_KEY,) if edge else ())):
            self._keys[key_id][2].append(grant.statement())  # rendered with the key's policy, at synth

    def grant_encrypt_decrypt(self, grantee: Grantee) -> None:
        """Read and write what the environment key encrypts (buckets, queues): an IAM grant, which the key's
        `AccountAdministersKey` statement lets IAM policies give."""
        grantee.add_to_policy(statement("UseEnvironmentKey", ["kms:Decrypt", "kms:GenerateDataKey"], [self.key_arn]))

    def _key_policy(self, region: str, extra: list[dict]) -> str:
        n = self._naming
        logs = ServiceGrant(
            "CloudWatchLogsEncrypt",
            f"logs.{region}.amazonaws.com",
            ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"),
            {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": n.arn("logs", "log-group:*", region=region)}},
        )
        # Without the first statement IAM policies cannot grant use of the key (and nobody can manage it).
        return policy(
            statement("AccountAdministersKey", ["kms:*"], "*", principal={"AWS": n.root_arn}), logs.statement(), *extra
        )

    def app_secret(self, id_: str, *, description: str, rotation_reason: str) -> SecretsmanagerSecret:
        """A secret the application reads at start (ECS `secrets`), encrypted with the environment key.
        Its real value is put out of band (`aws secretsmanager put-secret-value`): never in code or state.
        Until then it holds a placeholder version (`secret_versions[id_]`: services that read the secret
        depend on it), which Terraform writes once and never compares again."""
        secret = SecretsmanagerSecret(
            self,
            id_,
            name=self._naming.secret(id_),
            description=description,
            kms_key_id=self.key_arn,
            # Disposable: deleted at once, so a re-created environment can reuse
            # the fixed name (a scheduled deletion holds it for the window).
            recovery_window_in_days=self._config.secret_recovery_window_days if self._protect else 0,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=self._protect),
        )
        checkov.skip(secret, "CKV2_AWS_57", rotation_reason)
        # The resource tracks its own version id: the real value, a later version, never enters state or a plan.
        self.secret_versions[id_] = SecretsmanagerSecretVersion(
            self,
            f"{id_}-placeholder",
            secret_id=secret.id,
            secret_string=SECRET_PLACEHOLDER,
            lifecycle=TerraformResourceLifecycle(ignore_changes=["secret_string"]),
        )
        return secret

    def operator_role(self) -> IamRole:
        """The MFA-guarded operator role. CI's deploy and plan roles come from the account bootstrap
        (modules/identity.py): a stack never creates the identity that deploys it."""
        n, config = self._naming, self._config
        role = IamRole(
            self,
            "operator-role",
            name=n.name("operator"),
            description="Operators: read everything, change the platform, only with MFA",
            max_session_duration=config.max_session_hours * 3600,
            assume_role_policy=account_trust(
                (n.account_id, *config.trusted_account_ids),
                sid="TrustedAccountsWithMfa",
                condition={
                    "Bool": {"aws:MultiFactorAuthPresent": "true"},
                    "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
                },
            ),
        )
        checkov.skip(
            role,
            "CKV_AWS_61",
            "Trusts named accounts (this one and config's "
            "trusted_account_ids), whose IAM must also allow it, and only with MFA under an hour old.",
        )
        # PowerUserAccess, not AdministratorAccess: operators cannot rewrite IAM (that goes through CI).
        for suffix, managed in (("power-user", "PowerUserAccess"), ("iam-read", "IAMReadOnlyAccess")):
            IamRolePolicyAttachment(
                self, f"operator-{suffix}", role=role.name, policy_arn=f"arn:aws:iam::aws:policy/{managed}"
            )
        return role
