#!/usr/bin/env python3
"""moto's server for the rehearsal, with the patches the pinned moto (5.2.5) needs.

    python -m tools.rehearsal.emulator_server --port 5000     # serves TLS only (self-signed), under gunicorn

Each patch names the operation it fixes and why; tests/tools/rehearsal/test_emulator.py tests each one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import moto

MOTO_VERSION = "5.2.5"
DEFAULT_RDS_CA = "rds-ca-rsa2048-g1"  # AWS's default CA for new DB instances (commercial regions, since 2024)


def _patch_bool_operator() -> None:
    from moto.iam import policy_conditions

    def bool_operation(expected, actual: str) -> bool:
        expected_values = expected if isinstance(expected, list) else [expected]
        return str(actual).lower() in [str(value).lower() for value in expected_values]

    policy_conditions.CONDITION_OPERATIONS["Bool"] = bool_operation


def _patch_deny_only_when_its_condition_matches() -> None:
    from moto.iam import access_control

    statement_permission = access_control.IAMPolicyStatement.is_action_permitted

    def deny_applies_only_when_its_condition_matches(
        self, action, resource="*", principal=None, incoming_condition_values=None
    ):
        result = statement_permission(self, action, resource, principal, incoming_condition_values)
        if (
            result == access_control.PermissionResult.DENIED
            and self._statement.get("Effect") == "Deny"
            and not self._check_conditions(incoming_condition_values)
        ):
            return access_control.PermissionResult.NEUTRAL
        return result

    access_control.IAMPolicyStatement.is_action_permitted = deny_applies_only_when_its_condition_matches


def _patch_s3_permission_over_tls() -> None:
    from moto.iam import access_control
    from moto.s3 import models as s3_models

    def bucket_permission_over_tls(self, action, resource):
        if self.policy is None:
            return access_control.PermissionResult.NEUTRAL
        return access_control.IAMPolicy(self.policy.decode()).is_action_permitted(
            action, resource, incoming_condition_values={"aws:SecureTransport": "true"}
        )

    s3_models.FakeBucket.get_permission = bucket_permission_over_tls


def _patch_delete_marker_dispose() -> None:
    from moto.s3 import models as s3_models

    s3_models.FakeDeleteMarker.dispose = lambda self, garbage=False: None  # nothing to release


def _patch_s3_complete_multipart_event() -> None:
    from moto.s3 import models

    put_object, complete = models.S3Backend.put_object, models.S3Backend.complete_multipart_upload
    completing = threading.local()

    def put_object_quiet_while_completing(self, *args, **kwargs):
        if getattr(completing, "active", False):
            kwargs["disable_notification"] = True
        return put_object(self, *args, **kwargs)

    def complete_with_its_own_event_only(self, *args, **kwargs):
        completing.active = True
        try:
            return complete(self, *args, **kwargs)
        finally:
            completing.active = False

    models.S3Backend.put_object = put_object_quiet_while_completing
    models.S3Backend.complete_multipart_upload = complete_with_its_own_event_only


def _patch_api_gateway_method_settings() -> None:
    from moto.apigateway import models

    apply_operations = models.Stage.apply_operations
    # `/videos/{id}/GET/caching/enabled`: resource path, method, then the setting.
    method_setting = re.compile(r"^/(.+/(?:GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS|ANY|\*))/([a-z]+/[A-Za-z]+)$")

    def method_settings_of_nested_paths(self, patch_operations):
        rest = []
        for op in patch_operations:
            match = method_setting.match(op["path"]) if op.get("op") == "replace" else None
            if match and match.group(1).count("/") > 1:
                self._patch_method_setting(match.group(1).replace("~1", "/"), match.group(2), op["value"])
            else:
                rest.append(op)
        return apply_operations(self, rest)

    models.Stage.apply_operations = method_settings_of_nested_paths


def _patch_autoscaling_tags() -> None:
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse as Response

    tags: dict[str, dict[str, str]] = {}
    register = Response.register_scalable_target

    def register_with_tags(self) -> str:
        answer = register(self)
        tags.setdefault(json.loads(answer)["ScalableTargetARN"], {}).update(self._get_param("Tags") or {})
        return answer

    def list_tags_for_resource(self) -> str:
        return json.dumps({"Tags": tags.get(self._get_param("ResourceARN"), {})})

    def tag_resource(self) -> str:
        tags.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
        return "{}"

    def untag_resource(self) -> str:
        for key in self._get_param("TagKeys") or []:
            tags.get(self._get_param("ResourceARN"), {}).pop(key, None)
        return "{}"

    Response.register_scalable_target = register_with_tags
    Response.list_tags_for_resource = list_tags_for_resource
    Response.tag_resource = tag_resource
    Response.untag_resource = untag_resource


def _patch_cloudfront_delete_key_group() -> None:
    from moto.cloudfront.responses import CloudFrontResponse, EmptyResult

    def delete_key_group(self):
        self.backend.key_groups.pop(self._get_param("Id"), None)
        return EmptyResult()

    CloudFrontResponse.delete_key_group = delete_key_group


def _patch_cloudfront_origin_group_target() -> None:
    from moto.cloudfront import models

    check_origins = models.DistributionConfig.__init__

    def origin_groups_are_targets_too(self, config):
        behaviour = config.get("DefaultCacheBehavior") or {}
        target = behaviour.get("TargetOriginId")
        groups = {group.get("Id") for group in (config.get("OriginGroups") or {}).get("Items") or []}
        origins = (config.get("Origins") or {}).get("Items") or []
        if target not in groups or not origins:
            return check_origins(self, config)
        behaviour["TargetOriginId"] = origins[0]["Id"]  # passes moto's check, then the group is put back
        check_origins(self, config)
        self.DefaultCacheBehavior.target_origin_id = target

    models.DistributionConfig.__init__ = origin_groups_are_targets_too


def _patch_acm_key_algorithm() -> None:
    from moto.acm import models, responses

    request = responses.AWSCertificateManagerResponse.request_certificate
    describe = models.CertBundle.describe

    def request_keeping_the_algorithm(self):
        answer = request(self)
        algorithm = self._get_param("KeyAlgorithm")
        if algorithm:
            arn = answer.result["CertificateArn"]
            self.acm_backend.get_certificate(arn).requested_key_algorithm = algorithm
        return answer

    def describe_with_the_requested_algorithm(self):
        described = describe(self)
        if getattr(self, "requested_key_algorithm", None):
            described["Certificate"]["KeyAlgorithm"] = self.requested_key_algorithm
        return described

    responses.AWSCertificateManagerResponse.request_certificate = request_keeping_the_algorithm
    models.CertBundle.describe = describe_with_the_requested_algorithm


def _patch_security_group_rule_description() -> None:
    from moto.ec2.models.security_groups import SecurityGroupRule

    SecurityGroupRule.description = property(
        lambda self: self.ip_range.get("Description") or self.source_group.get("Description")
    )


def _patch_ecs_service_fields() -> None:
    from moto.ecs.responses import EC2ContainerServiceResponse as Response

    kept = {
        "capacityProviderStrategy": "capacity_provider_strategy",
        "deploymentConfiguration": "deployment_configuration",
        "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
        "availabilityZoneRebalancing": "availability_zone_rebalancing",
        "enableECSManagedTags": "enable_ecs_managed_tags",
    }

    def keeping(operation):
        def handler(self):
            answer = operation(self)
            service = answer.result["service"]
            for field, attribute in kept.items():
                if self._get_param(field) is not None:
                    setattr(service, attribute, self._get_param(field))
            return answer

        return handler

    Response.create_service = keeping(Response.create_service)
    Response.update_service = keeping(Response.update_service)


def _patch_api_gateway_cache_key_parameters() -> None:
    from moto.apigateway.responses import APIGatewayResponse

    put_integration = APIGatewayResponse.put_integration

    def put_integration_with_cache_keys(self):
        answer = put_integration(self)
        keys = self._get_param("cacheKeyParameters")
        if keys is None:
            return answer
        parts = self.path.split("/")  # /restapis/<api>/resources/<resource>/methods/<method>/integration
        rest_api_id, resource_id, method = parts[2], parts[4], parts[6]
        integration = self.backend.get_integration(rest_api_id, resource_id, method)
        integration.cache_key_parameters = list(keys)
        status, headers, _ = answer
        return status, headers, json.dumps(integration.to_json())

    APIGatewayResponse.put_integration = put_integration_with_cache_keys


def _patch_api_gateway_integration_connection_id() -> None:
    from moto.apigateway import models
    from moto.apigateway.responses import APIGatewayResponse

    put_integration = APIGatewayResponse.put_integration
    to_json = models.Integration.to_json

    def put_integration_with_connection_id(self):
        answer = put_integration(self)
        connection_id = self._get_param("connectionId")
        if connection_id is None:
            return answer
        parts = self.path.split("/")  # /restapis/<api>/resources/<resource>/methods/<method>/integration
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        integration.connection_id = connection_id
        status, headers, _ = answer
        return status, headers, json.dumps(integration.to_json())

    def with_connection_id(self):
        answer = to_json(self)
        if getattr(self, "connection_id", None):
            answer["connectionId"] = self.connection_id
        return answer

    APIGatewayResponse.put_integration = put_integration_with_connection_id
    models.Integration.to_json = with_connection_id


def _patch_cloudfront_config_as_given() -> None:
    from moto.cloudfront import models

    def after(init, finish):
        def patched(self, config):
            init(self, config)
            finish(self, config)

        return patched

    def behaviour(self, config):
        if "ForwardedValues" not in config:
            self.forwarded_values = None

    def origin(self, config):
        self.origin_access_control_id = config.get("OriginAccessControlId") or ""

    def certificate(self, config):
        if not config.get("SSLSupportMethod"):
            self.ssl_support_method = None
        if "CloudFrontDefaultCertificate" not in config:
            self.cloud_front_default_certificate = not (
                config.get("ACMCertificateArn") or config.get("IAMCertificateId")
            )

    # CacheBehaviour runs DefaultCacheBehaviour.__init__ through super(), so both are covered.
    models.DefaultCacheBehaviour.__init__ = after(models.DefaultCacheBehaviour.__init__, behaviour)
    models.Origin.__init__ = after(models.Origin.__init__, origin)
    models.ViewerCertificate.__init__ = after(models.ViewerCertificate.__init__, certificate)


def _patch_rds_parameter_source() -> None:
    from moto.rds.models import DBParameterGroup

    update_parameters = DBParameterGroup.update_parameters

    def update_as_user(self, new_parameters):
        update_parameters(self, [dict(parameter, Source="user") for parameter in new_parameters])

    DBParameterGroup.update_parameters = update_as_user


def _new_rds_resource_id() -> str:
    import secrets
    import string

    return "db-" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(26))


def _patch_rds_instance_ids() -> None:
    from moto.rds.models import DBInstance, RDSBackend

    create = DBInstance.__init__
    create_replica = RDSBackend.create_db_instance_read_replica  # copies the primary, id included

    def with_own_resource_id(self, *args, **kwargs):
        create(self, *args, **kwargs)
        self.dbi_resource_id = _new_rds_resource_id()

    def replica_with_own_resource_id(self, db_kwargs):
        replica = create_replica(self, db_kwargs)
        replica.dbi_resource_id = _new_rds_resource_id()
        return replica

    DBInstance.__init__ = with_own_resource_id
    RDSBackend.create_db_instance_read_replica = replica_with_own_resource_id


def _patch_rds_replica_defaults() -> None:
    from moto.rds.models import RDSBackend

    create_replica = RDSBackend.create_db_instance_read_replica

    def replica_with_replica_defaults(self, db_kwargs):
        replica = create_replica(self, db_kwargs)
        # What the request asked for, else AWS's defaults for a new replica (not the primary's values).
        replica.multi_az = bool(db_kwargs.get("multi_az", False))
        replica.backup_retention_period = int(db_kwargs.get("backup_retention_period") or 0)
        return replica

    RDSBackend.create_db_instance_read_replica = replica_with_replica_defaults


def _patch_rds_default_ca() -> None:
    from moto.rds.models import DBInstance

    create = DBInstance.__init__

    def with_awss_default_ca(self, *args, **kwargs):
        kwargs.setdefault("ca_certificate_identifier", DEFAULT_RDS_CA)
        create(self, *args, **kwargs)

    DBInstance.__init__ = with_awss_default_ca


def _patch_sqs_compact_redrive_policy() -> None:
    from moto.sqs.models import Queue

    attributes = Queue.attributes.fget

    def compact(self):
        result = attributes(self)
        if "RedrivePolicy" in result:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    Queue.attributes = property(compact)


def _patch_backup_list_tags() -> None:
    from urllib.parse import unquote

    from moto.backup.responses import BackupResponse

    def list_tags(self) -> str:
        resource_arn = unquote(self.path.split("?")[0].rstrip("/").split("/")[-1])
        return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=resource_arn)})

    BackupResponse.list_tags = list_tags


def _patch_securityhub_configuration() -> None:
    from moto.securityhub.models import SecurityHubBackend
    from moto.securityhub.responses import SecurityHubResponse

    describe_hub = SecurityHubBackend.describe_hub

    def update_security_hub_configuration(self) -> str:
        params = json.loads(self.body) if self.body else {}
        backend = self.securityhub_backend
        backend.describe_hub()  # InvalidAccessException when Security Hub is not enabled, as in AWS
        settings = getattr(backend, "hub_configuration", {})
        settings.update(
            {key: params[key] for key in ("AutoEnableControls", "ControlFindingGenerator") if key in params}
        )
        backend.hub_configuration = settings
        return json.dumps({})

    def described_as_configured(self, hub_arn=None):
        return {**describe_hub(self, hub_arn), **getattr(self, "hub_configuration", {})}

    SecurityHubResponse.update_security_hub_configuration = update_security_hub_configuration
    SecurityHubBackend.describe_hub = described_as_configured


class ReplayRetries:
    """WSGI middleware: a retried request gets the answer its first attempt got, instead of running twice.

    The AWS SDKs send one `amz-sdk-invocation-id` for all attempts of an operation (and
    `amz-sdk-request: attempt=N`). When an attempt's answer does not reach the client (seen here a few
    times a run, under three concurrent applies, while moto was slow), the SDK sends the request again,
    and a create that had succeeded then fails with AlreadyExists or Duplicate. Answers below 500 to
    mutating requests are kept per invocation id (the most recent `keep`); a retry that arrives while
    the first attempt still runs waits for it. Every replay is logged, so a run shows how often."""

    MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, app, keep: int = 5000) -> None:
        self.app, self.keep = app, keep
        self.answers: OrderedDict[str, tuple[str, list, bytes] | None] = OrderedDict()  # None: in flight
        self.done = threading.Condition()

    def __call__(self, environ, start_response):
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
        if not invocation or environ["REQUEST_METHOD"] not in self.MUTATING:
            return self.app(environ, start_response)
        with self.done:
            first = invocation not in self.answers
            if first:
                self.answers[invocation] = None
            else:
                self.done.wait_for(lambda: self.answers.get(invocation, ()) is not None)
                kept = self.answers.get(invocation)
        if not first and kept:
            status, headers, body = kept
            print(
                f"emulator: replayed the answer ({status}) to {environ['REQUEST_METHOD']} "
                f"{environ.get('PATH_INFO')} {environ.get('HTTP_X_AMZ_TARGET', '')} "
                f"for {environ.get('HTTP_AMZ_SDK_REQUEST')}",
                flush=True,
            )
            start_response(status, headers)
            return [body]
        answer = {}

        def capture(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        with self.done:
            if int(answer.get("status", "500").split()[0]) < 500:
                self.answers[invocation] = (answer["status"], list(answer["headers"]), body)
            else:  # a server error is not an answer to keep: a retry runs again
                self.answers.pop(invocation, None)
            while len(self.answers) > self.keep:
                self.answers.popitem(last=False)
            self.done.notify_all()
        return [body]


def serve(port: int, cert_dir: Path) -> None:
    """moto's WSGI app under gunicorn (one process: the emulator's state lives in memory; threads for
    the concurrent clients), TLS with a self-signed certificate, HTTP keep-alive, retries answered by
    `ReplayRetries`. Under moto's own server (werkzeug's development server) 7 requests of a run were
    retried by the SDK and each failed create broke an apply; under gunicorn a handful still are (8 in
    the last run: a first attempt gets no answer; why was not found), which `ReplayRetries` makes
    harmless. The access log names each JSON API's operation (X-Amz-Target) and moto's time."""
    from gunicorn.app.base import BaseApplication
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_ssl_devcert

    cert_dir.mkdir(parents=True, exist_ok=True)
    cert, key = make_ssl_devcert(str(cert_dir / "emulator"), host="127.0.0.1")
    app = ReplayRetries(DomainDispatcherApplication(create_backend_app))
    settings = {
        "bind": f"127.0.0.1:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": 48,
        "certfile": cert,
        "keyfile": key,
        "keepalive": 30,
        "timeout": 900,
        "graceful_timeout": 5,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "header_map": "dangerous",  # keep headers with underscores (S3 metadata), as moto's own server does
        "access_log_format": '%(t)s "%(r)s" [%({x-amz-target}i)s] %(s)s %(M)sms',
    }

    class Emulator(BaseApplication):
        def load_config(self):
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self):
            return app

    Emulator().run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-dir", type=Path, default=Path("build/e2e/tls"))
    args = parser.parse_args(argv)
    patched = apply_patches()
    print(f"emulator: moto {moto.__version__}; patched: {'; '.join(patched) or 'nothing'}", flush=True)
    serve(args.port, args.cert_dir)
    return 0


def _refuse(message: str):
    from moto.sts.exceptions import STSClientError

    return STSClientError("AccessDenied", message)


def _existing_role(role_arn: str):
    from moto.iam.models import iam_backends

    try:
        return iam_backends[role_arn.split(":")[4]]["aws"].get_role_by_arn(role_arn)
    except Exception:
        raise _refuse(f"role {role_arn} does not exist") from None


def _admits(role, request) -> bool:
    """The role's trust policy admits the request (tools/rehearsal/iam_evaluator.py)."""
    from tools.rehearsal.iam_evaluator import evaluate

    return evaluate(request, identity=None, resource_policy=role.assume_role_policy_document).allowed


