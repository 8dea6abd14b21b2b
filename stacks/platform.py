"""One environment: wires the modules together. The only place modules meet."""
from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from environments.config import Environment, StateBackendConfig
from modules.database import Database
from modules.naming import Naming
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
                          protect=protect, dr_region=env.dr_region, dr_provider=dr, dr_kms_key_arn=dr_key_arn)
        database = Database(self, "database", naming=naming, config=env.database,
                            subnet_ids=network.database_subnet_ids, security_group_id=network.db_sg.id,
                            kms_key_arn=security.key_arn, protect=protect, dr_provider=dr, dr_kms_key_arn=dr_key_arn)

        TerraformOutput(self, "vpc_id", value=network.vpc.id)
        TerraformOutput(self, "video_bucket", value=storage.video_bucket.name)
        TerraformOutput(self, "database_endpoint", value=database.instance.endpoint)
        TerraformOutput(self, "database_secret_arn", value=database.master_secret_arn)
        TerraformOutput(self, "kms_key_arn", value=security.key_arn)
