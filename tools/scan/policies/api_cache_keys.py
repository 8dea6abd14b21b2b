"""CKV_VIDEO_4: a cached API Gateway collection GET keys its cache on its query string."""

from __future__ import annotations

from checkov.common.models.enums import CheckCategories
from video_policy_model import Config, Policy, refers_to, truthy


def resource_paths(config: Config, api: str) -> dict[str, str]:
    """aws_api_gateway_resource name -> its full path ("videos/{id}"), for REST API `api`; the root is ""."""
    parents = {
        name: body
        for name, body in config.of("aws_api_gateway_resource").items()
        if refers_to(body.get("rest_api_id"), "aws_api_gateway_rest_api", api)
    }
    paths: dict[str, str] = {}

    def path(name: str, depth: int = 0) -> str:
        if name not in paths:
            body = parents[name]
            parent = next((p for p in parents if refers_to(body.get("parent_id"), "aws_api_gateway_resource", p)), None)
            above = path(parent, depth + 1) if parent and depth < 50 else ""
            paths[name] = f"{above}/{body.get('path_part')}".lstrip("/")
        return paths[name]

    for name in parents:
        path(name)
    return paths


def querystrings(parameters: dict | None) -> set[str]:
    return {key for key in (parameters or {}) if key.startswith("method.request.querystring.")}


class CachedCollectionsKeyOnTheQueryString(Policy):
    def __init__(self) -> None:
        super().__init__(
            name="A cached API Gateway collection GET declares its query strings and keys its cache on every one "
            "(integration cache_key_parameters), so pages, filters and callers do not share one entry",
            id="CKV_VIDEO_4",
            supported_resources=["aws_api_gateway_method_settings"],
            categories=[CheckCategories.GENERAL_SECURITY],
        )

    def evaluate(self, config, rtype, name, body):
        settings = body.get("settings") or {}
        if isinstance(settings, list):
            settings = settings[0] if settings else {}
        if not truthy(settings.get("caching_enabled")):
            return []
        api = next(
            (
                a
                for a in config.of("aws_api_gateway_rest_api")
                if refers_to(body.get("rest_api_id"), "aws_api_gateway_rest_api", a)
            ),
            None,
        )
        if api is None:
            return None
        paths = resource_paths(config, api)
        wanted_path, _, wanted_method = str(body.get("method_path", "")).replace("~1", "/").lstrip("/").rpartition("/")
        problems = []
        for mname, method in config.of("aws_api_gateway_method").items():
            if not refers_to(method.get("rest_api_id"), "aws_api_gateway_rest_api", api):
                continue
            resource = next(
                (r for r in paths if refers_to(method.get("resource_id"), "aws_api_gateway_resource", r)), None
            )
            path = paths.get(resource, "")
            verb = str(config.resolve(method.get("http_method")))
            if verb != "GET" or wanted_method not in ("*", verb) or wanted_path not in ("*", path):
                continue
            declared = querystrings(method.get("request_parameters"))
            integration = next(
                (
                    i
                    for i in config.of("aws_api_gateway_integration").values()
                    if refers_to(i.get("http_method"), "aws_api_gateway_method", mname)
                    or (
                        refers_to(i.get("resource_id"), "aws_api_gateway_resource", resource or "")
                        and str(config.resolve(i.get("http_method"))) == "GET"
                    )
                ),
                {},
            )
            keys = set(integration.get("cache_key_parameters") or [])
            collection = not path.split("/")[-1].startswith("{")
            if collection and not declared:
                problems.append(
                    f"GET /{path} is cached (method_path {body.get('method_path')}) but declares no "
                    f"query string: every GET /{path}?... shares one cache entry"
                )
            missing = sorted(declared - keys)
            if missing:
                problems.append(
                    f"GET /{path} is cached but its integration's cache_key_parameters miss {', '.join(missing)}"
                )
        return problems


check = CachedCollectionsKeyOnTheQueryString()
