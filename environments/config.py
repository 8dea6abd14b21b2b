"""Environment files (TOML) -> frozen, typed, validated config.

`environments/<env>.toml` is plain data. Each `[section]` is the config of one
module and is built into that module's frozen dataclass. Each field declares its
limits next to it (`Annotated[int, Range(0, 35, "days")]`, modules/limits.py);
this loader enforces them, with the types, unknown keys and the file name in
every message; each dataclass checks the rules between its fields in
`__post_init__`, and `Environment` the rules that span sections (prod safety;
CIDRs that must not overlap between environments: `load_all`).

Every error is a `ConfigError` that names the file, the field, the value and
what is allowed, e.g.:

    environments/dev.toml: database.backup_retention_days = 40: must be 0-35 days
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from modules.api import ApiConfig
from modules.backup import BackupConfig
from modules.cdn import CdnConfig
from modules.compliance import ComplianceConfig
from modules.compute import ComputeConfig
from modules.cost import CostConfig
from modules.database import DatabaseConfig
from modules.database_proxy import DatabaseProxyConfig
from modules.dns import DnsConfig
from modules.identity import IdentityConfig
from modules.ingest import IngestConfig
from modules.limits import Doc, Pattern, limits_of
from modules.load_balancer import LoadBalancerConfig
from modules.monitoring import MonitoringConfig
from modules.network import NetworkConfig
from modules.security import SecurityConfig
from modules.storage import StorageConfig
from modules.validation import ACCOUNT_ID, REGION

ENVIRONMENTS_DIR = Path(__file__).resolve().parent
ENVIRONMENT_NAMES = ("dev", "staging", "prod")

ROLE_ARN = Pattern(
    r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]{1,512}", "an IAM role ARN 'arn:aws:iam::<12 digits>:role/<name>'"
)
NAME = Pattern(r"[a-z][a-z0-9-]{1,15}", "2-16 chars, lowercase letters, digits, '-'")
BUCKET = Pattern(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "a valid S3 bucket name (3-63 chars, a-z 0-9 . -)")
LOCK_TABLE = Pattern(r"[A-Za-z0-9_.-]{3,255}", "3-255 chars of A-Z a-z 0-9 _ . -")


STATE_KEY_ALIAS = "alias/video-ingest-key"  # the state bucket's key (stacks/state_backend.py)


class ConfigError(ValueError):
    """Invalid environment data. The message names file, field, value and what is allowed."""


@dataclass(frozen=True, kw_only=True)
class StateBackendConfig:
    """Where every environment keeps its Terraform state (environments/state_backend.toml)."""

    account_id: Annotated[str, ACCOUNT_ID, Doc("account that owns the state bucket and lock table")]
    region: Annotated[str, REGION, Doc("region of the state bucket and lock table")]
    dr_region: Annotated[str, REGION, Doc("region of the state bucket's replica, not region")]
    bucket: Annotated[str, BUCKET, Doc("S3 bucket for state, one key per environment")]
    lock_table: Annotated[str, LOCK_TABLE, Doc("DynamoDB table with a `LockID` hash key")]
    role_arn: Annotated[
        str,
        ROLE_ARN,
        Doc("state roles in account_id, one per environment: `<this>-<env>` reads and writes <env>/ only"),
    ]
    read_role_arn: Annotated[
        str, ROLE_ARN, Doc("read-only state roles, `<this>-<env>`, for the environments' pull-request plans")
    ]

    def __post_init__(self) -> None:
        if self.dr_region == self.region:
            raise ValueError(f"dr_region = {self.dr_region!r}: must differ from region {self.region!r}")
        for name, role in (("role_arn", self.role_arn), ("read_role_arn", self.read_role_arn)):
            if role.split(":")[4:5] != [self.account_id]:
                raise ValueError(f"{name} = {role!r}: must be a role in account_id {self.account_id}")
        if self.role_arn == self.read_role_arn:
            raise ValueError(
                f"read_role_arn = {self.read_role_arn!r}: must differ from role_arn (read-only vs read-write)"
            )
        for name in ("role_arn", "read_role_arn"):
            if len(getattr(self, name).rsplit("/", 1)[1]) > 64 - len("-staging"):
                raise ValueError(
                    f"{name} = {getattr(self, name)!r}: the name leaves no room for '-<environment>' "
                    "in IAM's 64 characters"
                )

    def role_arn_for(self, environment: str) -> str:
        """The state role of one environment: its deploy role's way to its own state, and no other."""
        return f"{self.role_arn}-{environment}"

    def read_role_arn_for(self, environment: str) -> str:
        return f"{self.read_role_arn}-{environment}"

    @property
    def key_alias_arn(self) -> str:
        """The state key by its alias: the backend encrypts state objects with it (SSE-KMS)."""
        return f"arn:aws:kms:{self.region}:{self.account_id}:{STATE_KEY_ALIAS}"


