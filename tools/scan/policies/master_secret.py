"""CKV_VIDEO_6: no ECS task definition reads a database's master user secret."""

from __future__ import annotations

from checkov.common.models.enums import CheckCategories
from video_policy_model import Policy, containers, references

DATABASES = {"aws_db_instance", "aws_rds_cluster"}


def master_secret(value) -> str | None:
    """The database whose RDS-managed master secret `value` points at (reference or `rds!` secret ARN)."""
    for rtype, name, path in references(value):
        if rtype in DATABASES and path.startswith(".master_user_secret"):
            return f"{rtype}.{name}"
    if isinstance(value, str) and ":secret:rds!" in value:
        return value
    return None


class NoTaskReadsTheMasterSecret(Policy):
    def __init__(self) -> None:
        super().__init__(
            name="No ECS task definition reads a database master user secret (RDS rotates it every 7 days, ECS "
            "reads secrets only at task start; the app uses its own database user)",
            id="CKV_VIDEO_6",
            supported_resources=["aws_ecs_task_definition"],
            categories=[CheckCategories.IAM],
        )

    def evaluate(self, config, rtype, name, body):
        defined = containers(body)
        if defined is None:
            return None
        problems = []
        for container in defined:
            for secret in container.get("secrets") or []:
                database = master_secret(secret.get("valueFrom"))
                if database:
                    problems.append(
                        f"container {container.get('name')} reads {secret.get('name')} from the "
                        f"master user secret of {database}"
                    )
        return problems


check = NoTaskReadsTheMasterSecret()
