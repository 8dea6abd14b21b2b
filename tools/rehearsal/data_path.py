#!/usr/bin/env python3
"""The data path of an applied environment, exercised against the emulator (tools/rehearsal/e2e.py, after apply,
before destroy): what a deploy that *completes* does not prove.

For every S3 -> SQS notification of the stack (the upload bucket's `ObjectCreated` events on `uploads/` to the
ingest queue), as the README's upload flow runs it:
1. `event`: an object put under the notification's prefix produces its event on the queue (received, key checked);
2. `multipart`: a multipart upload as a browser does it: started and each part presigned (`UploadPart` URLs) as
   the API does (here with the rehearsal's deploy session: no task runs in the emulator to sign with the API
   task's role), the parts PUT to those URLs over HTTPS (5 MiB, S3's minimum for every part but the
   last, then 1 MiB), the upload is completed, the object reads back with the parts' size and a two-part ETag,
   and its `CompleteMultipartUpload` event arrives on the queue.
What it wrote is deleted again (every version: a bucket without force_destroy must still destroy).

Names (bucket, queue, prefix, region) come from the synthesized stack, never from a copy. moto 5.2.5 delivers
S3 notifications to SQS itself (moto/s3/notifications.py `send_event`, on PutObject and
CompleteMultipartUpload), so no emulator patch is needed.
"""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

PART_SIZES = (5 * 1024 * 1024, 1024 * 1024)  # every part but the last at least 5 MiB (S3's limit)
RECEIVE_SECONDS = 30
REFERENCE = re.compile(r"^\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}$")


class Outcome(Enum):
    OK = "ok"
    FAILED = "FAILED"
    NOT_CONFIGURED = "no S3 -> SQS notification"


@dataclass(frozen=True)
class Check:
    name: str  # "event" | "multipart"
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class Notification:
    bucket: str
    queue: str
    prefix: str
    events: tuple[str, ...]


def notifications(config: dict) -> list[Notification]:
    """Every queue notification of the stack, with the bucket's and the queue's literal names."""
    resources = config.get("resource", {})

    def literal(value: str, attribute: str) -> str | None:
        match = REFERENCE.match(str(value))
        if not match:
            return None
        body = resources.get(match.group(1), {}).get(match.group(2), {})
        found = body.get(attribute)
        return found if isinstance(found, str) and "${" not in found else None

    found = []
    for body in resources.get("aws_s3_bucket_notification", {}).values():
        bucket = literal(body.get("bucket"), "bucket")
        for queue in body.get("queue") or []:
            name = literal(queue.get("queue_arn"), "name")
            if bucket and name:
                found.append(
                    Notification(bucket, name, queue.get("filter_prefix") or "", tuple(queue.get("events") or ()))
                )
    return found


def region_of(config: dict) -> str:
    providers = config.get("provider", {}).get("aws", [])
    return next(p["region"] for p in providers if "alias" not in p)