@dataclass(frozen=True, kw_only=True)
class Environment:
    """One deployable environment. Sections default to the prod-safe module defaults."""

    name: Annotated[str, NAME, Doc("dev | staging | prod: used in names, tags and the state key")]
    account_id: Annotated[str, ACCOUNT_ID, Doc("the only AWS account this environment may touch")]
    region: Annotated[str, REGION, Doc("primary region")]
    dr_region: Annotated[str, REGION, Doc("disaster-recovery region (replicas, backup vault), not region")]
    availability_zones: Annotated[tuple[str, ...], Doc("exactly three, in `region`")]
    cdn: Annotated[CdnConfig, Doc("[cdn] is required: it names the public key of the URL signers")]
    identity: Annotated[
        IdentityConfig, Doc("[identity] is required: the repository whose CI deploys (account bootstrap)")
    ]
    production: Annotated[bool, Doc("production rules: multi-AZ, deletion protection, replication")] = True
    # Every stateful resource is either protected or disposable, never neither (docs/first-deploy.md, "Destroy"):
    # protected: prevent_destroy, deletion protection, a secret recovery window; disposable (false): buckets and
    # image repositories emptied on destroy (force_destroy, force_delete), secrets deleted at once.
    protected: Annotated[
        bool, Doc("stateful resources refuse destroy (true) or are destroyed with what they hold (false)")
    ] = True
    dns: Annotated[DnsConfig, Doc("[dns]: the public Route 53 zone holding the environment's names")] = field(
        default_factory=DnsConfig
    )
    network: Annotated[NetworkConfig, Doc("[network]: VPC, subnets, NAT, flow logs")] = field(
        default_factory=NetworkConfig
    )
    security: Annotated[SecurityConfig, Doc("[security]: KMS keys, the operator role, secrets")] = field(
        default_factory=SecurityConfig
    )
    storage: Annotated[StorageConfig, Doc("[storage]: the video and log buckets, replication")] = field(
        default_factory=StorageConfig
    )
    database: Annotated[DatabaseConfig, Doc("[database]: PostgreSQL on RDS")] = field(default_factory=DatabaseConfig)
    database_proxy: Annotated[
        DatabaseProxyConfig, Doc("[database_proxy]: RDS Proxy in front of the primary (pooling, TLS, IAM auth)")
    ] = field(default_factory=DatabaseProxyConfig)
    compute: Annotated[ComputeConfig, Doc("[compute]: the ECS cluster and the API service")] = field(
        default_factory=ComputeConfig
    )
    load_balancer: Annotated[LoadBalancerConfig, Doc("[load_balancer]: the ALB, its certificate and WAF")] = field(
        default_factory=LoadBalancerConfig
    )
    ingest: Annotated[IngestConfig, Doc("[ingest]: uploads, queue, worker service, ECR")] = field(
        default_factory=IngestConfig
    )
    api: Annotated[ApiConfig, Doc("[api]: API Gateway, stage, usage plans")] = field(default_factory=ApiConfig)
    monitoring: Annotated[MonitoringConfig, Doc("[monitoring]: alarms, topics, dashboard, X-Ray")] = field(
        default_factory=MonitoringConfig
    )
    cost: Annotated[CostConfig, Doc("[cost]: budget and cost anomaly alerts")] = field(default_factory=CostConfig)
    backup: Annotated[BackupConfig, Doc("[backup]: AWS Backup plan and DR-region vault")] = field(
        default_factory=BackupConfig
    )
    compliance: Annotated[
        ComplianceConfig, Doc("[compliance]: account-wide SOC 2 / GDPR controls (account bootstrap)")
    ] = field(default_factory=ComplianceConfig)

    def __post_init__(self) -> None:
        if self.dr_region == self.region:
            raise ValueError(f"dr_region = {self.dr_region!r}: must differ from region {self.region!r}")
        azs = self.availability_zones
        if (
            len(azs) != 3
            or len(set(azs)) != 3
            or not all(re.fullmatch(re.escape(self.region) + r"[a-z]", az) for az in azs)
        ):
            raise ValueError(
                f"availability_zones = {list(azs)!r}: must be three distinct zones of {self.region}, "
                f"e.g. {[self.region + s for s in 'abc']!r}"
            )
        self._check_names_and_certificates()
        monitor = re.fullmatch(r"arn:aws:ce::(\d{12}):.*", self.cost.anomaly_monitor_arn)
        if monitor and monitor.group(1) != self.account_id:
            raise ValueError(
                f"cost.anomaly_monitor_arn = {self.cost.anomaly_monitor_arn!r}: must be a monitor of "
                f"account_id {self.account_id}"
            )
        if self.production:
            self._check_production()
        self._check_protected_or_disposable()

    @property
    def protects_stateful(self) -> bool:
        """The one rule: stateful resources refuse destroy (True) or are destroyed with what they hold (False)."""
        return self.protected

    def _check_protected_or_disposable(self) -> None:
        """The deletion protections config still names must agree with the rule: a disposable environment whose
        database or load balancer refuses deletion stops its destroy halfway; a protected one would lose them."""
        kind, rule = ("protected", "true") if self.protects_stateful else ("disposable", "false")
        if self.protects_stateful and not self.production and self.security.secret_recovery_window_days == 0:
            raise ValueError(
                "security.secret_recovery_window_days = 0: a protected environment (protected = true) "
                "requires a recovery window of 7-30 days"
            )
        for name, value in (
            ("database.deletion_protection", self.database.deletion_protection),
            ("load_balancer.deletion_protection", self.load_balancer.deletion_protection),
        ):
            if value != self.protects_stateful:
                raise ValueError(
                    f"{name} = {str(value).lower()}: a {kind} environment (protected = {rule}) requires {rule}"
                )

    def _check_names_and_certificates(self) -> None:
        """Every certificate is either issued already or validated by the stack in the zone: never one that
        waits for somebody to create its DNS record."""
        names = (
            ("load_balancer", self.load_balancer.domain_name, self.load_balancer.certificate_arn),
            ("cdn", self.cdn.domain_name, self.cdn.certificate_arn),
        )
        for section, domain, certificate in names:
            if not certificate and not self.dns.hosted_zone_id:
                raise ValueError(
                    f"{section}.certificate_arn = '': with no dns.hosted_zone_id the stack cannot "
                    "validate a new certificate; name the zone ([dns]) or an issued certificate"
                )
            if self.dns.hosted_zone_id and not self.dns.holds(domain):
                raise ValueError(
                    f"{section}.domain_name = {domain!r}: must lie in dns.zone_name "
                    f"({self.dns.zone_name!r}), where its records are written"
                )
        alb_certificate = self.load_balancer.certificate_arn
        if alb_certificate and f":acm:{self.region}:{self.account_id}:" not in alb_certificate:
            raise ValueError(
                f"load_balancer.certificate_arn = {alb_certificate!r}: must be a certificate of account "
                f"{self.account_id} in {self.region}, the load balancer's region"
            )
        if self.cdn.certificate_arn and f":{self.account_id}:" not in self.cdn.certificate_arn:
            raise ValueError(
                f"cdn.certificate_arn = {self.cdn.certificate_arn!r}: must be a certificate of account "
                f"{self.account_id} (in us-east-1)"
            )

    def _check_production(self) -> None:
        rules = [
            ("database.multi_az", self.database.multi_az, True),
            ("database.deletion_protection", self.database.deletion_protection, True),
            ("storage.replication_enabled", self.storage.replication_enabled, True),
            ("protected", self.protects_stateful, True),
            ("load_balancer.deletion_protection", self.load_balancer.deletion_protection, True),
            ("cdn.waf_enabled", self.cdn.waf_enabled, True),
            ("database.backup_replication", self.database.backup_replication, True),
            ("database.final_snapshot", self.database.final_snapshot, True),
            ("storage.replication_time_control", self.storage.replication_time_control, True),
            ("backup.enabled", self.backup.enabled, True),
        ]
        for name, value, required in rules:
            if value != required:
                raise ValueError(
                    f"{name} = {str(value).lower()}: a production environment requires {str(required).lower()}"
                )
        if self.security.secret_recovery_window_days == 0:  # (only used where stateful resources are protected)
            raise ValueError(
                "security.secret_recovery_window_days = 0: a production environment requires a "
                "recovery window of 7-30 days"
            )
        if self.compliance.created("cloudtrail") and self.compliance.trail_retention_days < 365:
            raise ValueError(
                f"compliance.trail_retention_days = {self.compliance.trail_retention_days}: "
                "a production environment requires at least 365 days (a year of audit trail)"
            )
        if self.database.backup_retention_days < 7:
            raise ValueError(
                f"database.backup_retention_days = {self.database.backup_retention_days}: "
                "a production environment requires at least 7 days"
            )

    @property
    def needs_dr_region(self) -> bool:
        """Anything kept in the DR region: replicated videos, replicated database backups, the backup vault."""
        return self.storage.replication_enabled or self.database.backup_replication or self.backup.enabled

    @property
    def vpc_cidr(self) -> str:
        return self.network.vpc_cidr


