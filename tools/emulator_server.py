#!/usr/bin/env python3
"""moto's server for the rehearsal, with the patches the pinned moto (5.2.5) needs.

    python -m tools.emulator_server --port 5000     # serves TLS only (self-signed)

Each patch names the operation it fixes and why; tests/test_emulator.py tests each one.
"""
from __future__ import annotations

import argparse
import json
import re
import sys

import moto

MOTO_VERSION = "5.2.5"
PATCHES = {
    "iam policy conditions: the Bool operator":
        "moto evaluates only StringEquals and treats every other operator as matching, so "
        "`Bool aws:SecureTransport = false` always matched.",
    "iam policy evaluation: Deny statement whose condition does not match":
        "moto returns DENIED for any statement whose conditions fail, even a Deny, which then "
        "applies unconditionally; AWS ignores a statement whose conditions do not match.",
    "s3 object authorization (GetObject, PutObject, HeadObject, DeleteObject)":
        "moto evaluates the bucket policy with no request context, so the TLS-only statement "
        "(Deny if aws:SecureTransport is false) cannot be evaluated; this server only speaks TLS, "
        "so every request carries aws:SecureTransport = true.",
    "s3 DeleteObjects of a delete-marker version":
        "moto crashes (500: FakeDeleteMarker has no dispose) when a versioned bucket is emptied that "
        "holds delete markers, e.g. the state bucket after Terraform released its lock file.",
    "apigateway UpdateStage: method settings of a path with a parameter":
        "the provider sends `/videos/{id}/GET/caching/enabled`; moto splits it at the third `/`, so a "
        "resource path of more than one segment files the setting under a wrong key and reading "
        "`videos/{id}/GET` finds nothing.",
    "application-autoscaling ListTagsForResource, TagResource, UntagResource (and tags on RegisterScalableTarget)":
        "not implemented (500), and the provider lists a target's tags on every refresh, which breaks the "
        "refresh of the whole state; tags are kept per ARN.",
    "cloudfront DeleteKeyGroup":
        "not implemented (500), so no stack with signed URLs can be destroyed; deletes like DeletePublicKey.",
}


def apply_patches() -> list[str]:
    """Applies the patches and returns their names. Refuses a moto it was not written for."""
    if moto.__version__ != MOTO_VERSION:
        raise SystemExit(f"emulator patches are written for moto {MOTO_VERSION}, found {moto.__version__}")
    from moto.iam import access_control, policy_conditions
    from moto.s3 import models as s3_models

    def bool_operation(expected, actual: str) -> bool:
        expected_values = expected if isinstance(expected, list) else [expected]
        return str(actual).lower() in [str(value).lower() for value in expected_values]

    policy_conditions.CONDITION_OPERATIONS["Bool"] = bool_operation

    statement_permission = access_control.IAMPolicyStatement.is_action_permitted

    def deny_applies_only_when_its_condition_matches(self, action, resource="*", principal=None,
                                                     incoming_condition_values=None):
        result = statement_permission(self, action, resource, principal, incoming_condition_values)
        if (result == access_control.PermissionResult.DENIED and self._statement.get("Effect") == "Deny"
                and not self._check_conditions(incoming_condition_values)):
            return access_control.PermissionResult.NEUTRAL
        return result

    def bucket_permission_over_tls(self, action, resource):
        if self.policy is None:
            return access_control.PermissionResult.NEUTRAL
        return access_control.IAMPolicy(self.policy.decode()).is_action_permitted(
            action, resource, incoming_condition_values={"aws:SecureTransport": "true"})

    _patch_api_gateway_method_settings()
    _patch_autoscaling_tags()
    _patch_cloudfront_delete_key_group()
    access_control.IAMPolicyStatement.is_action_permitted = deny_applies_only_when_its_condition_matches
    s3_models.FakeDeleteMarker.dispose = lambda self, garbage=False: None  # nothing to release
    s3_models.FakeBucket.get_permission = bucket_permission_over_tls
    return list(PATCHES)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    patched = apply_patches()
    print(f"emulator: moto {moto.__version__}; patched: {'; '.join(patched) or 'nothing'}", flush=True)
    from moto.server import main as serve

    serve(["-H", "127.0.0.1", "-p", str(args.port), "--ssl"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
