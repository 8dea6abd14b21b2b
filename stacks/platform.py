"""One environment: wires the modules together. The only place modules meet.

`PlatformStack.__init__` is its table of contents: each step builds one layer from the environment's config and
the layers before it. A module that owns a resource grants its use (`storage.grant_read_videos(role)`,
`security.grant_to_service(grant)`); the stack only says who gets what.
"""

from __future__ import annotations

from cdktf import Aspects, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

from environments.config import Environment, StateBackendConfig
from modules.api import Api
from modules.aspects import PermissionsBoundary
from modules.backup import Backup
from modules.cdn import Cdn
from modules.compliance import guardduty_findings_rule
from modules.compute import Compute, ServiceSpec
from modules.cost import Cost
from modules.database import Database
from modules.database_proxy import DatabaseProxy
from modules.ingest import Ingest
from modules.load_balancer import LoadBalancer, alb_log_delivery_statements
from modules.monitoring import Monitoring, Watched
from modules.naming import Naming
from modules.network import POSTGRES_PORT, Network
from modules.private_link import PrivateLink
from modules.security import Security
from modules.storage import Storage
from stacks.providers import aws_provider, s3_backend

APP_PORT = 8080
EDGE_REGION = "us-east-1"  # CloudFront certificates and CLOUDFRONT-scope WAF live here
APP_DATABASE_USER = "video_ingest_app"  # the API logs in to the proxy with IAM auth tokens as this user
# The API's reads on the replicas (IAM auth, direct): a PostgreSQL user granted rds_iam cannot log in with a
# password, which the proxy's login as APP_DATABASE_USER needs, so reads are a user of their own
# (docs/database-access.md).
APP_READ_DATABASE_USER = "video_ingest_reader"
DATABASE_NAME = "video_ingest"  # modules/database.py db_name, by name: the task names no instance, only the proxy