# --- generic TOML -> dataclass building -------------------------------------------------------


def _type_name(tp: typing.Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _type_name(typing.get_args(tp)[0])
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(path: str, value: typing.Any, tp: typing.Any) -> typing.Any:
    """Checks `value` against the annotation `tp` and the limits declared in it (modules/limits.py); TOML arrays
    become tuples (frozen)."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        value = _coerce(path, value, typing.get_args(tp)[0])
        for limit in limits_of(tp):
            problem = limit.problem(value)
            if problem:
                raise ConfigError(f"{path} = {value!r}: {problem}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path} = {value!r}: must be a table [{path}]")
        return _build(tp, value, path + ".")
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{path} = {value!r}: must be a {_type_name(tp)}")
        item_type = typing.get_args(tp)[0]
        return tuple(_coerce(f"{path}[{i}]", item, item_type) for i, item in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(path, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{path} = {value!r}: must be one of {', '.join(map(_type_name, typing.get_args(tp)))}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is a subclass of int: `cpu = true` must not pass as 1.
    if type(value) is not tp:
        raise ConfigError(f"{path} = {value!r}: must be a {_type_name(tp)}, got {_type_name(type(value))}")
    return value


def _build(cls: type, table: dict, prefix: str = "") -> typing.Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]} = {table[unknown[0]]!r}: unknown key; "
            f"allowed keys{' in [' + prefix[:-1] + ']' if prefix else ''}: {', '.join(sorted(fields))}"
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in table and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{prefix}{missing[0]}: missing required key ({_type_name(hints[missing[0]])})")
    values = {name: _coerce(prefix + name, value, hints[name]) for name, value in table.items()}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except ValueError as error:
        # The dataclass names its own field; prefix it with the section.
        raise ConfigError(f"{prefix}{error}") from None


def _load(cls: type, text: str, source: str) -> typing.Any:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    try:
        return _build(cls, table)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def _read_text(path: Path) -> str:
    """The file as UTF-8 text (TOML's encoding), or one line naming it and the first byte that is not."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{_display(path)}: not UTF-8 text (TOML files are): byte 0x{data[error.start]:02x} at offset {error.start}"
        ) from None


def load_environment_text(text: str, source: str = "<text>") -> Environment:
    """Parses and validates one environment from TOML text; `source` names it in errors."""
    return _load(Environment, text, source)


def load_environment(name: str, directory: Path = ENVIRONMENTS_DIR) -> Environment:
    path = directory / f"{name}.toml"
    if not path.is_file():
        available = sorted(p.stem for p in directory.glob("*.toml") if p.stem != "state_backend")
        raise ConfigError(f"environment {name!r}: no file {_display(path)}; available: {', '.join(available)}")
    environment = load_environment_text(_read_text(path), _display(path))
    if environment.name != name:
        raise ConfigError(f"{_display(path)}: name = {environment.name!r}: must match the file name {name!r}")
    return environment


def load_state_backend(directory: Path = ENVIRONMENTS_DIR) -> StateBackendConfig:
    path = directory / "state_backend.toml"
    if not path.is_file():
        raise ConfigError(f"state backend: no file {_display(path)}")
    return _load(StateBackendConfig, _read_text(path), _display(path))


def load_all(
    names: typing.Iterable[str] = ENVIRONMENT_NAMES, directory: Path = ENVIRONMENTS_DIR
) -> tuple[StateBackendConfig, tuple[Environment, ...]]:
    """Loads the backend and every environment, and checks the rules between environments."""
    environments = tuple(load_environment(name, directory) for name in names)
    check_disjoint_networks(environments)
    return load_state_backend(directory), environments


def check_disjoint_networks(environments: typing.Sequence[Environment]) -> None:
    """VPCs of different environments must not overlap: peering, VPN and transit routing need it."""
    for i, first in enumerate(environments):
        for second in environments[i + 1 :]:
            a, b = ipaddress.ip_network(first.vpc_cidr), ipaddress.ip_network(second.vpc_cidr)
            if a.overlaps(b):
                raise ConfigError(
                    f"environments/{second.name}.toml: network.vpc_cidr = {second.vpc_cidr!r}: overlaps "
                    f"{first.name}'s {first.vpc_cidr!r}; each environment needs its own /16"
                )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ENVIRONMENTS_DIR.parent))
    except ValueError:
        return str(path)
