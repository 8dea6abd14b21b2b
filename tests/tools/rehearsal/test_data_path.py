"""tools/rehearsal/data_path.py against the rehearsal's own emulator (moto server on 127.0.0.1,
tools.rehearsal.harness.Emulator): an object under the notification's prefix reaches the queue, a presigned
multipart upload completes and reaches it, and a bucket whose notification is missing fails the event check."""

from __future__ import annotations

import json

import pytest

from tools.rehearsal import data_path
from tools.rehearsal.data_path import Outcome

REGION = "eu-west-1"


def stack(bucket: str, queue: str) -> dict:
    """The part of a synthesized stack the data path reads: bucket, queue, notification, provider."""
    return {
        "provider": {"aws": [{"region": REGION}, {"alias": "edge", "region": "us-east-1"}]},
        "resource": {
            "aws_s3_bucket": {"uploads": {"bucket": bucket}},
            "aws_sqs_queue": {"queue": {"name": queue}},
            "aws_s3_bucket_notification": {
                "events": {
                    "bucket": "${aws_s3_bucket.uploads.id}",
                    "queue": [
                        {
                            "events": ["s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectCreated:Put"],
                            "filter_prefix": "uploads/",
                            "queue_arn": "${aws_sqs_queue.queue.arn}",
                        }
                    ],
                }
            },
        },
    }


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    from tools.rehearsal.harness import Emulator

    server = Emulator(tmp_path_factory.mktemp("moto") / "moto.log")
    yield {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "VIDEO_INGEST_EMULATOR_ENDPOINT": server.url,
    }
    server.stop()


def applied(env, bucket: str, queue: str, notify: bool) -> None:
    """What the apply of `stack(bucket, queue)` leaves: a versioned bucket, a queue, the notification."""
    s3, sqs = data_path.clients(env, REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    arn = sqs.get_queue_attributes(QueueUrl=sqs.create_queue(QueueName=queue)["QueueUrl"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    if notify:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn,
                        "Events": ["s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                    }
                ]
            },
        )


@pytest.mark.slow  # moto with the emulator's patches
def test_the_data_path_reaches_the_queue_and_completes_a_presigned_multipart_upload(emulator, tmp_path):
    applied(emulator, "uploads-ok", "queue-ok", notify=True)
    config = tmp_path / "cdk.tf.json"
    config.write_text(json.dumps(stack("uploads-ok", "queue-ok")))
    checks = data_path.rehearse(config, emulator)
    assert [(c.name, c.outcome) for c in checks] == [("event", Outcome.OK), ("multipart", Outcome.OK)], checks
    assert data_path.passed(checks) and data_path.summary(checks) == "event ok, multipart ok"
    s3, _ = data_path.clients(emulator, REGION)
    listed = s3.list_object_versions(Bucket="uploads-ok")
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []  # left nothing behind


@pytest.mark.slow  # moto with the emulator's patches
def test_a_bucket_without_its_notification_fails_the_event_check(emulator, tmp_path, monkeypatch):
    monkeypatch.setattr(data_path, "RECEIVE_SECONDS", 2)
    applied(emulator, "uploads-silent", "queue-silent", notify=False)
    config = tmp_path / "cdk.tf.json"
    config.write_text(json.dumps(stack("uploads-silent", "queue-silent")))
    checks = data_path.rehearse(config, emulator)
    assert checks[0].name == "event" and checks[0].outcome is Outcome.FAILED
    assert not data_path.passed(checks)


def test_a_stack_without_a_queue_notification_is_reported_not_configured(tmp_path):
    config = tmp_path / "cdk.tf.json"
    config.write_text(json.dumps({"provider": {"aws": [{"region": REGION}]}, "resource": {}}))
    checks = data_path.rehearse(config, {})
    assert checks == [data_path.Check("event", Outcome.NOT_CONFIGURED)] and not data_path.passed(checks)


def test_the_notifications_are_read_from_the_synthesized_dev_stack(stacks):
    [note] = data_path.notifications(stacks["dev"])
    assert note.bucket.startswith("video-ingest-dev-uploads-") and note.queue == "video-ingest-dev-uploads"
    assert note.prefix == "uploads/" and note.events == ("s3:ObjectCreated:*",)


@pytest.mark.slow  # moto with the emulator's patches
def test_patched_complete_multipart_upload_sends_only_its_own_event():
    """moto 5.2.5 sent ObjectCreated:Put too; AWS sends only ObjectCreated:CompleteMultipartUpload."""
    import boto3
    from moto import mock_aws

    from tools.rehearsal.emulator_server import apply_patches

    apply_patches()
    with mock_aws():
        s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
        s3.create_bucket(Bucket="uploads", CreateBucketConfiguration={"LocationConstraint": REGION})
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket="uploads",
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
        )
        upload = s3.create_multipart_upload(Bucket="uploads", Key="k")["UploadId"]
        etag = s3.upload_part(Bucket="uploads", Key="k", UploadId=upload, PartNumber=1, Body=b"x")["ETag"]
        s3.complete_multipart_upload(
            Bucket="uploads", Key="k", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
        )
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        events = [r["eventName"] for m in messages for r in json.loads(m["Body"]).get("Records", [])]
    assert events == ["ObjectCreated:CompleteMultipartUpload"]