def clients(env: dict[str, str], region: str):
    import boto3
    import urllib3
    from botocore.config import Config

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the emulator's self-signed certificate
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        region_name=region,
    )
    endpoint = env["VIDEO_INGEST_EMULATOR_ENDPOINT"]
    s3 = session.client(
        "s3",
        endpoint_url=endpoint,
        verify=False,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    return s3, session.client("sqs", endpoint_url=endpoint, verify=False)


def await_event(sqs, queue_url: str, key: str, event: str, seconds: float = RECEIVE_SECONDS) -> str | None:
    """The event name of the queue message for `key` (deleted once read), or None if none came in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
        ).get("Messages", [])
        for message in messages:
            records = json.loads(message["Body"]).get("Records", [])
            if any(urllib.parse.unquote_plus(r["s3"]["object"]["key"]) == key for r in records):
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                names = [r.get("eventName", "") for r in records]
                return next((n for n in names if n == event), names[0] if names else "")
    return None


def put_part(url: str, body: bytes) -> str:
    """PUT one part to its presigned URL, as a browser does; its ETag."""
    # A browser sends the file's type; with none, urllib would send a form type, whose body moto reads as the
    # query string (and loses partNumber).
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "video/mp4"})
    with urllib.request.urlopen(request, timeout=60, context=ssl._create_unverified_context()) as response:
        return response.headers["ETag"]


def check_event(s3, sqs, queue_url: str, note: Notification, run: str) -> Check:
    key = f"{note.prefix}data-path/{run}.bin"
    s3.put_object(Bucket=note.bucket, Key=key, Body=b"data path rehearsal\n")
    event = await_event(sqs, queue_url, key, "ObjectCreated:Put")
    if event is None:
        return Check(
            "event",
            Outcome.FAILED,
            f"no message for s3://{note.bucket}/{key} on {note.queue} within {RECEIVE_SECONDS} s",
        )
    if event != "ObjectCreated:Put":
        return Check("event", Outcome.FAILED, f"{key}: event {event}, expected ObjectCreated:Put")
    return Check("event", Outcome.OK, f"s3://{note.bucket}/{key} -> {note.queue}: {event}")


def check_multipart(s3, sqs, queue_url: str, note: Notification, run: str) -> Check:
    key = f"{note.prefix}data-path/{run}-multipart.bin"
    upload = s3.create_multipart_upload(Bucket=note.bucket, Key=key)["UploadId"]
    parts = []
    for number, size in enumerate(PART_SIZES, start=1):
        url = s3.generate_presigned_url(
            "upload_part",
            ExpiresIn=3600,
            Params={"Bucket": note.bucket, "Key": key, "UploadId": upload, "PartNumber": number},
        )
        parts.append({"PartNumber": number, "ETag": put_part(url, bytes([number]) * size)})
    s3.complete_multipart_upload(Bucket=note.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    head = s3.head_object(Bucket=note.bucket, Key=key)
    if head["ContentLength"] != sum(PART_SIZES) or not head["ETag"].strip('"').endswith(f"-{len(PART_SIZES)}"):
        return Check("multipart", Outcome.FAILED, f"{key}: {head['ContentLength']} bytes, ETag {head['ETag']}")
    event = await_event(sqs, queue_url, key, "ObjectCreated:CompleteMultipartUpload")
    if event != "ObjectCreated:CompleteMultipartUpload":
        return Check("multipart", Outcome.FAILED, f"{key}: completed, but queue event {event!r}")
    return Check("multipart", Outcome.OK, f"{len(PART_SIZES)} presigned parts, {sum(PART_SIZES)} bytes -> {event}")


def remove(s3, bucket: str, prefix: str) -> None:
    """Every version and delete marker under `prefix`: the bucket must still destroy without force_destroy."""
    listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    doomed = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for kind in ("Versions", "DeleteMarkers")
        for v in listed.get(kind, [])
    ]
    if doomed:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})


def rehearse(config_file: Path, env: dict[str, str]) -> list[Check]:
    """The data-path checks of one applied stack (its cdk.tf.json, the deploy session's environment)."""
    config = json.loads(Path(config_file).read_text())
    found = notifications(config)
    if not found:
        return [Check("event", Outcome.NOT_CONFIGURED)]
    s3, sqs = clients(env, region_of(config))
    checks = []
    for note in found:
        run = uuid.uuid4().hex[:12]
        try:
            queue_url = sqs.get_queue_url(QueueName=note.queue)["QueueUrl"]
            checks.append(check_event(s3, sqs, queue_url, note, run))
            checks.append(check_multipart(s3, sqs, queue_url, note, run))
        except Exception as error:  # an API error is this check's outcome, not the rehearsal's crash
            checks.append(
                Check("multipart" if checks else "event", Outcome.FAILED, f"{type(error).__name__}: {error}"[:300])
            )
        finally:
            try:
                remove(s3, note.bucket, f"{note.prefix}data-path/{run}")
            except Exception as error:
                checks.append(Check("cleanup", Outcome.FAILED, f"{type(error).__name__}: {error}"[:300]))
    return checks


def summary(checks: list[Check]) -> str:
    """One table cell: `event ok, multipart ok`."""
    return ", ".join(f"{c.name} {c.outcome.value}" for c in checks) or "-"


def passed(checks: list[Check]) -> bool:
    return bool(checks) and all(c.outcome is Outcome.OK for c in checks)
