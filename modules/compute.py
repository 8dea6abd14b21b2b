"""Compute: an ECS cluster on Fargate/Fargate Spot and its services (API behind the ALB, workers on a queue)."""

from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.ecs_cluster import EcsCluster, EcsClusterSetting
from cdktf_cdktf_provider_aws.ecs_cluster_capacity_providers import (
    EcsClusterCapacityProviders,
    EcsClusterCapacityProvidersDefaultCapacityProviderStrategy,
)
from cdktf_cdktf_provider_aws.ecs_service import (
    EcsService,
    EcsServiceCapacityProviderStrategy,
    EcsServiceDeploymentCircuitBreaker,
    EcsServiceLoadBalancer,
    EcsServiceNetworkConfiguration,
    EcsServiceServiceRegistries,
)
from cdktf_cdktf_provider_aws.ecs_task_definition import (
    EcsTaskDefinition,
    EcsTaskDefinitionRuntimePlatform,
    EcsTaskDefinitionVolume,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.service_discovery_private_dns_namespace import ServiceDiscoveryPrivateDnsNamespace
from cdktf_cdktf_provider_aws.service_discovery_service import (
    ServiceDiscoveryService,
    ServiceDiscoveryServiceDnsConfig,
    ServiceDiscoveryServiceDnsConfigDnsRecords,
    ServiceDiscoveryServiceHealthCheckCustomConfig,
)
from constructs import Construct

from modules import checkov
from modules.aspects import rendered_at_synth
from modules.limits import Doc, Pattern, Range
from modules.naming import Naming
from modules.policy import policy, service_trust, statement
from modules.validation import FARGATE_CPU, IMAGE, LOG_RETENTION, PLACEHOLDER_IMAGE, check_fargate_size

XRAY_DAEMON_IMAGE = "public.ecr.aws/xray/aws-xray-daemon:3.3.14"
XRAY_DAEMON_MEMORY = 64  # MiB reserved for the sidecar inside the task
APP_USER = "10001:10001"  # uid:gid the application container runs as
# The task's scratch volume. Fargate creates a task volume with no host path as a bind mount on the task's
# ephemeral storage, owned by root with mode 0755 unless the image declares the path as a VOLUME (the busybox
# placeholder does not; AWS: "Bind mounts" in the ECS developer guide): the app user cannot write it. A
# non-essential init container, run as root, hands it to APP_USER before the app starts (dependsOn SUCCESS).
# It keeps Docker's default capabilities (CHOWN among them): Fargate can add none but SYS_PTRACE, so it cannot
# drop ALL and add CHOWN back.
SCRATCH_VOLUME, SCRATCH_PATH = "tmp", "/tmp"
VOLUME_INIT = "volume-init"
VOLUME_INIT_MEMORY = 16  # MiB reserved for the init container (it exits within a second)
TASKS = Range(1, 100)
TARGET_PERCENT = Range(10, 95, "%")
HEALTH_PATH = Pattern(r"/\S*", "a path starting with '/'")


@dataclass(frozen=True, kw_only=True)
class ComputeConfig:
    """Inputs of the cluster and the API service. Every default is the prod-safe choice."""

    cpu: Annotated[int, FARGATE_CPU, Doc("task CPU units (spec: dev 256, staging 512, prod 1024)")] = 1024
    memory: Annotated[
        int, Doc("task memory MiB (spec: dev 512, staging 1024, prod 2048); a size Fargate accepts with cpu")
    ] = 2048
    image: Annotated[
        str,
        IMAGE,
        Doc("API container image; default: a placeholder that serves the health check (docs/first-deploy.md: Images)"),
    ] = PLACEHOLDER_IMAGE
    health_check_path: Annotated[
        str, HEALTH_PATH, Doc("API health endpoint: the container's check and the load balancer's target group")
    ] = "/health"
    min_tasks: Annotated[int, TASKS, Doc("autoscaling floor (spec: 1-10)")] = 2
    max_tasks: Annotated[int, TASKS, Doc("autoscaling ceiling, at least min_tasks")] = 10
    cpu_target_percent: Annotated[int, TARGET_PERCENT, Doc("target tracking on average CPU")] = 60
    memory_target_percent: Annotated[int, TARGET_PERCENT, Doc("target tracking on average memory")] = 70
    on_demand_base: Annotated[int, Range(0), Doc("tasks always on FARGATE (on demand), at most min_tasks")] = 1
    on_demand_weight: Annotated[int, Range(0), Doc("share of tasks above the base on FARGATE")] = 1
    spot_weight: Annotated[int, Range(0), Doc("share of tasks above the base on FARGATE_SPOT (not both 0)")] = 0
    log_retention_days: Annotated[int, LOG_RETENTION, Doc("service log retention")] = 365

    def __post_init__(self) -> None:
        check_fargate_size(self.cpu, self.memory)
        if self.min_tasks > self.max_tasks:
            raise ValueError(
                f"min_tasks/max_tasks = {self.min_tasks}/{self.max_tasks}: min_tasks must not exceed max_tasks"
            )
        if self.on_demand_weight + self.spot_weight < 1:
            raise ValueError(
                f"on_demand_weight/spot_weight = {self.on_demand_weight}/{self.spot_weight}: must not both be 0"
            )
        if self.on_demand_base > self.min_tasks:
            raise ValueError(f"on_demand_base = {self.on_demand_base}: must be 0-min_tasks ({self.min_tasks})")


class WorkerConfig(Protocol):
    """What the worker service takes from its own config section ([ingest], modules/ingest.py's IngestConfig)."""

    worker_cpu: int
    worker_memory: int
    worker_image: str
    min_workers: int
    max_workers: int


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """One Fargate service: its size, image, task counts and capacity from config (`api()`, `worker()`: the only
    place config becomes a spec), and from the stack what it is wired to."""

    name: str  # "api", "worker"
    cpu: int
    memory: int
    image: str
    min_tasks: int
    max_tasks: int
    on_demand_base: int
    on_demand_weight: int
    spot_weight: int
    subnet_ids: list[str]
    security_group_id: str
    environment: dict[str, str] = field(default_factory=dict)  # plain, non-secret settings
    secrets: dict[str, str] = field(default_factory=dict)  # env var -> Secrets Manager ARN (or ARN:key::)
    secret_arns: tuple[str, ...] = ()  # what the execution role may read
    port: int | None = None  # container port (API); None: no inbound
    target_group_arn: str | None = None  # ALB target group (API)
    health_check_path: str | None = None  # served on `port` (API)
    command: tuple[str, ...] = ()
    depends_on: tuple = ()  # what must exist before the service starts

    @classmethod
    def api(cls, config: ComputeConfig, *, port: int, **wiring) -> ServiceSpec:
        return cls(
            name="api",
            cpu=config.cpu,
            memory=config.memory,
            image=config.image,
            min_tasks=config.min_tasks,
            max_tasks=config.max_tasks,
            on_demand_base=config.on_demand_base,
            on_demand_weight=config.on_demand_weight,
            spot_weight=config.spot_weight,
            port=port,
            health_check_path=config.health_check_path,
            **wiring,
        )

    @classmethod
    def worker(cls, config: ComputeConfig, workers: WorkerConfig, **wiring) -> ServiceSpec:
        """Workers take the cluster's capacity weights, with no on-demand base (they may idle at zero)."""
        return cls(
            name="worker",
            cpu=workers.worker_cpu,
            memory=workers.worker_memory,
            image=workers.worker_image,
            min_tasks=workers.min_workers,
            max_tasks=workers.max_workers,
            on_demand_base=0,
            on_demand_weight=config.on_demand_weight,
            spot_weight=config.spot_weight,
            **wiring,
        )


class TaskRole:
    """A service's task role and its one inline policy: other modules' `grant_*()` add their statements to it."""

    def __init__(self, scope: Construct, name: str, naming: Naming) -> None:
        self.role = IamRole(
            scope,
            f"{name}-task-role",
            name=naming.name(name, "task"),
            description=f"The {name} application's own permissions",
            assume_role_policy=service_trust("ecs-tasks.amazonaws.com", source_account=naming.account_id),
        )
        self.arn = self.role.arn
        # X-Ray's segment APIs have no resource-level permissions: AWS requires "*".
        self._statements = [
            statement(
                "XRaySegments",
                [
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:PutTelemetryRecords",
                    "xray:PutTraceSegments",
                ],
                "*",
            )
        ]
        self._policy = IamRolePolicy(
            scope,
            f"{name}-task-policy",
            name="task",
            role=self.role.id,
            policy=rendered_at_synth(lambda: policy(*self._statements)),
        )

    def add_to_policy(self, *statements: dict) -> None:
        self._statements.extend(statements)


def placeholder_command(spec: ServiceSpec) -> tuple[str, ...]:
    """What the placeholder image runs, within the task's hardening (uid 10001, read-only root, /tmp writable,
    no capabilities): the API answers 200 on its health check path on the app port (busybox httpd, files under
    /tmp); a worker marks itself healthy and stays up until ECS stops it (SIGTERM)."""
    if spec.port:
        page = f"/tmp/www{spec.health_check_path}" + ("index.html" if spec.health_check_path.endswith("/") else "")
        script = (
            f"mkdir -p {shlex.quote(posixpath.dirname(page))} && echo ok > {shlex.quote(page)} && "
            f"exec httpd -f -v -p {spec.port} -h /tmp/www"
        )
    else:
        script = "touch /tmp/healthy && trap 'exit 0' TERM && while :; do sleep 60 & wait $!; done"
    return ("sh", "-c", script)


def volume_init_command() -> tuple[str, ...]:
    """What the init container runs as root: the scratch volume becomes the app user's (mode 0700)."""
    return ("sh", "-c", f"chown {APP_USER} {SCRATCH_PATH} && chmod 0700 {SCRATCH_PATH}")


def volume_init(log_configuration: dict) -> dict:
    """The non-essential init container: root (uid 0) with a read-only root filesystem, only the scratch volume
    mounted; it exits 0 once the volume is the app user's, and the app container waits for that (SUCCESS)."""
    return {
        "name": VOLUME_INIT,
        "image": PLACEHOLDER_IMAGE,
        "essential": False,
        "memoryReservation": VOLUME_INIT_MEMORY,
        "readonlyRootFilesystem": True,
        "user": "0:0",
        "privileged": False,
        "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": SCRATCH_PATH, "readOnly": False}],
        "command": list(volume_init_command()),
        "logConfiguration": log_configuration,
    }


