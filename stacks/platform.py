"""One environment: wires the modules together. The only place modules meet."""
from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.iam_role import IamRole
from constructs import Construct

from environments.config import Environment, StateBackendConfig
from modules.api import Api
from modules.backup import Backup
from modules.cdn import Cdn
from modules.compute import Compute, ServiceSpec
from modules.cost import Cost
from modules.database import Database
from modules.ingest import Ingest
from modules.load_balancer import LoadBalancer, alb_log_delivery_statements
from modules.monitoring import Monitoring, Watched
from modules.naming import Naming
from modules.policy import statement
from modules.network import Network
from modules.security import Security
from modules.storage import Storage
from stacks.emulator import EmulatorSettings
from stacks.providers import aws_provider, s3_backend

APP_PORT = 8080
EDGE_REGION = "us-east-1"  # CloudFront certificates and CLOUDFRONT-scope WAF live here


class PlatformStack(TerraformStack):
    def __init__(self, scope: Construct, id_: str, *, env: Environment, state: StateBackendConfig,
                 emulator: EmulatorSettings | None = None) -> None:
        super().__init__(scope, id_)
        naming = Naming(env.name, env.account_id, env.region)
        protect = env.production  # prevent_destroy on stateful resources; dev stays easy to tear down
        provider = dict(account_id=env.account_id, environment=env.name, emulator=emulator)
        aws_provider(self, "aws", region=env.region, **provider)
        needs_dr = env.storage.replication_enabled or env.database.backup_replication or env.backup.enabled
        dr = aws_provider(self, "aws-dr", region=env.dr_region, alias="dr", **provider) if needs_dr else None
        edge = aws_provider(self, "aws-edge", region=EDGE_REGION, alias="edge", **provider)
        s3_backend(self, bucket=state.bucket, region=state.region, key=naming.state_key,
                   lock_table=state.lock_table, role_arn=state.role_arn, emulator=emulator)

        # Security first: every other module encrypts with its keys.
        security = Security(self, "security", naming=naming, config=env.security, protect=protect)
        dr_key = security.key_in("dr-key", provider=dr, region=env.dr_region, alias=naming.key_alias("dr"),
                                 description=f"{naming.prefix}: DR-region replicas and backups") if dr else None
        edge_key = security.key_in("edge-key", provider=edge, region=EDGE_REGION, alias=naming.key_alias("edge"),
                                   description=f"{naming.prefix}: us-east-1 (edge alarms, CloudFront WAF logs)")
        security.operator_role()
        signing_key = security.app_secret(
            "cdn-signing-key", description="Private key that signs CloudFront URLs (PEM)",
            rotation_reason="AWS has no managed rotation for a CloudFront signing key: it rotates by adding a new "
                            "public key to the key group (cdn.signing_public_key_pem), then replacing this value.")

        network = Network(self, "network", naming=naming, config=env.network,
                          availability_zones=env.availability_zones, kms_key_arn=security.key_arn, app_port=APP_PORT)
        storage = Storage(self, "storage", naming=naming, config=env.storage, kms_key_arn=security.key_arn,
                          protect=protect, dr_region=env.dr_region, dr_provider=dr,
                          dr_kms_key_arn=dr_key.arn if dr_key else None,
                          log_delivery_statements=lambda bucket: alb_log_delivery_statements(
                              env.region, bucket, env.account_id))
        database = Database(self, "database", naming=naming, config=env.database,
                            subnet_ids=network.database_subnet_ids, security_group_id=network.db_sg.id,
                            kms_key_arn=security.key_arn, protect=protect, dr_provider=dr,
                            dr_kms_key_arn=dr_key.arn if dr_key else None)
        ingest = Ingest(self, "ingest", naming=naming, config=env.ingest, kms_key_arn=security.key_arn,
                        log_bucket=storage.log_bucket, force_destroy=env.storage.force_destroy, protect=protect)
        security.add_key_statements(*ingest.key_statements)

        load_balancer = LoadBalancer(
            self, "load-balancer", naming=naming, config=env.load_balancer, subnet_ids=network.public_subnet_ids,
            security_group_id=network.alb_sg.id, vpc_id=network.vpc.id, app_port=APP_PORT,
            health_check_path=env.compute.health_check_path, log_bucket=storage.log_bucket, kms_key_arn=security.key_arn, dns=env.dns)
        compute = Compute(self, "compute", naming=naming, config=env.compute, vpc_id=network.vpc.id,
                          kms_key_arn=security.key_arn)
        c = env.compute
        compute.service(ServiceSpec(
            name="api", cpu=c.cpu, memory=c.memory, image=c.image, min_tasks=c.min_tasks, max_tasks=c.max_tasks,
            subnet_ids=network.private_subnet_ids, security_group_id=network.app_sg.id, port=APP_PORT,
            target_group_arn=load_balancer.target_group.arn, health_check_path=c.health_check_path,
            # ECS refuses a target group that no listener attaches to the load balancer yet, and fails every
            # task whose secret has no value.
            depends_on=(load_balancer.https_listener, security.secret_versions["cdn-signing-key"]),
            on_demand_base=c.on_demand_base, on_demand_weight=c.on_demand_weight, spot_weight=c.spot_weight,
            environment={"ENVIRONMENT": env.name, "DATABASE_HOST": database.instance.address,
                         "VIDEO_BUCKET": storage.video_bucket.name, "UPLOAD_BUCKET": ingest.upload_bucket.name},
            secrets={"DATABASE_CREDENTIALS": database.master_secret_arn, "CDN_SIGNING_KEY": signing_key.arn},
            secret_arns=(database.master_secret_arn, signing_key.arn),
            task_statements=(
                statement("ConnectWithIamAuth", ["rds-db:connect"],
                          [naming.arn("rds-db", f"dbuser:{database.instance.resource_id}/video_ingest_app")]),
                statement("ReadVideos", ["s3:GetObject"], [f"{storage.video_bucket.arn}/*"]),
                statement("DecryptVideos", ["kms:Decrypt", "kms:GenerateDataKey"], [security.key_arn]),
                *ingest.presign_statements,
            )))
        compute.scale_on_utilization("api", cpu_percent=c.cpu_target_percent, memory_percent=c.memory_target_percent)
        i = env.ingest
        worker = compute.service(ServiceSpec(
            name="worker", cpu=i.worker_cpu, memory=i.worker_memory, image=i.worker_image,
            min_tasks=i.min_workers, max_tasks=i.max_workers, subnet_ids=network.private_subnet_ids,
            security_group_id=network.worker_sg.id, on_demand_base=0, on_demand_weight=c.on_demand_weight,
            spot_weight=c.spot_weight,
            environment={"ENVIRONMENT": env.name, "QUEUE_URL": ingest.queue.url,
                         "UPLOAD_BUCKET": ingest.upload_bucket.name, "VIDEO_BUCKET": storage.video_bucket.name},
            task_statements=ingest.worker_statements(storage.video_bucket.arn)))
        ingest.scale_on_backlog(compute.scaling_targets["worker"], cluster_name=compute.cluster.name,
                                service_name=worker.name)

        api = Api(self, "api", naming=naming, config=env.api,
                  backend_url=f"https://{env.load_balancer.domain_name}",
                  kms_key_arn=security.key_arn, web_acl_arn=load_balancer.web_acl.arn)
        cdn = Cdn(self, "cdn", naming=naming, config=env.cdn,
                  video_bucket_domain=storage.video_bucket.bucket.bucket_regional_domain_name,
                  replica_bucket_domain=storage.replica_bucket.bucket.bucket_regional_domain_name
                  if storage.replica_bucket else None,
                  origin_access_control_id=storage.origin_access_control.id,
                  alb_domain=env.load_balancer.domain_name, protect=protect, us_east_1_provider=edge,
                  access_log_bucket=storage.log_bucket, dns=env.dns,
                  kms_key_arn_us_east_1=edge_key.arn, force_destroy=env.storage.force_destroy)
        # The bucket policies name this distribution exactly. The key policy must not: a key that names the
        # distribution's ARN is created after the distribution, which waits for its certificate, and everything
        # encrypted with the key (database, queues, secrets, logs) would queue behind both. Any distribution of
        # this account may ask the key to decrypt, and only for objects a bucket policy lets it read.
        storage.allow_distribution(cdn.distribution.arn)
        cloudfront_decrypts = statement(
            "CloudFrontDecryptsVideos", ["kms:Decrypt"], "*", principal={"Service": "cloudfront.amazonaws.com"},
            condition={"ArnLike": {"AWS:SourceArn": naming.distributions_arn},
                       "StringEquals": {"AWS:SourceAccount": env.account_id}})
        security.add_key_statements(cloudfront_decrypts)
        if dr_key:
            security.add_key_statements(cloudfront_decrypts, key="dr-key")

        monitoring = Monitoring(self, "monitoring", naming=naming, config=env.monitoring,
                                kms_key_arn=security.key_arn, edge_kms_key_arn=edge_key.arn, edge_provider=edge)
        security.add_key_statements(*monitoring.key_statements)
        security.add_key_statements(*monitoring.key_statements, key="edge-key")
        monitoring.watch(Watched(
            cluster_name=compute.cluster.name, services=tuple(compute.services),
            alb_arn_suffix=load_balancer.alb.arn_suffix, target_group_arn_suffix=load_balancer.target_group.arn_suffix,
            api_name=api.rest_api.name, api_stage=api.stage.stage_name, db_identifier=database.identifier,
            replica_identifiers=tuple(naming.replica_identifier(i + 1) for i in range(len(database.replicas))),
            distribution_id=cdn.distribution.id, queue_name=ingest.queue.name,
            dead_letter_queue_name=ingest.dead_letter_queue.name,
            log_groups={name: group.name for name, group in compute.log_groups.items()}))
        Cost(self, "cost", naming=naming, config=env.cost, topic_arn=monitoring.topic.arn,
             edge_topic_arn=monitoring.edge_topic.arn)
        if env.backup.enabled:
            Backup(self, "backup", naming=naming, config=env.backup, resource_arns=[database.instance.arn],
                   kms_key_arn=security.key_arn, dr_kms_key_arn=dr_key.arn, dr_provider=dr, protect=protect)

        outputs = {
            "vpc_id": network.vpc.id, "video_bucket": storage.video_bucket.name,
            "upload_bucket": ingest.upload_bucket.name, "upload_queue_url": ingest.queue.url,
            "database_endpoint": database.instance.endpoint, "database_secret_arn": database.master_secret_arn,
            "database_parameter_group": database.parameter_group.name,
            "alb_dns_name": load_balancer.alb.dns_name, "api_invoke_url": api.stage.invoke_url,
            "cdn_domain_name": cdn.distribution.domain_name, "kms_key_arn": security.key_arn,
            "alarm_topic_arn": monitoring.topic.arn, "dashboard": monitoring.dashboard.dashboard_name,
            "ecr_repositories": {name: repo.repository_url for name, repo in ingest.repositories.items()},
        }
        for name, value in outputs.items():
            TerraformOutput(self, name, value=value)
        # The deploy role may create roles only with the account's boundary (modules/identity.py): every role carries it.
        for construct in self.node.find_all():
            if isinstance(construct, IamRole):
                construct.permissions_boundary = naming.boundary_arn