class PlatformStack(TerraformStack):
    def __init__(self, scope: Construct, id_: str, *, env: Environment, state: StateBackendConfig) -> None:
        super().__init__(scope, id_)
        self._env, self._naming = env, Naming(env.name, env.account_id, env.region)
        # One rule for every stateful resource (environments/config.py, `protected`): protected from destroy, or
        # disposable (destroyed with what it holds); never neither.
        self._protect = env.protects_stateful
        self._disposable = not self._protect
        self._dr: AwsProvider | None = None  # only where something lives in the DR region
        self._providers_and_state(state)
        self._security()
        self._network_and_data()
        self._services()
        self._edge()
        self._observability()
        self._outputs()
        Aspects.of(self).add(PermissionsBoundary(self._naming.boundary_arn))

    def _providers_and_state(self, state: StateBackendConfig) -> None:
        env = self._env
        provider = dict(account_id=env.account_id, environment=env.name)
        aws_provider(self, "aws", region=env.region, **provider)
        if env.needs_dr_region:
            self._dr = aws_provider(self, "aws-dr", region=env.dr_region, alias="dr", **provider)
        self._edge_provider = aws_provider(self, "aws-edge", region=EDGE_REGION, alias="edge", **provider)
        s3_backend(
            self,
            bucket=state.bucket,
            region=state.region,
            key=self._naming.state_key,
            lock_table=state.lock_table,
            role_arn=state.role_arn_for(env.name),
            kms_key_arn=state.key_alias_arn,
        )

    def _security(self) -> None:
        """First: every other module encrypts with these keys."""
        env = self._env
        self.security = Security(
            self,
            "security",
            naming=self._naming,
            config=env.security,
            protect=self._protect,
            edge_region=EDGE_REGION,
            edge_provider=self._edge_provider,
            dr_region=env.dr_region,
            dr_provider=self._dr,
        )
        self.security.operator_role()
        self.signing_key = self.security.app_secret(
            "cdn-signing-key",
            description="Private key that signs CloudFront URLs (PEM)",
            rotation_reason="AWS has no managed rotation for a CloudFront signing key: it rotates by adding a new "
            "public key to the key group (cdn.signing_public_key_pem), then replacing this value.",
        )

    def _network_and_data(self) -> None:
        env, naming, security, protect = self._env, self._naming, self.security, self._protect
        self.network = Network(
            self,
            "network",
            naming=naming,
            config=env.network,
            availability_zones=env.availability_zones,
            kms_key_arn=security.key_arn,
            app_port=APP_PORT,
            read_replicas=env.database.read_replicas > 0,
        )
        self.storage = Storage(
            self,
            "storage",
            naming=naming,
            config=env.storage,
            kms_key_arn=security.key_arn,
            protect=protect,
            force_destroy=self._disposable,
            dr_region=env.dr_region,
            dr_provider=self._dr,
            dr_kms_key_arn=security.dr_key_arn,
            log_delivery_statements=lambda bucket: alb_log_delivery_statements(env.region, bucket, env.account_id),
        )
        self.database = Database(
            self,
            "database",
            naming=naming,
            config=env.database,
            subnet_ids=self.network.database_subnet_ids,
            security_group_id=self.network.db_sg.id,
            kms_key_arn=security.key_arn,
            protect=protect,
            dr_provider=self._dr,
            dr_kms_key_arn=security.dr_key_arn,
            replica_security_group_id=self.network.replica_sg.id if self.network.replica_sg else None,
        )
        self._database_proxy()
        self.ingest = Ingest(
            self,
            "ingest",
            naming=naming,
            config=env.ingest,
            kms_key_arn=security.key_arn,
            log_bucket=self.storage.log_bucket,
            force_destroy=self._disposable,
            protect=protect,
        )
        security.grant_to_service(self.ingest.upload_events_grant)

    def _database_proxy(self) -> None:
        """The pool in front of the primary: the only way the app reaches it (modules/database_proxy.py)."""
        self.app_user_secret = self.security.app_secret(
            "database-app-user",
            description=f"PostgreSQL user {APP_DATABASE_USER} for the RDS Proxy: JSON "
            '{"username": ..., "password": ...} (docs/database-access.md)',
            rotation_reason="Read by the RDS Proxy alone; rotated by an operator with ALTER USER and "
            "put-secret-value (docs/database-access.md): no task holds it.",
        )
        self.database_proxy = DatabaseProxy(
            self,
            "database-proxy",
            naming=self._naming,
            config=self._env.database_proxy,
            instance_identifier=self.database.instance.identifier,
            secret=self.app_user_secret,
            subnet_ids=self.network.database_subnet_ids,
            security_group_id=self.network.proxy_sg.id,
            kms_key_arn=self.security.key_arn,
            depends_on=[self.security.secret_versions["database-app-user"]],
        )

    def _services(self) -> None:
        """The API behind the load balancer and the workers on the upload queue, each with its grants."""
        env, network = self._env, self.network
        # Internal, in the private subnets: API Gateway's VPC link is the only way in (docs/request-paths.md).
        self.load_balancer = LoadBalancer(
            self,
            "load-balancer",
            naming=self._naming,
            config=env.load_balancer,
            subnet_ids=network.private_subnet_ids,
            security_group_id=network.alb_sg.id,
            vpc_id=network.vpc.id,
            app_port=APP_PORT,
            health_check_path=env.compute.health_check_path,
            log_bucket=self.storage.log_bucket,
            kms_key_arn=self.security.key_arn,
            dns=env.dns,
        )
        self.private_link = PrivateLink(
            self,
            "private-link",
            naming=self._naming,
            subnet_ids=network.private_subnet_ids,
            vpc_id=network.vpc.id,
            alb_arn=self.load_balancer.alb.arn,
            alb_listener=self.load_balancer.https_listener,
            health_check_path=env.compute.health_check_path,
            deletion_protection=env.load_balancer.deletion_protection,
            security_group_id=network.nlb_sg.id,
        )
        self.compute = Compute(
            self,
            "compute",
            naming=self._naming,
            config=env.compute,
            vpc_id=network.vpc.id,
            kms_key_arn=self.security.key_arn,
        )
        self._api_service()
        self._worker_service()

    def _api_service(self) -> None:
        env, storage, ingest, database, compute = self._env, self.storage, self.ingest, self.database, self.compute
        signing_key, listener = self.signing_key, self.load_balancer.https_listener
        compute.service(
            ServiceSpec.api(
                env.compute,
                port=APP_PORT,
                subnet_ids=self.network.private_subnet_ids,
                security_group_id=self.network.app_sg.id,
                target_group_arn=self.load_balancer.target_group.arn,
                # ECS refuses a target group that no listener attaches to the load balancer yet, and fails every
                # task whose secret has no value.
                depends_on=(listener, self.security.secret_versions["cdn-signing-key"]),
                # The app logs in as its own user with IAM auth tokens through the RDS Proxy, never with the RDS
                # master secret: RDS rotates that every 7 days while ECS reads secrets only at task start, and the app
                # would run as the master user (docs/database-access.md).
                environment={
                    "ENVIRONMENT": env.name,
                    **self._database_environment(),
                    "VIDEO_BUCKET": storage.video_bucket.name,
                    "UPLOAD_BUCKET": ingest.upload_bucket.name,
                },
                secrets={"CDN_SIGNING_KEY": signing_key.arn},
                secret_arns=(signing_key.arn,),
            )
        )
        self.database_proxy.grant_connect(compute.task_roles["api"], user=APP_DATABASE_USER)
        database.grant_connect_replicas(compute.task_roles["api"], user=APP_READ_DATABASE_USER)
        storage.grant_read_videos(compute.task_roles["api"])
        ingest.grant_presign_uploads(compute.task_roles["api"])
        compute.scale_on_utilization("api")

    def _database_environment(self) -> dict[str, str]:
        """Where the API connects (IAM auth tokens, TLS): writes through the proxy, reads on the replicas (or
        the proxy without any). Never an instance address, never a password."""
        replicas = self.database.replicas
        return {
            "DATABASE_HOST": self.database_proxy.proxy.endpoint,
            "DATABASE_PORT": str(POSTGRES_PORT),
            "DATABASE_NAME": DATABASE_NAME,
            "DATABASE_USER": APP_DATABASE_USER,
            "DATABASE_AUTH": "iam",
            "DATABASE_READ_HOSTS": ",".join(r.address for r in replicas)
            if replicas
            else self.database_proxy.proxy.endpoint,
            "DATABASE_READ_USER": APP_READ_DATABASE_USER if replicas else APP_DATABASE_USER,
        }

    def _worker_service(self) -> None:
        env, storage, ingest, compute = self._env, self.storage, self.ingest, self.compute
        worker = compute.service(
            ServiceSpec.worker(
                env.compute,
                env.ingest,
                subnet_ids=self.network.private_subnet_ids,
                security_group_id=self.network.worker_sg.id,
                environment={
                    "ENVIRONMENT": env.name,
                    "QUEUE_URL": ingest.queue.url,
                    "UPLOAD_BUCKET": ingest.upload_bucket.name,
                    "VIDEO_BUCKET": storage.video_bucket.name,
                },
            )
        )
        ingest.grant_consume_uploads(compute.task_roles["worker"])
        storage.grant_write_processed(compute.task_roles["worker"])
        self.security.grant_encrypt_decrypt(compute.task_roles["worker"])
        ingest.scale_on_backlog(
            compute.scaling_targets["worker"], cluster_name=compute.cluster.name, service_name=worker.name
        )

    def _edge(self) -> None:
        """API Gateway in front of the load balancer; CloudFront in front of the videos and the API."""
        env, naming, storage = self._env, self._naming, self.storage
        self.api = Api(
            self,
            "api",
            naming=naming,
            config=env.api,
            backend_url=f"https://{env.load_balancer.domain_name}",
            kms_key_arn=self.security.key_arn,
            web_acl_arn=self.load_balancer.web_acl.arn,
            vpc_link_id=self.private_link.vpc_link.id,
            cors_origin=env.api.cors_allowed_origin or env.ingest.cors_allowed_origins[0],
        )
        self.cdn = Cdn(
            self,
            "cdn",
            naming=naming,
            config=env.cdn,
            video_bucket_domain=storage.video_bucket.bucket.bucket_regional_domain_name,
            replica_bucket_domain=storage.replica_bucket.bucket.bucket_regional_domain_name
            if storage.replica_bucket
            else None,
            origin_access_control_id=storage.origin_access_control.id,
            protect=self._protect,
            us_east_1_provider=self._edge_provider,
            access_log_bucket=storage.log_bucket,
            dns=env.dns,
            kms_key_arn_us_east_1=self.security.edge_key.arn,
            force_destroy=self._disposable,
        )
        storage.grant_read_to_distribution(self.cdn.distribution.arn)
        self.security.grant_to_service(self.cdn.video_key_grant, dr=True)

    def _observability(self) -> None:
        """Alarms and the dashboard on everything above, the budget, and the database's DR backups."""
        env, naming, security = self._env, self._naming, self.security
        self.monitoring = Monitoring(
            self,
            "monitoring",
            naming=naming,
            config=env.monitoring,
            kms_key_arn=security.key_arn,
            edge_kms_key_arn=security.edge_key.arn,
            edge_provider=self._edge_provider,
        )
        security.grant_to_service(self.monitoring.publishers_grant, edge=True)
        compute, load_balancer, ingest = self.compute, self.load_balancer, self.ingest
        self.monitoring.watch(
            Watched(
                cluster_name=compute.cluster.name,
                services=tuple(compute.services),
                alb_arn_suffix=load_balancer.alb.arn_suffix,
                target_group_arn_suffix=load_balancer.target_group.arn_suffix,
                api_name=self.api.rest_api.name,
                api_stage=self.api.stage.stage_name,
                db_identifier=self.database.identifier,
                replica_identifiers=self.database.replica_identifiers,
                proxy_name=self.database_proxy.proxy.name,
                distribution_id=self.cdn.distribution.id,
                queue_name=ingest.queue.name,
                dead_letter_queue_name=ingest.dead_letter_queue.name,
                log_groups={name: group.name for name, group in compute.log_groups.items()},
            )
        )
        # Account-wide findings, to this environment's alarm topic (the account bootstrap runs before it exists).
        guardduty_findings_rule(self.monitoring, naming, self.monitoring.topic.arn)
        Cost(
            self,
            "cost",
            naming=naming,
            config=env.cost,
            topic_arn=self.monitoring.topic.arn,
            edge_topic_arn=self.monitoring.edge_topic.arn,
        )
        if env.backup.enabled:
            Backup(
                self,
                "backup",
                naming=naming,
                config=env.backup,
                resource_arns=[self.database.instance.arn],
                kms_key_arn=security.key_arn,
                dr_kms_key_arn=security.dr_key_arn,
                dr_provider=self._dr,
                protect=self._protect,
            )

    def _outputs(self) -> None:
        network, storage, ingest, database = self.network, self.storage, self.ingest, self.database
        outputs = {
            "vpc_id": network.vpc.id,
            "video_bucket": storage.video_bucket.name,
            "upload_bucket": ingest.upload_bucket.name,
            "upload_queue_url": ingest.queue.url,
            "database_endpoint": database.instance.endpoint,
            "database_secret_arn": database.master_secret_arn,
            "database_proxy_endpoint": self.database_proxy.proxy.endpoint,
            "database_app_user_secret_arn": self.app_user_secret.arn,
            "database_parameter_group": database.parameter_group.name,
            "alb_dns_name": self.load_balancer.alb.dns_name,
            "api_invoke_url": self.api.stage.invoke_url,
            "cdn_domain_name": self.cdn.distribution.domain_name,
            "kms_key_arn": self.security.key_arn,
            "alarm_topic_arn": self.monitoring.topic.arn,
            "dashboard": self.monitoring.dashboard.dashboard_name,
            "ecr_repositories": {name: repo.repository_url for name, repo in ingest.repositories.items()},
        }
        for name, value in outputs.items():
            TerraformOutput(self, name, value=value)
