"""Database: PostgreSQL 15 on RDS, encrypted, TLS-only, RDS-managed master password, read replicas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cdktf import DataResource, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.db_instance import DbInstance
from cdktf_cdktf_provider_aws.db_instance_automated_backups_replication import DbInstanceAutomatedBackupsReplication
from cdktf_cdktf_provider_aws.db_parameter_group import DbParameterGroup, DbParameterGroupParameter
from cdktf_cdktf_provider_aws.db_subnet_group import DbSubnetGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from modules import checkov
from modules.limits import Doc, OneOf, Pattern, Range
from modules.naming import Naming
from modules.policy import Grantee, service_trust, statement
from modules.validation import LOG_RETENTION, POSTGRES_15_CLASS

LOG_EXPORTS = ("postgresql", "upgrade")
# Enhanced monitoring writes every instance's OS metrics to this one group of the account and region.
ENHANCED_MONITORING_LOG_GROUP = "RDSOSMetrics"

ENGINE_MAJOR = "15"
# Limits of the fields below (modules/limits.py).
ENGINE_VERSION = Pattern(rf"{ENGINE_MAJOR}(\.\d+)?", "PostgreSQL 15: '15' or '15.<minor>'")
STORAGE_GB = Range(20, 65536, "GB (gp3)")
INSIGHTS_DAYS = OneOf((7, *range(31, 732, 31)), text="7 or a multiple of 31 up to 731")  # 7: the free tier
MONITORING_INTERVAL = OneOf((1, 5, 10, 15, 30, 60))
DAILY_WINDOW = Pattern(r"\d\d:\d\d-\d\d:\d\d", "'hh:mm-hh:mm' (UTC)")
WEEKLY_WINDOW = Pattern(r"[a-z]{3}:\d\d:\d\d-[a-z]{3}:\d\d:\d\d", "'ddd:hh:mm-ddd:hh:mm' (UTC)")


@dataclass(frozen=True, kw_only=True)
class DatabaseConfig:
    """Inputs. Every default is the prod-safe choice (the prod values of the spec)."""

    instance_class: Annotated[
        str, POSTGRES_15_CLASS, Doc("spec: dev db.t3.micro, staging db.t3.small, prod db.r6g.large")
    ] = "db.r6g.large"
    engine_version: Annotated[str, ENGINE_VERSION, Doc('"15": latest 15.x, auto minor upgrades; or a pinned minor')] = (
        ENGINE_MAJOR
    )
    allocated_storage_gb: Annotated[int, STORAGE_GB, Doc("initial gp3 size")] = 50
    max_allocated_storage_gb: Annotated[
        int, Doc("storage autoscaling ceiling: above allocated_storage_gb, at most 65536")
    ] = 500
    multi_az: Annotated[bool, Doc("standby in a second AZ")] = True
    backup_retention_days: Annotated[
        int, Range(0, 35, "days"), Doc("automated backups and point-in-time recovery window")
    ] = 30
    deletion_protection: Annotated[bool, Doc("RDS refuses to delete the instance")] = True
    read_replicas: Annotated[int, Range(0, 5), Doc("read replicas for read-heavy workloads (need backups)")] = 0
    backup_replication: Annotated[
        bool, Doc("copy automated backups to the DR region (cross-region PITR; needs backups)")
    ] = True
    backup_replication_retention_days: Annotated[
        int, Range(1, 35, "days"), Doc("retention of the replicated backups")
    ] = 7
    performance_insights_retention_days: Annotated[int, INSIGHTS_DAYS, Doc("7 is free")] = 7
    monitoring_interval_seconds: Annotated[int, MONITORING_INTERVAL, Doc("enhanced monitoring granularity")] = 60
    backup_window: Annotated[str, DAILY_WINDOW, Doc("daily automated backup window")] = "02:00-03:00"
    maintenance_window: Annotated[str, WEEKLY_WINDOW, Doc("weekly maintenance window")] = "sun:03:30-sun:04:30"
    slow_query_ms: Annotated[int, Range(0), Doc("statements slower than this are logged")] = 500
    final_snapshot: Annotated[
        bool,
        Doc("snapshot on delete, named uniquely per instance; false: none (an environment torn down and re-created)"),
    ] = True
    log_retention_days: Annotated[int, LOG_RETENTION, Doc("the exported PostgreSQL logs and enhanced monitoring")] = 365

    def __post_init__(self) -> None:
        if not self.allocated_storage_gb < self.max_allocated_storage_gb <= 65536:
            raise ValueError(
                f"max_allocated_storage_gb = {self.max_allocated_storage_gb}: must be above "
                f"allocated_storage_gb ({self.allocated_storage_gb}) and at most 65536 (autoscaling)"
            )
        if self.read_replicas and self.backup_retention_days < 1:
            raise ValueError(
                f"read_replicas = {self.read_replicas}: needs backup_retention_days >= 1 "
                f"(got {self.backup_retention_days})"
            )
        if self.backup_replication and self.backup_retention_days < 1:
            raise ValueError(
                f"backup_replication = true: needs backup_retention_days >= 1 (got {self.backup_retention_days})"
            )


class Database(Construct):
    """Exposes `instance`, `replicas` and their `replica_identifiers`, `master_secret_arn` (RDS-managed, rotated),
    `identifier`, `parameter_group`, `backup_replication` (None when off); `grant_connect(role, user)`,
    `grant_connect_replicas(role, user)`. The app reaches the primary through the RDS Proxy only
    (modules/database_proxy.py); `replica_security_group_id` admits the app's reads to the replicas."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: DatabaseConfig,
        subnet_ids: list[str],
        security_group_id: str,
        kms_key_arn: str,
        protect: bool,
        dr_provider=None,
        dr_kms_key_arn: str | None = None,
        replica_security_group_id: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self._replica_security_group_id = replica_security_group_id or security_group_id
        self._naming, self._config, self._kms_key_arn = naming, config, kms_key_arn
        self.identifier = naming.database_identifier
        self.replica_identifiers = tuple(naming.replica_identifier(i + 1) for i in range(config.read_replicas))
        # RDS creates the groups it exports to (and enhanced monitoring's) itself, unencrypted and never expiring:
        # each is declared first, with the key and the retention, and the instances wait for them.
        self.log_groups: dict[str, CloudwatchLogGroup] = {}
        monitoring_logs = self._log_group("enhanced-monitoring-logs", ENHANCED_MONITORING_LOG_GROUP)
        subnet_group = DbSubnetGroup(
            self,
            "subnet-group",
            name=naming.name("db"),
            subnet_ids=subnet_ids,
            description="Database subnets (no route to the internet)",
        )
        self.parameter_group = self._parameter_group(config)
        common = self._instance_settings(config, security_group_id, kms_key_arn)
        self.instance = self._primary(config, subnet_group, kms_key_arn, protect, common, monitoring_logs)
        self._single_az_reasons(self.instance, naming, config)
        self.master_secret_arn = self.instance.master_user_secret.get(0).secret_arn
        self.replicas = self._replicas(config, {**common, "depends_on": [monitoring_logs]})
        self.backup_replication: DbInstanceAutomatedBackupsReplication | None = None
        if config.backup_replication:
            self.backup_replication = DbInstanceAutomatedBackupsReplication(
                self,
                "backup-replication",
                provider=dr_provider,
                source_db_instance_arn=self.instance.arn,
                kms_key_id=dr_kms_key_arn,
                retention_period=config.backup_replication_retention_days,
            )

    def _instance_settings(self, config: DatabaseConfig, security_group_id: str, kms_key_arn: str) -> dict:
        """What the primary and its replicas share. kms_key_id is the primary's alone: a same-region replica is
        encrypted with its source's key, and AWS refuses the parameter there ("Your request does not require the
        KMS key parameter"); only a replica in another region names a key (of that region)."""
        return dict(
            instance_class=config.instance_class,
            storage_encrypted=True,
            storage_type="gp3",
            max_allocated_storage=config.max_allocated_storage_gb,
            vpc_security_group_ids=[security_group_id],
            parameter_group_name=self.parameter_group.name,
            publicly_accessible=False,
            iam_database_authentication_enabled=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=kms_key_arn,
            performance_insights_retention_period=config.performance_insights_retention_days,
            monitoring_interval=config.monitoring_interval_seconds,
            monitoring_role_arn=self._monitoring_role().arn,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            deletion_protection=config.deletion_protection,
            maintenance_window=config.maintenance_window,
        )

    def _primary(
        self,
        config: DatabaseConfig,
        subnet_group: DbSubnetGroup,
        kms_key_arn: str,
        protect: bool,
        common: dict,
        monitoring_logs: CloudwatchLogGroup,
    ) -> DbInstance:
        return DbInstance(
            self,
            "primary",
            identifier=self.identifier,
            engine="postgres",
            engine_version=config.engine_version,
            kms_key_id=kms_key_arn,
            allocated_storage=config.allocated_storage_gb,
            db_subnet_group_name=subnet_group.name,
            multi_az=config.multi_az,
            username="video_ingest_admin",
            db_name="video_ingest",
            # RDS creates the password in Secrets Manager and rotates it (every 7 days): never in code or state.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=kms_key_arn,
            backup_retention_period=config.backup_retention_days,
            backup_window=config.backup_window,
            delete_automated_backups=False,
            **self._final_snapshot(config),
            depends_on=[monitoring_logs, *self._export_log_groups(self.identifier, "primary")],
            lifecycle=TerraformResourceLifecycle(
                prevent_destroy=protect,
                ignore_changes=["engine_version"] if config.engine_version == ENGINE_MAJOR else None,
            ),
            **common,
        )

    def _log_group(self, id_: str, name: str) -> CloudwatchLogGroup:
        group = CloudwatchLogGroup(
            self, id_, name=name, kms_key_id=self._kms_key_arn, retention_in_days=self._config.log_retention_days
        )
        checkov.short_log_retention(group, self._config.log_retention_days, self._naming.environment)
        self.log_groups[id_] = group
        return group

    def _export_log_groups(self, identifier: str, id_: str) -> list[CloudwatchLogGroup]:
        """`/aws/rds/instance/<id>/<log>`: where RDS publishes each exported log of one instance."""
        return [self._log_group(f"{id_}-{log}-logs", f"/aws/rds/instance/{identifier}/{log}") for log in LOG_EXPORTS]

    def grant_connect(self, grantee: Grantee, *, user: str) -> None:
        """Log in as database `user` with an IAM auth token (no password)."""
        grantee.add_to_policy(
            statement(
                "ConnectWithIamAuth",
                ["rds-db:connect"],
                [self._naming.arn("rds-db", f"dbuser:{self.instance.resource_id}/{user}")],
            )
        )

    def grant_connect_replicas(self, grantee: Grantee, *, user: str) -> None:
        """Log in to every read replica as database `user` with an IAM auth token (none without replicas)."""
        if self.replicas:
            grantee.add_to_policy(
                statement(
                    "ConnectToReplicasWithIamAuth",
                    ["rds-db:connect"],
                    [self._naming.arn("rds-db", f"dbuser:{replica.resource_id}/{user}") for replica in self.replicas],
                )
            )

    def _parameter_group(self, config: DatabaseConfig) -> DbParameterGroup:
        # Replaced (family, description) before the old group is released by the instance (RDS refuses to delete
        # a group in use), so the new one needs a name of its own: group names are unique per region.
        return DbParameterGroup(
            self,
            "parameters",
            name_prefix=self._naming.name(f"postgres{ENGINE_MAJOR}") + "-",
            family=f"postgres{ENGINE_MAJOR}",
            description="TLS only, query and connection logging",
            parameter=[
                DbParameterGroupParameter(name=name, value=value, apply_method=method)
                for name, value, method in (
                    ("rds.force_ssl", "1", "pending-reboot"),
                    ("ssl_min_protocol_version", "TLSv1.2", "pending-reboot"),
                    ("log_connections", "1", "immediate"),
                    ("log_disconnections", "1", "immediate"),
                    ("log_min_duration_statement", str(config.slow_query_ms), "immediate"),
                    ("log_statement", "ddl", "immediate"),
                )
            ],
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )

    def _monitoring_role(self) -> IamRole:
        naming = self._naming
        role = IamRole(
            self,
            "monitoring-role",
            name=naming.name("rds-monitoring"),
            description="RDS enhanced monitoring",
            assume_role_policy=service_trust("monitoring.rds.amazonaws.com", source_account=naming.account_id),
        )
        IamRolePolicyAttachment(
            self,
            "monitoring-policy",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
        )
        return role

    def _replicas(self, config: DatabaseConfig, common: dict) -> list[DbInstance]:
        # Replicas inherit engine, credentials and encryption from the source: setting
        # manage_master_user_password/username on them is what breaks terraform-aws-rds (#512).
        depends_on = common.pop("depends_on")
        replicas = [
            DbInstance(
                self,
                f"replica-{i + 1}",
                identifier=identifier,
                replicate_source_db=self.instance.identifier,
                multi_az=False,
                skip_final_snapshot=True,
                backup_retention_period=0,
                depends_on=[*depends_on, *self._export_log_groups(identifier, f"replica-{i + 1}")],
                **(common | {"vpc_security_group_ids": [self._replica_security_group_id]}),
            )
            for i, identifier in enumerate(self.replica_identifiers)
        ]
        for replica in replicas:
            checkov.skip(
                replica,
                "CKV_AWS_157",
                "Read replica: availability comes from the Multi-AZ primary and "
                "the other replicas; a replica is recreated from the primary.",
            )
            checkov.skip(
                replica,
                "CKV_AWS_133",
                "Read replica: the primary's automated backups and PITR cover the "
                "data; a replica is rebuilt from the primary, not restored.",
            )
            if not config.deletion_protection:
                checkov.skip(
                    replica,
                    "CKV_AWS_293",
                    f"{self._naming.environment}: deletion protection off by config "
                    "so the environment can be torn down.",
                )
        return replicas

    def _final_snapshot(self, config: DatabaseConfig) -> dict:
        """A fixed name ("<id>-final") exists after the first destroy, so the second destroy of a re-created
        environment fails. terraform_data's id is a UUID drawn when the instance is created and kept while it
        lives: each instance's final snapshot gets a name no earlier one used."""
        if not config.final_snapshot:
            return {"skip_final_snapshot": True}
        suffix = DataResource(self, "final-snapshot-suffix")
        return {"skip_final_snapshot": False, "final_snapshot_identifier": f"{self.identifier}-final-{suffix.id}"}

    @staticmethod
    def _single_az_reasons(instance: DbInstance, naming: Naming, config: DatabaseConfig) -> None:
        if not config.multi_az:
            checkov.skip(
                instance,
                "CKV_AWS_157",
                f"{naming.environment}: single-AZ by config (spec: multi-AZ for "
                "production, single-AZ for dev); production config forbids it.",
            )
        if not config.deletion_protection:
            checkov.skip(
                instance,
                "CKV_AWS_293",
                f"{naming.environment}: deletion protection off by config so the "
                "environment can be torn down; production config forbids it.",
            )