class Compute(Construct):
    """Exposes `cluster`, `capacity_providers`, `namespace`, and per service `services`, `task_roles` (grantees),
    `log_groups`, `scaling_targets`; `service(spec)` adds a Fargate service and returns it."""

    def __init__(
        self, scope: Construct, id_: str, *, naming: Naming, config: ComputeConfig, vpc_id: str, kms_key_arn: str
    ) -> None:
        super().__init__(scope, id_)
        self._naming, self._config, self._kms_key_arn = naming, config, kms_key_arn
        # Container Insights writes its performance events to a group it would create itself, unencrypted:
        # declared first, with the key and the retention.
        insights_logs = CloudwatchLogGroup(
            self,
            "container-insights-logs",
            name=f"/aws/ecs/containerinsights/{naming.name('cluster')}/performance",
            kms_key_id=kms_key_arn,
            retention_in_days=config.log_retention_days,
        )
        checkov.short_log_retention(insights_logs, config.log_retention_days, naming.environment)
        self.cluster = EcsCluster(
            self,
            "cluster",
            name=naming.name("cluster"),
            setting=[EcsClusterSetting(name="containerInsights", value="enabled")],
            depends_on=[insights_logs],
        )
        self.capacity_providers = EcsClusterCapacityProviders(
            self,
            "capacity-providers",
            cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategy=[
                EcsClusterCapacityProvidersDefaultCapacityProviderStrategy(
                    capacity_provider="FARGATE", base=config.on_demand_base, weight=config.on_demand_weight
                )
            ],
        )
        self.namespace = ServiceDiscoveryPrivateDnsNamespace(
            self,
            "namespace",
            name=naming.service_namespace,
            vpc=vpc_id,
            description="Service discovery for the video ingest services",
        )
        self.services: dict[str, EcsService] = {}
        self.task_roles: dict[str, TaskRole] = {}
        self.log_groups: dict[str, CloudwatchLogGroup] = {}
        self.scaling_targets: dict[str, AppautoscalingTarget] = {}

    def service(self, spec: ServiceSpec) -> EcsService:
        """The service of `spec`: log group, execution and task roles, task definition, discovery, scaling target.
        Its size was checked with its config (`ServiceSpec.api`/`worker` are built only from checked config)."""
        n, name = self._naming, spec.name
        log_group = CloudwatchLogGroup(
            self,
            f"{name}-logs",
            name=n.log_group("ecs", name),
            kms_key_id=self._kms_key_arn,
            retention_in_days=self._config.log_retention_days,
        )
        checkov.short_log_retention(log_group, self._config.log_retention_days, n.environment)
        self.log_groups[name] = log_group
        self.task_roles[name] = TaskRole(self, name, n)
        task = EcsTaskDefinition(
            self,
            f"{name}-task",
            family=n.name(name),
            cpu=str(spec.cpu),
            memory=str(spec.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            execution_role_arn=self._execution_role(spec, log_group).arn,
            task_role_arn=self.task_roles[name].arn,
            runtime_platform=EcsTaskDefinitionRuntimePlatform(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            volume=[EcsTaskDefinitionVolume(name=SCRATCH_VOLUME)],
            container_definitions=json.dumps(self._containers(spec, log_group), sort_keys=True),
        )
        service = self._ecs_service(spec, task)
        self.services[name] = service
        self.scaling_targets[name] = AppautoscalingTarget(
            self,
            f"{name}-scaling-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=f"service/{self.cluster.name}/{service.name}",
            min_capacity=spec.min_tasks,
            max_capacity=spec.max_tasks,
        )
        return service

    def _execution_role(self, spec: ServiceSpec, log_group: CloudwatchLogGroup) -> IamRole:
        n, name = self._naming, spec.name
        role = IamRole(
            self,
            f"{name}-execution-role",
            name=n.name(name, "execution"),
            description=f"ECS agent for {name}: pull the image, write logs, read its secrets",
            assume_role_policy=service_trust("ecs-tasks.amazonaws.com", source_account=n.account_id),
        )
        execution = [
            statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group.arn}:*"]),
            statement(
                "PullImages",
                ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                [n.repositories_arn],
            ),
            # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
            statement("DecryptWithEnvironmentKey", ["kms:Decrypt"], [self._kms_key_arn]),
        ]
        if spec.secret_arns:
            execution.append(statement("ReadOwnSecrets", ["secretsmanager:GetSecretValue"], list(spec.secret_arns)))
        IamRolePolicy(self, f"{name}-execution-policy", name="execution", role=role.id, policy=policy(*execution))
        return role

    def _ecs_service(self, spec: ServiceSpec, task: EcsTaskDefinition) -> EcsService:
        name = spec.name
        discovery = ServiceDiscoveryService(
            self,
            f"{name}-discovery",
            name=name,
            description=f"{name} tasks",
            dns_config=ServiceDiscoveryServiceDnsConfig(
                namespace_id=self.namespace.id,
                routing_policy="MULTIVALUE",
                dns_records=[ServiceDiscoveryServiceDnsConfigDnsRecords(type="A", ttl=10)],
            ),
            health_check_custom_config=ServiceDiscoveryServiceHealthCheckCustomConfig(failure_threshold=1),
        )
        strategy = [
            EcsServiceCapacityProviderStrategy(
                capacity_provider="FARGATE", base=spec.on_demand_base, weight=spec.on_demand_weight
            )
        ]
        if spec.spot_weight:
            strategy.append(
                EcsServiceCapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=spec.spot_weight)
            )
        return EcsService(
            self,
            f"{name}-service",
            name=name,
            cluster=self.cluster.arn,
            task_definition=task.arn,
            desired_count=spec.min_tasks,
            capacity_provider_strategy=strategy,
            network_configuration=EcsServiceNetworkConfiguration(
                subnets=spec.subnet_ids, security_groups=[spec.security_group_id], assign_public_ip=False
            ),
            load_balancer=[
                EcsServiceLoadBalancer(
                    target_group_arn=spec.target_group_arn, container_name=name, container_port=spec.port
                )
            ]
            if spec.target_group_arn
            else None,
            health_check_grace_period_seconds=60 if spec.target_group_arn else None,
            deployment_circuit_breaker=EcsServiceDeploymentCircuitBreaker(enable=True, rollback=True),
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            service_registries=EcsServiceServiceRegistries(registry_arn=discovery.arn),
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            wait_for_steady_state=False,
            # The strategy names FARGATE_SPOT: the cluster must have its capacity providers first.
            depends_on=[self.capacity_providers, *spec.depends_on],
            # Autoscaling owns the task count after creation.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_count"]),
        )

    def scale_on_utilization(self, name: str) -> None:
        """Target tracking on both average CPU and average memory (config's targets): whichever needs more
        tasks wins."""
        target = self.scaling_targets[name]
        for metric, value in (
            ("ECSServiceAverageCPUUtilization", self._config.cpu_target_percent),
            ("ECSServiceAverageMemoryUtilization", self._config.memory_target_percent),
        ):
            AppautoscalingPolicy(
                self,
                f"{name}-{metric}",
                name=self._naming.name(name, metric.removeprefix("ECSServiceAverage").lower()),
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                    target_value=value,
                    scale_in_cooldown=300,
                    scale_out_cooldown=60,
                    predefined_metric_specification=AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                        predefined_metric_type=metric
                    ),
                ),
            )

    def _containers(self, spec: ServiceSpec, log_group: CloudwatchLogGroup) -> list[dict]:
        return [
            self._app_container(spec, log_group),
            self._xray_container(log_group),
            volume_init(self._logging(log_group, VOLUME_INIT)),
        ]

    def _logging(self, log_group: CloudwatchLogGroup, prefix: str) -> dict:
        return {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group.name,
                "awslogs-region": self._naming.region,
                "awslogs-stream-prefix": prefix,
            },
        }

    def _app_container(self, spec: ServiceSpec, log_group: CloudwatchLogGroup) -> dict:
        """The service's own container: hardened (uid 10001, read-only root, no capabilities), with a health check."""
        app = {
            "name": spec.name,
            "image": spec.image,
            "essential": True,
            "memoryReservation": spec.memory - XRAY_DAEMON_MEMORY - VOLUME_INIT_MEMORY,
            "readonlyRootFilesystem": True,
            "user": APP_USER,
            "privileged": False,
            "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
            "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": SCRATCH_PATH, "readOnly": False}],
            "environment": [
                {"name": k, "value": v}
                for k, v in sorted({**spec.environment, "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000"}.items())
            ],
            "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(spec.secrets.items())],
            "logConfiguration": self._logging(log_group, spec.name),
            "dependsOn": [
                {"containerName": "xray-daemon", "condition": "START"},
                {"containerName": VOLUME_INIT, "condition": "SUCCESS"},
            ],
        }
        command = spec.command or (placeholder_command(spec) if spec.image == PLACEHOLDER_IMAGE else ())
        if command:
            app["command"] = list(command)
        if spec.port:
            app["portMappings"] = [{"containerPort": spec.port, "protocol": "tcp"}]
            app["healthCheck"] = {
                "command": [
                    "CMD-SHELL",
                    f"wget -q -O /dev/null http://127.0.0.1:{spec.port}{spec.health_check_path} || exit 1",
                ],
                "interval": 15,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 30,
            }
        else:
            app["healthCheck"] = {
                "command": ["CMD-SHELL", "test -f /tmp/healthy || exit 1"],
                "interval": 30,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 60,
            }
        return app

    def _xray_container(self, log_group: CloudwatchLogGroup) -> dict:
        return {
            "name": "xray-daemon",
            "image": XRAY_DAEMON_IMAGE,
            "essential": True,
            "memoryReservation": XRAY_DAEMON_MEMORY,
            "readonlyRootFilesystem": True,
            "user": "1337:1337",
            "privileged": False,
            "portMappings": [{"containerPort": 2000, "protocol": "udp"}],
            "logConfiguration": self._logging(log_group, "xray"),
        }
