"""Disaster recovery for the database: an AWS Backup plan whose copies land in a vault in the DR region.

With automated backups (PITR, 5-minute RPO) and, in prod, their cross-region
replication (database module), this gives the spec's RPO 1 h / RTO 4 h even if the
primary region is lost: restore from the DR vault or the replicated backups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.backup_plan import (
    BackupPlan,
    BackupPlanRule,
    BackupPlanRuleCopyAction,
    BackupPlanRuleCopyActionLifecycle,
    BackupPlanRuleLifecycle,
)
from cdktf_cdktf_provider_aws.backup_selection import BackupSelection
from cdktf_cdktf_provider_aws.backup_vault import BackupVault
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from modules.limits import Doc, Pattern, Range
from modules.naming import Naming
from modules.policy import service_trust

SCHEDULE = Pattern(r"cron\(.+\)|rate\(.+\)", "a cron(...) or rate(...) expression")
RETENTION = Range(1, 36500, "days")


@dataclass(frozen=True, kw_only=True)
class BackupConfig:
    """Inputs. Every default is the prod-safe choice."""

    enabled: Annotated[bool, Doc("AWS Backup plan with a DR-region copy")] = True
    schedule: Annotated[str, SCHEDULE, Doc("hourly: the RPO of 1 hour, also from the DR copy")] = "cron(0 * * * ? *)"
    retention_days: Annotated[int, RETENTION, Doc("in the primary vault")] = 35
    dr_retention_days: Annotated[int, RETENTION, Doc("copies in the DR-region vault")] = 35


class Backup(Construct):
    """Exposes `plan`, `vault`, `dr_vault`."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: BackupConfig,
        resource_arns: list[str],
        kms_key_arn: str,
        dr_kms_key_arn: str,
        dr_provider,
        protect: bool,
    ) -> None:
        super().__init__(scope, id_)
        # Protected (prevent_destroy) or disposable (force_destroy: its recovery points go with it), never neither.
        keep = TerraformResourceLifecycle(prevent_destroy=protect)
        self.vault = BackupVault(
            self,
            "vault",
            name=naming.name("backups"),
            kms_key_arn=kms_key_arn,
            force_destroy=not protect,
            lifecycle=keep,
        )
        self.dr_vault = BackupVault(
            self,
            "dr-vault",
            name=naming.name("backups-dr"),
            kms_key_arn=dr_kms_key_arn,
            force_destroy=not protect,
            provider=dr_provider,
            lifecycle=keep,
        )
        self.plan = self._plan(naming, config)
        self._select(naming, resource_arns)

    def _plan(self, naming: Naming, config: BackupConfig) -> BackupPlan:
        """Hourly into the vault, each recovery point copied to the DR-region vault."""
        return BackupPlan(
            self,
            "plan",
            name=naming.name("database"),
            rule=[
                BackupPlanRule(
                    rule_name="hourly-with-dr-copy",
                    target_vault_name=self.vault.name,
                    schedule=config.schedule,
                    start_window=60,
                    completion_window=180,
                    lifecycle=BackupPlanRuleLifecycle(delete_after=config.retention_days),
                    copy_action=[
                        BackupPlanRuleCopyAction(
                            destination_vault_arn=self.dr_vault.arn,
                            lifecycle=BackupPlanRuleCopyActionLifecycle(delete_after=config.dr_retention_days),
                        )
                    ],
                )
            ],
        )

    def _select(self, naming: Naming, resource_arns: list[str]) -> None:
        """The role AWS Backup runs as, and what the plan backs up."""
        role = IamRole(
            self,
            "role",
            name=naming.name("backup"),
            description="AWS Backup for the database",
            assume_role_policy=service_trust("backup.amazonaws.com", source_account=naming.account_id),
        )
        for suffix in ("Backup", "Restores"):
            IamRolePolicyAttachment(
                self,
                f"role-{suffix.lower()}",
                role=role.name,
                policy_arn=(f"arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyFor{suffix}"),
            )
        BackupSelection(
            self,
            "selection",
            name=naming.name("database"),
            plan_id=self.plan.id,
            iam_role_arn=role.arn,
            resources=resource_arns,
        )
