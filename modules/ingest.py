"""The ingest path: browsers upload straight to S3, S3 tells a queue, workers drain it.

Uploads go to a dedicated bucket, not a prefix of the video bucket: CORS, Transfer
Acceleration, event notifications and lifecycle are bucket-level settings, and
raw uploads must never be reachable through the CDN's grant on the video bucket.
Clients get presigned multipart URLs from the API (API Gateway caps payloads at
10 MB and 29 s; 5 GB takes many minutes), upload parts directly, and on
`CompleteMultipartUpload` S3 sends an event to the queue. Workers read from
`uploads/` and write to `processed/` in the video bucket, and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
)
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicyStepScalingPolicyConfiguration as StepScaling,
)
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicyStepScalingPolicyConfigurationStepAdjustment as StepAdjustment,
)
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecification as Customized,
)
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetrics as Metric,
)
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricsMetricStat as Stat,
)
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    # the provider's generated names are longer than a line:
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricsMetricStatMetric as StatMetric,  # noqa: E501
)
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricsMetricStatMetricDimensions as Dimension,  # noqa: E501
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarmMetricQuery as AlarmQuery
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarmMetricQueryMetric as AlarmMetric
from cdktf_cdktf_provider_aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from cdktf_cdktf_provider_aws.ecr_repository import (
    EcrRepository,
    EcrRepositoryEncryptionConfiguration,
    EcrRepositoryImageScanningConfiguration,
)
from cdktf_cdktf_provider_aws.s3_bucket_accelerate_configuration import S3BucketAccelerateConfiguration
from cdktf_cdktf_provider_aws.s3_bucket_cors_configuration import (
    S3BucketCorsConfiguration,
    S3BucketCorsConfigurationCorsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_notification import S3BucketNotification, S3BucketNotificationQueue
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from cdktf_cdktf_provider_aws.sqs_queue_redrive_allow_policy import SqsQueueRedriveAllowPolicy
from constructs import Construct

from modules.bucket import BucketOptions, LifecycleRule, SecureBucket
from modules.limits import Doc, Pattern, Range
from modules.naming import Naming
from modules.policy import Grantee, ServiceGrant, deny_insecure_transport, policy, statement
from modules.validation import FARGATE_CPU, IMAGE, PLACEHOLDER_IMAGE, check_fargate_size

UPLOAD_PREFIX = "uploads/"
# Every way an object is created under uploads/: Put (single PUT), CompleteMultipartUpload (the documented
# browser flow), Post (a presigned POST form, which the CORS rule's POST admits) and Copy (a copy into uploads/
# is a new upload to process like any other; nothing of the platform copies into this bucket). S3 names one
# event type per creating API, so listing only Put and CompleteMultipartUpload dropped POST uploads silently.
UPLOAD_EVENTS = ("s3:ObjectCreated:*",)
REPOSITORIES = ("api", "worker")


ORIGIN = Pattern(r"https://[a-z0-9.-]+(:\d+)?|http://localhost(:\d+)?", "an https:// origin (or http://localhost)")
AT_LEAST_A_DAY = Range(1, unit="days")


@dataclass(frozen=True, kw_only=True)
class IngestConfig:
    """Inputs. Every default is the prod-safe choice."""

    cors_allowed_origins: Annotated[
        tuple[Annotated[str, ORIGIN], ...], Doc("browser origins that may upload (at least one)")
    ] = ("https://video.example.com",)
    transfer_acceleration: Annotated[bool, Doc("S3 Transfer Acceleration for distant uploaders")] = True
    abort_multipart_days: Annotated[int, AT_LEAST_A_DAY, Doc("incomplete multipart uploads removed after this")] = 1
    raw_upload_retention_days: Annotated[
        int, AT_LEAST_A_DAY, Doc("raw uploads deleted after processing had this long")
    ] = 7
    visibility_timeout_seconds: Annotated[int, Range(0, 43200, "s"), Doc("> the longest processing of one upload")] = (
        900
    )
    max_receive_count: Annotated[
        int, Range(1, 1000), Doc("attempts before a message goes to the dead-letter queue")
    ] = 5
    worker_cpu: Annotated[int, FARGATE_CPU, Doc("worker task CPU units")] = 2048
    worker_memory: Annotated[int, Doc("worker task memory MiB (a size Fargate accepts with worker_cpu)")] = 4096
    worker_image: Annotated[
        str, IMAGE, Doc("worker container image; default: a placeholder that stays up (docs/first-deploy.md: Images)")
    ] = PLACEHOLDER_IMAGE
    min_workers: Annotated[int, Range(0, 100), Doc("0 lets the service idle at zero tasks")] = 1
    max_workers: Annotated[int, Range(1, 100), Doc("autoscaling ceiling, at least min_workers")] = 10
    backlog_per_worker: Annotated[int, Range(1), Doc("target messages waiting per running worker")] = 5
    ecr_keep_images: Annotated[int, Range(1, 1000), Doc("images kept per repository")] = 30

    def __post_init__(self) -> None:
        check_fargate_size(self.worker_cpu, self.worker_memory, "worker_cpu", "worker_memory")
        if not self.cors_allowed_origins:
            raise ValueError("cors_allowed_origins = []: at least one origin is needed for browser uploads")
        if self.min_workers > self.max_workers:
            raise ValueError(
                f"min_workers/max_workers = {self.min_workers}/{self.max_workers}: "
                "min_workers must not exceed max_workers"
            )


class Ingest(Construct):
    """Exposes `upload_bucket`, `queue`, `dead_letter_queue`, `repositories`, `upload_events_grant` (for the key),
    and the grants `grant_presign_uploads(role)` (API) and `grant_consume_uploads(role)` (workers)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: IngestConfig,
        kms_key_arn: str,
        log_bucket: SecureBucket,
        force_destroy: bool,
        protect: bool,
    ) -> None:
        super().__init__(scope, id_)
        self._naming, self._config, self._kms_key_arn = naming, config, kms_key_arn
        self._disposable = force_destroy
        self.upload_bucket = self._upload_bucket(log_bucket, force_destroy=force_destroy, protect=protect)
        self._queues()
        self.repositories = {name: self._repository(name, config) for name in REPOSITORIES}

    def _upload_bucket(self, log_bucket: SecureBucket, *, force_destroy: bool, protect: bool) -> SecureBucket:
        """The dedicated upload bucket: raw uploads expire, browsers may PUT parts, optionally accelerated."""
        naming, config, kms_key_arn = self._naming, self._config, self._kms_key_arn
        upload_bucket = SecureBucket(
            self,
            "uploads",
            name=naming.bucket("uploads"),
            options=BucketOptions(
                kms_key_arn=kms_key_arn,
                log_bucket=log_bucket,
                force_destroy=force_destroy,
                notifications=False,
                protect=protect,
                skips={
                    "CKV_AWS_144": "Raw uploads are transient (deleted after "
                    f"{config.raw_upload_retention_days} days); the processed copies in the video "
                    "bucket are what is replicated."
                },
                lifecycle=(
                    LifecycleRule(
                        id="raw-uploads",
                        prefix=UPLOAD_PREFIX,
                        expire_days=config.raw_upload_retention_days,
                        noncurrent_expire_days=1,
                        abort_multipart_days=config.abort_multipart_days,
                    ),
                    LifecycleRule(id="abort-incomplete-uploads", abort_multipart_days=config.abort_multipart_days),
                ),
            ),
        )
        S3BucketCorsConfiguration(
            self,
            "cors",
            bucket=upload_bucket.bucket.id,
            cors_rule=[
                S3BucketCorsConfigurationCorsRule(
                    id="browser-multipart-upload",
                    allowed_methods=["PUT", "POST"],
                    allowed_origins=list(config.cors_allowed_origins),
                    allowed_headers=["content-type", "content-md5", "x-amz-*"],
                    expose_headers=["ETag"],  # the client needs each part's ETag to complete the upload
                    max_age_seconds=3000,
                )
            ],
        )
        if config.transfer_acceleration:
            # Only when on: a bucket never accelerated has no status to suspend (S3 reports none, so a
            # "Suspended" resource would differ on every plan); removing this resource suspends it.
            S3BucketAccelerateConfiguration(self, "acceleration", bucket=upload_bucket.bucket.id, status="Enabled")
        return upload_bucket

    def _queues(self) -> None:
        """The upload events' queue (KMS, dead letters after `max_receive_count`) and the bucket's notification."""
        naming, config, kms_key_arn = self._naming, self._config, self._kms_key_arn
        self.dead_letter_queue = SqsQueue(
            self,
            "dead-letter-queue",
            name=naming.name("uploads-dlq"),
            message_retention_seconds=14 * 86400,
            kms_master_key_id=kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
        )
        self.queue = SqsQueue(
            self,
            "queue",
            name=naming.name("uploads"),
            visibility_timeout_seconds=config.visibility_timeout_seconds,
            message_retention_seconds=4 * 86400,
            receive_wait_time_seconds=20,
            kms_master_key_id=kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            redrive_policy=json.dumps(
                {"deadLetterTargetArn": self.dead_letter_queue.arn, "maxReceiveCount": config.max_receive_count}
            ),
        )
        SqsQueueRedriveAllowPolicy(
            self,
            "dead-letter-redrive-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [self.queue.arn]}),
        )
        self._notify_queue()

    def _notify_queue(self) -> None:
        """Completed uploads under `uploads/` become messages; the queue's policy admits this bucket only."""
        queue_policy = SqsQueuePolicy(
            self,
            "queue-policy",
            queue_url=self.queue.url,
            policy=policy(
                statement(
                    "UploadBucketEvents",
                    ["sqs:SendMessage"],
                    [self.queue.arn],
                    principal={"Service": "s3.amazonaws.com"},
                    condition={
                        "ArnEquals": {"aws:SourceArn": self.upload_bucket.arn},
                        "StringEquals": {"aws:SourceAccount": self._naming.account_id},
                    },
                ),
                deny_insecure_transport("sqs", [self.queue.arn]),
            ),
        )
        self.notification = S3BucketNotification(
            self,
            "upload-events",
            bucket=self.upload_bucket.bucket.id,
            eventbridge=True,
            queue=[
                S3BucketNotificationQueue(
                    id="completed-uploads",
                    queue_arn=self.queue.arn,
                    events=list(UPLOAD_EVENTS),
                    filter_prefix=UPLOAD_PREFIX,
                )
            ],
            depends_on=[queue_policy],
        )

    @property
    def upload_events_grant(self) -> ServiceGrant:
        """S3 must encrypt the events it sends to the KMS-encrypted queue (for `Security.grant_to_service`).
        Kept conditioned on aws:SourceArn = the upload bucket: KMS evaluates the global keys aws:SourceArn and
        aws:SourceAccount for requests an AWS service principal makes on a resource's behalf (AWS KMS developer
        guide, "AWS global condition keys"; the confused-deputy guard AWS recommends), and S3 names the bucket
        whose event it delivers, as the queue policy's own aws:SourceArn condition relies on."""
        return ServiceGrant(
            "S3SendsUploadEvents",
            "s3.amazonaws.com",
            ("kms:Decrypt", "kms:GenerateDataKey"),
            {"ArnEquals": {"aws:SourceArn": self.upload_bucket.arn}},
        )

    def grant_presign_uploads(self, grantee: Grantee) -> None:
        """What the API needs to hand out presigned multipart uploads into `uploads/` (and only there)."""
        grantee.add_to_policy(
            statement(
                "PresignUploads",
                ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:PutObject"],
                [f"{self.upload_bucket.arn}/{UPLOAD_PREFIX}*"],
            ),
            statement("EncryptUploads", ["kms:GenerateDataKey"], [self._kms_key_arn]),
        )

    def grant_consume_uploads(self, grantee: Grantee) -> None:
        """Workers: consume the queue and read `uploads/`; nothing more (the key: `Security.grant_encrypt_decrypt`)."""
        grantee.add_to_policy(
            statement(
                "ConsumeUploadEvents",
                ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                [self.queue.arn],
            ),
            statement("ReadUploads", ["s3:GetObject"], [f"{self.upload_bucket.arn}/{UPLOAD_PREFIX}*"]),
        )

    def scale_on_backlog(
        self, target: AppautoscalingTarget, *, cluster_name: str, service_name: str
    ) -> AppautoscalingPolicy:
        """Target tracking on backlog per task: visible messages / running tasks (metric math); and the step
        policy that starts a worker when none is running (`_scale_out_when_unserved`)."""
        dimension = lambda name, value: Dimension(name=name, value=value)
        metrics = [
            Metric(
                id="backlog",
                return_data=False,
                metric_stat=Stat(
                    stat="Sum",
                    metric=StatMetric(
                        namespace="AWS/SQS",
                        metric_name="ApproximateNumberOfMessagesVisible",
                        dimensions=[dimension("QueueName", self.queue.name)],
                    ),
                ),
            ),
            Metric(
                id="tasks",
                return_data=False,
                metric_stat=Stat(
                    stat="Average",
                    metric=StatMetric(
                        namespace="ECS/ContainerInsights",
                        metric_name="RunningTaskCount",
                        dimensions=[dimension("ClusterName", cluster_name), dimension("ServiceName", service_name)],
                    ),
                ),
            ),
            # With tasks reporting 0, the whole backlog counts against one; with none reporting at all (scaled to
            # zero) this has no data, which is why the step policy below exists.
            Metric(
                id="backlog_per_task",
                label="Messages waiting per running worker",
                return_data=True,
                expression="IF(tasks > 0, backlog / tasks, backlog)",
            ),
        ]
        self._scale_out_when_unserved(target)
        return AppautoscalingPolicy(
            self,
            "worker-backlog-scaling",
            name=self._naming.name("worker", "backlog"),
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                target_value=self._config.backlog_per_worker,
                scale_in_cooldown=300,
                scale_out_cooldown=60,
                customized_metric_specification=Customized(metrics=metrics),
            ),
        )

    def _scale_out_when_unserved(self, target: AppautoscalingTarget) -> None:
        """Scale from zero. With no worker running, Container Insights reports no RunningTaskCount, so the
        backlog-per-task math above has no data, its alarms stay INSUFFICIENT_DATA, and target tracking never
        starts the first worker. This step policy looks at the queue alone (SQS reports its metrics while it
        holds messages): messages waiting that no worker received within a minute, two minutes running, add one
        worker, from 0 to 1 or one more when every running worker is busy with a long upload. It never removes
        one; target tracking scales in."""
        n = self._naming
        step = AppautoscalingPolicy(
            self,
            "worker-unserved-backlog-scaling",
            name=n.name("worker", "unserved-backlog"),
            policy_type="StepScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            step_scaling_policy_configuration=StepScaling(
                adjustment_type="ChangeInCapacity",
                cooldown=120,
                metric_aggregation_type="Maximum",
                step_adjustment=[StepAdjustment(metric_interval_lower_bound="0", scaling_adjustment=1)],
            ),
        )
        queue_metric = lambda id_, metric, stat: AlarmQuery(
            id=id_,
            return_data=False,
            metric=AlarmMetric(
                namespace="AWS/SQS", metric_name=metric, dimensions={"QueueName": self.queue.name}, period=60, stat=stat
            ),
        )
        CloudwatchMetricAlarm(
            self,
            "worker-unserved-backlog",
            alarm_name=n.name("worker", "unserved-backlog"),
            alarm_description="Uploads wait in the queue and no worker received any for two minutes: add a worker "
            "(the only way out of zero workers)",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data="notBreaching",
            alarm_actions=[step.arn],
            metric_query=[
                queue_metric("backlog", "ApproximateNumberOfMessagesVisible", "Maximum"),
                queue_metric("received", "NumberOfMessagesReceived", "Sum"),
                AlarmQuery(
                    id="unserved",
                    label="Messages waiting that no worker received",
                    return_data=True,
                    expression="IF(backlog >= 1 AND received == 0, 1, 0)",
                ),
            ],
        )

    def _repository(self, name: str, config: IngestConfig) -> EcrRepository:
        repository = EcrRepository(
            self,
            f"{name}-repository",
            name=self._naming.name(name),
            image_tag_mutability="IMMUTABLE",
            force_delete=self._disposable,  # disposable environments: destroyed with their images
            lifecycle=TerraformResourceLifecycle(prevent_destroy=not self._disposable),
            image_scanning_configuration=EcrRepositoryImageScanningConfiguration(scan_on_push=True),
            encryption_configuration=[
                EcrRepositoryEncryptionConfiguration(encryption_type="KMS", kms_key=self._kms_key_arn)
            ],
        )
        EcrLifecyclePolicy(
            self,
            f"{name}-repository-lifecycle",
            repository=repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"keep the last {config.ecr_keep_images} images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": config.ecr_keep_images,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                },
                sort_keys=True,
            ),
        )
        return repository
