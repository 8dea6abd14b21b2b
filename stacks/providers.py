"""AWS providers and the S3 backend: the same account guard, tags and roles on every stack."""

from __future__ import annotations

from cdktf import S3Backend, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags

from modules.naming import PROJECT

MANAGED_BY = "cdktf/video-ingest-infra"


def aws_provider(
    stack: TerraformStack, id_: str, *, region: str, account_id: str, environment: str, alias: str | None = None
) -> AwsProvider:
    """`allowed_account_ids` makes a config aimed at the wrong account fail before any change.

    No provider assumes a role: an environment stack runs as the deploy role CI reached by web
    identity, a bootstrap stack as the account's administrator."""
    return AwsProvider(
        stack,
        id_,
        region=region,
        alias=alias,
        allowed_account_ids=[account_id],
        default_tags=[
            AwsProviderDefaultTags(tags={"Project": PROJECT, "Environment": environment, "ManagedBy": MANAGED_BY})
        ],
    )


def s3_backend(
    stack: TerraformStack, *, bucket: str, region: str, key: str, lock_table: str, role_arn: str, kms_key_arn: str
) -> S3Backend:
    # With `encrypt` alone the backend asks S3 for AES256 on every write, overriding the bucket's KMS
    # default: the state key is named so state objects are SSE-KMS as the bucket intends.
    backend = S3Backend(
        stack, bucket=bucket, key=key, region=region, encrypt=True, dynamodb_table=lock_table, kms_key_id=kms_key_arn
    )
    # S3-native locking (Terraform >= 1.10) alongside DynamoDB during the migration both support.
    backend.add_override("use_lockfile", True)
    # A chained session (deploy role -> state role) lasts one hour at most (AWS); the SDK's credential
    # cache assumes the role again before it expires, for as long as the deploy role's own session lasts.
    backend.add_override("assume_role", {"role_arn": role_arn, "session_name": f"{PROJECT}-state", "duration": "1h"})
    return backend