def _assume_role_request(role_arn: str, region: str, caller_arn: str, principal: str):
    from tools.rehearsal.iam_evaluator import Request

    return Request("sts:AssumeRole", role_arn, region, context={"aws:PrincipalArn": caller_arn}, principal=principal)


def _check_assume_role(response, role_arn: str) -> None:
    """Refuses, as AWS does, a missing role, a trust that admits neither the calling role nor its account, and
    a caller whose own policies do not allow the assume."""
    from tools.rehearsal.iam_evaluator import Request, evaluate

    role = _existing_role(role_arn)
    caller = response.backend.get_assumed_role_from_access_key(response.get_access_key())
    if caller is None:
        raise _refuse(f"{role_arn}: only role sessions assume project roles in the rehearsal")
    caller_account = caller.role_arn.split(":")[4]
    trusted = any(  # a trust naming the calling role itself, or its account (root)
        _admits(role, _assume_role_request(role_arn, response.region, caller.role_arn, principal))
        for principal in (caller.role_arn, f"arn:aws:iam::{caller_account}:root")
    )
    if not trusted:
        raise _refuse(f"{caller.role_arn} is not trusted by {role_arn}")
    own = _existing_role(caller.role_arn).policies.values()
    if not evaluate(Request("sts:AssumeRole", role_arn, response.region), identity=list(own)).allowed:
        raise _refuse(f"{caller.role_arn}: no policy of its own allows sts:AssumeRole on {role_arn}")


