"""CKV_VIDEO_7: every stateful resource is either protected from destroy or disposable, never neither."""

from __future__ import annotations

from checkov.common.models.enums import CheckCategories
from video_policy_model import Policy, truthy


def prevent_destroy(body: dict) -> bool:
    lifecycle = body.get("lifecycle") or {}
    return truthy((lifecycle[0] if isinstance(lifecycle, list) and lifecycle else lifecycle).get("prevent_destroy"))


def disposable(rtype: str, body: dict) -> tuple[bool, str]:
    """(whether `terraform destroy` removes it without a manual step and a re-create can follow, why not)."""
    if rtype == "aws_s3_bucket":
        return truthy(
            body.get("force_destroy")
        ), "force_destroy is off (a bucket holding objects or versions fails to delete)"
    if rtype == "aws_ecr_repository":
        return truthy(body.get("force_delete")), "force_delete is off (a repository holding images fails to delete)"
    if rtype == "aws_secretsmanager_secret":
        window = body.get("recovery_window_in_days", 30)
        fixed = bool(body.get("name"))
        return (str(window) == "0" or not fixed), (
            f"recovery_window_in_days {window} with the fixed name "
            f"{body.get('name')!r} (a re-create within the window fails)"
        )
    if rtype in ("aws_db_instance", "aws_rds_cluster"):
        if truthy(body.get("deletion_protection")):
            return False, "deletion_protection"
        snapshot = truthy(body.get("skip_final_snapshot")) or bool(body.get("final_snapshot_identifier"))
        return snapshot, "skip_final_snapshot is off and no final_snapshot_identifier (destroy fails)"
    return True, ""


def protected(rtype: str, body: dict) -> bool:
    """Destroy is refused on purpose: Terraform's prevent_destroy, or the service's own deletion protection."""
    return prevent_destroy(body) or (
        rtype in ("aws_db_instance", "aws_rds_cluster") and truthy(body.get("deletion_protection"))
    )


class ProtectedOrDisposable(Policy):
    def __init__(self) -> None:
        super().__init__(
            name="Every stateful resource (S3 bucket, ECR repository, secret, database) is protected from destroy "
            "(prevent_destroy, deletion protection) or disposable (force_destroy, force_delete, no recovery "
            "window on a fixed name, final snapshot skipped or named)",
            id="CKV_VIDEO_7",
            supported_resources=[
                "aws_s3_bucket",
                "aws_ecr_repository",
                "aws_secretsmanager_secret",
                "aws_db_instance",
                "aws_rds_cluster",
            ],
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
        )

    def evaluate(self, config, rtype, name, body):
        if protected(rtype, body):
            return []
        ok, why = disposable(rtype, body)
        return [] if ok else [f"neither protected (no lifecycle.prevent_destroy) nor disposable: {why}"]


check = ProtectedOrDisposable()
