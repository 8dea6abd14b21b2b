"""One environment: wires the modules together. The only place modules meet."""
from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from environments.config import Environment, StateBackendConfig
from modules.compute import Compute, ServiceSpec
from modules.database import Database
from modules.load_balancer import LoadBalancer, alb_log_delivery_statements
from modules.naming import Naming, statement
from modules.network import Network
from modules.security import Security
from modules.storage import Storage
from stacks.providers import aws_provider, s3_backend

APP_PORT = 8080


class PlatformStack(TerraformStack):
    def __init__(self, scope: Construct, id_: str, *, env: Environment, state: StateBackendConfig) -> None:
        super().__init__(scope, id_)
        naming = Naming(env.name, env.account_id, env.region)
        protect = env.production  # prevent_destroy on stateful resources; dev stays easy to tear down
        provider = dict(account_id=env.account_id, environment=env.name, role_arn=env.deploy_role_arn)
        aws_provider(self, "aws", region=env.region, **provider)
        needs_dr = env.storage.replication_enabled or env.database.backup_replication
        dr = aws_provider(self, "aws-dr", region=env.dr_region, alias="dr", **provider) if needs_dr else None
        s3_backend(self, bucket=state.bucket, region=state.region, key=f"{env.name}/terraform.tfstate",
                   lock_table=state.lock_table, role_arn=state.role_arn)

        security = Security(self, "security", naming=naming, config=env.security, protect=protect,
                            dr_provider=dr, dr_region=env.dr_region)
        dr_key_arn = security.dr_key.arn if security.dr_key else None
        security.operator_roles(
            state_bucket_arn=f"arn:aws:s3:::{state.bucket}",
            lock_table_arn=f"arn:aws:dynamodb:{state.region}:{state.account_id}:table/{state.lock_table}")
        network = Network(self, "network", naming=naming, config=env.network,
                          availability_zones=env.availability_zones, kms_key_arn=security.key_arn, app_port=APP_PORT)
        storage = Storage(self, "storage", naming=naming, config=env.storage, kms_key_arn=security.key_arn,
                          protect=protect, dr_region=env.dr_region, dr_provider=dr, dr_kms_key_arn=dr_key_arn,
                          log_delivery_statements=lambda bucket: alb_log_delivery_statements(
                              env.region, bucket, env.account_id))
        database = Database(self, "database", naming=naming, config=env.database,
                            subnet_ids=network.database_subnet_ids, security_group_id=network.db_sg.id,
                            kms_key_arn=security.key_arn, protect=protect, dr_provider=dr, dr_kms_key_arn=dr_key_arn)
        load_balancer = LoadBalancer(
            self, "load-balancer", naming=naming, config=env.load_balancer, subnet_ids=network.public_subnet_ids,
            security_group_id=network.alb_sg.id, vpc_id=network.vpc.id, app_port=APP_PORT,
            log_bucket=storage.log_bucket.name, kms_key_arn=security.key_arn,
            log_bucket_policy=storage.log_bucket.policy)
        compute = Compute(self, "compute", naming=naming, config=env.compute, vpc_id=network.vpc.id,
                          kms_key_arn=security.key_arn)
        c = env.compute
        compute.service(ServiceSpec(
            name="api", cpu=c.cpu, memory=c.memory, image=c.image, min_tasks=c.min_tasks, max_tasks=c.max_tasks,
            subnet_ids=network.private_subnet_ids, security_group_id=network.app_sg.id, port=APP_PORT,
            target_group_arn=load_balancer.target_group.arn, health_check_path=c.health_check_path,
            on_demand_base=c.on_demand_base, on_demand_weight=c.on_demand_weight, spot_weight=c.spot_weight,
            environment={"ENVIRONMENT": env.name, "DATABASE_HOST": database.instance.address,
                         "VIDEO_BUCKET": storage.video_bucket.name},
            secrets={"DATABASE_CREDENTIALS": database.master_secret_arn},
            secret_arns=(database.master_secret_arn,),
            task_statements=(
                statement("ConnectWithIamAuth", ["rds-db:connect"],
                          [naming.arn("rds-db", f"dbuser:{database.instance.resource_id}/video_ingest_app")]),
                statement("ReadVideos", ["s3:GetObject"], [f"{storage.video_bucket.arn}/*"]),
                statement("DecryptVideos", ["kms:Decrypt", "kms:GenerateDataKey"], [security.key_arn]),
            )))
        compute.scale_on_utilization("api", cpu_percent=c.cpu_target_percent, memory_percent=c.memory_target_percent)

        TerraformOutput(self, "alb_dns_name", value=load_balancer.alb.dns_name)
        TerraformOutput(self, "vpc_id", value=network.vpc.id)
        TerraformOutput(self, "video_bucket", value=storage.video_bucket.name)
        TerraformOutput(self, "database_endpoint", value=database.instance.endpoint)
        TerraformOutput(self, "database_secret_arn", value=database.master_secret_arn)
        TerraformOutput(self, "kms_key_arn", value=security.key_arn)