def _check_assume_role_with_web_identity(response, role_arn: str) -> None:
    """Refuses a missing role, a token from an issuer with no OIDC provider in the role's account, and a token
    the role's trust does not admit."""
    import base64

    from moto.iam.models import iam_backends

    from tools.rehearsal.iam_evaluator import Request

    role = _existing_role(role_arn)
    payload = (response._get_param("WebIdentityToken") or "..").split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    host = claims.get("iss", "").removeprefix("https://")
    provider = f"arn:aws:iam::{role_arn.split(':')[4]}:oidc-provider/{host}"
    try:
        iam_backends[role_arn.split(":")[4]]["aws"].get_open_id_connect_provider(provider)
    except Exception:
        raise _refuse(f"no OIDC provider {provider}") from None
    context = {f"{host}:{claim}": claims.get(claim, "") for claim in ("aud", "sub")}
    if not _admits(
        role, Request("sts:AssumeRoleWithWebIdentity", role_arn, response.region, context=context, principal=provider)
    ):
        raise _refuse(f"{role_arn} does not trust a token for {claims.get('sub')!r} from {host}")


def _patch_sts_assume_role_checks() -> None:
    from moto.sts.responses import TokenResponse

    from tools.rehearsal.emulator import ADMIN_ROLE

    assume_role, assume_role_with_web_identity = TokenResponse.assume_role, TokenResponse.assume_role_with_web_identity

    def checked_assume_role(self):
        role_arn = self._get_param("RoleArn") or ""
        if role_arn.rsplit("/", 1)[-1] != ADMIN_ROLE:  # the account administrator the bootstraps run as: unchecked
            _check_assume_role(self, role_arn)
        return assume_role(self)

    def checked_assume_role_with_web_identity(self):
        _check_assume_role_with_web_identity(self, self._get_param("RoleArn") or "")
        return assume_role_with_web_identity(self)

    TokenResponse.assume_role = checked_assume_role
    TokenResponse.assume_role_with_web_identity = checked_assume_role_with_web_identity


@dataclass(frozen=True)
class Patch:
    """One change to moto: what it patches (`name`), why (`why`: what moto does and AWS does not), and the
    function that applies it."""

    name: str
    why: str
    apply: Callable[[], None]


# Every patch, in the order applied: name, reason and function side by side in one entry.
PATCHES: dict[str, Patch] = {
    patch.name: patch
    for patch in (
        Patch(
            "iam policy conditions: the Bool operator",
            "moto evaluates only StringEquals and treats every other operator as matching, so `Bool "
            "aws:SecureTransport = false` always matched.",
            _patch_bool_operator,
        ),
        Patch(
            "iam policy evaluation: Deny statement whose condition does not match",
            "moto returns DENIED for any statement whose conditions fail, even a Deny, which then applies "
            "unconditionally; AWS ignores a statement whose conditions do not match.",
            _patch_deny_only_when_its_condition_matches,
        ),
        Patch(
            "s3 object authorization (GetObject, PutObject, HeadObject, DeleteObject)",
            "moto evaluates the bucket policy with no request context, so the TLS-only statement (Deny if "
            "aws:SecureTransport is false) cannot be evaluated; this server only speaks TLS, so every request carries "
            "aws:SecureTransport = true.",
            _patch_s3_permission_over_tls,
        ),
        Patch(
            "s3 DeleteObjects of a delete-marker version",
            "moto crashes (500: FakeDeleteMarker has no dispose) when a versioned bucket is emptied that holds delete "
            "markers, e.g. the state bucket after Terraform released its lock file.",
            _patch_delete_marker_dispose,
        ),
        Patch(
            "apigateway UpdateStage: method settings of a path with a parameter",
            "the provider sends `/videos/{id}/GET/caching/enabled`; moto splits it at the third `/`, so a resource "
            "path of more than one segment files the setting under a wrong key and reading `videos/{id}/GET` finds "
            "nothing.",
            _patch_api_gateway_method_settings,
        ),
        Patch(
            "application-autoscaling ListTagsForResource, TagResource, UntagResource (and tags on "
            "RegisterScalableTarget)",
            "not implemented (500), and the provider lists a target's tags on every refresh, which breaks the refresh "
            "of the whole state; tags are kept per ARN.",
            _patch_autoscaling_tags,
        ),
        Patch(
            "cloudfront DeleteKeyGroup",
            "not implemented (500), so no stack with signed URLs can be destroyed; deletes like DeletePublicKey.",
            _patch_cloudfront_delete_key_group,
        ),
        Patch(
            "cloudfront CreateDistribution, UpdateDistribution: default behaviour that targets an origin group",
            "moto checks TargetOriginId against the origins only and answers NoSuchOrigin, so the prod distribution "
            "(default behaviour on the primary/DR failover group, valid in AWS) cannot be created.",
            _patch_cloudfront_origin_group_target,
        ),
        Patch(
            "ec2 DescribeSecurityGroupRules: description of a rule that references a security group",
            "moto keeps the description of such a rule but reads it from the CIDR range only, so every group-to-group "
            "rule (ALB -> app -> database) came back without its description.",
            _patch_security_group_rule_description,
        ),
        Patch(
            "ecs CreateService, UpdateService: capacityProviderStrategy, deploymentConfiguration, "
            "healthCheckGracePeriodSeconds, availabilityZoneRebalancing, enableECSManagedTags",
            "moto drops these fields; an empty capacity_provider_strategy forces the replacement of every service on "
            "the second plan, and the circuit breaker, grace period, AZ rebalancing and managed tags came back unset. "
            "They are kept on the service as given.",
            _patch_ecs_service_fields,
        ),
        Patch(
            "apigateway PutIntegration: cacheKeyParameters",
            "moto's handler does not pass cacheKeyParameters on, so the GET cache keys by path parameter (one cache "
            "entry per video id) came back empty.",
            _patch_api_gateway_cache_key_parameters,
        ),
        Patch(
            "apigateway PutIntegration, GetIntegration: connectionId",
            "moto keeps an integration's connectionType but drops its connectionId, so every private integration "
            "(connection_type VPC_LINK through the API's VPC link) came back with an empty connection_id and the "
            "second plan updated all of them. Kept and returned as given.",
            _patch_api_gateway_integration_connection_id,
        ),
        Patch(
            "cloudfront distribution config: ForwardedValues, OriginAccessControlId, SSLSupportMethod, "
            "CloudFrontDefaultCertificate",
            "moto invents ForwardedValues for behaviours that use a cache policy (AWS returns none), drops each "
            "origin's OriginAccessControlId, invents SSLSupportMethod = sni-only for the default certificate and "
            "CloudFrontDefaultCertificate = true next to an ACM certificate; each made the distribution differ on "
            "every plan. Kept as given instead.",
            _patch_cloudfront_config_as_given,
        ),
        Patch(
            "rds ModifyDBParameterGroup: Source of the modified parameters",
            "moto stores modified parameters without Source; the provider keeps only Source = user from "
            "DescribeDBParameters, so every parameter of the group seemed to be missing on the second plan.",
            _patch_rds_parameter_source,
        ),
        Patch(
            "rds CreateDBInstance, CreateDBInstanceReadReplica: DbiResourceId",
            "moto gives every instance the same resource id (db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U); the provider finds an "
            "instance by that id, so with a primary and a read replica in one account it found two and lost the "
            "replica. Each instance gets its own id, as in AWS.",
            _patch_rds_instance_ids,
        ),
        Patch(
            "rds CreateDBInstance: the CA of an instance created without CACertificateIdentifier",
            "moto names it `rds-ca-default`, a CA AWS does not have; AWS gives it the account's default CA for new "
            "launches (DescribeCertificates' DefaultCertificateForNewLaunches), rds-ca-rsa2048-g1 in the commercial "
            "regions. Provider 5.100 creates an instance without the CA, then calls ModifyDBInstance and waits again "
            "(~80 s) when the created instance's CA differs from ca_cert_identifier: with moto's name every create in "
            "the rehearsal made that modify, which against AWS it does not for rds-ca-rsa2048-g1.",
            _patch_rds_default_ca,
        ),
        Patch(
            "rds CreateDBInstanceReadReplica: MultiAZ and BackupRetentionPeriod",
            "moto copies the primary, so a replica of a multi-AZ primary with 30 days of backups came back multi-AZ "
            "with 30 days; AWS creates a replica single-AZ without automated backups unless asked.",
            _patch_rds_replica_defaults,
        ),
        Patch(
            "securityhub UpdateSecurityHubConfiguration",
            "not implemented (500, retried until the apply is cancelled): the provider calls it after "
            "EnableSecurityHub "
            "to set auto_enable_controls and control_finding_generator; the values are kept and DescribeHub returns "
            "them (moto always answers true and SECURITY_CONTROL).",
            _patch_securityhub_configuration,
        ),
        Patch(
            "backup ListTags",
            "moto reads the ARN from the path's second-to-last segment (`/tags/<arn>/`); the provider sends "
            "`/tags/<arn>`, so every vault and plan seemed untagged.",
            _patch_backup_list_tags,
        ),
        Patch(
            "sqs GetQueueAttributes: RedrivePolicy",
            "moto returns the policy as json.dumps writes it (with spaces); AWS returns compact JSON, which is what "
            "the provider compares with the configuration.",
            _patch_sqs_compact_redrive_policy,
        ),
        Patch(
            "sts AssumeRole, AssumeRoleWithWebIdentity: the role must exist and admit the caller (stricter than moto)",
            "moto issues credentials for any role ARN, existing or not, whatever its trust policy says, so a stack "
            "could rely on an identity nobody creates. Here the role must exist (except the emulator's stand-in "
            "administrator, ADMIN_ROLE, which bootstraps use), its trust policy must admit the caller (evaluated by "
            "tools/rehearsal/iam_evaluator.py; for web identity: the OIDC provider must exist and the token's aud/sub "
            "claims are the condition keys), and for AssumeRole the caller's own inline role policies must allow "
            "sts:AssumeRole on it, as AWS requires both sides of an assume.",
            _patch_sts_assume_role_checks,
        ),
        Patch(
            "acm RequestCertificate: KeyAlgorithm",
            "moto ignores KeyAlgorithm and describes every certificate as RSA_2048; key_algorithm forces replacement, "
            "so every second plan would replace the certificates (and the listeners using them).",
            _patch_acm_key_algorithm,
        ),
        Patch(
            "s3 CompleteMultipartUpload: one event, ObjectCreated:CompleteMultipartUpload",
            "moto stores the completed object through its PutObject path, which also sends ObjectCreated:Put, so each "
            "multipart upload put two events on the queue; AWS sends only CompleteMultipartUpload "
            "(tools/rehearsal/data_path.py checks the upload's event).",
            _patch_s3_complete_multipart_event,
        ),
    )
}


def apply_patches() -> list[str]:
    """Applies the patches and returns their names. Refuses a moto it was not written for."""
    if moto.__version__ != MOTO_VERSION:
        raise SystemExit(f"emulator patches are written for moto {MOTO_VERSION}, found {moto.__version__}")
    for patch in PATCHES.values():
        patch.apply()
    return list(PATCHES)


if __name__ == "__main__":
    sys.exit(main())
