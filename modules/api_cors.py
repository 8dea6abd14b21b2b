"""CORS for the browser-facing API: a preflight (OPTIONS, mock integration) on every resource, and the gateway
responses API Gateway answers with itself (a missing key, a failed SigV4, throttling, a backend timeout) carrying
the same headers, so a browser sees the error instead of a CORS failure. The backend's own answers pass through
the HTTP proxy unchanged: the application sets Access-Control-Allow-Origin on them (docs/request-paths.md).
"""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.api_gateway_gateway_response import ApiGatewayGatewayResponse
from cdktf_cdktf_provider_aws.api_gateway_integration import ApiGatewayIntegration
from cdktf_cdktf_provider_aws.api_gateway_integration_response import ApiGatewayIntegrationResponse
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod
from cdktf_cdktf_provider_aws.api_gateway_method_response import ApiGatewayMethodResponse
from constructs import Construct

# What a browser may send: the API key, SigV4's headers (Authorization, X-Amz-Date, X-Amz-Security-Token for
# temporary credentials, X-Amz-Content-Sha256), and the body's type.
ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "x-amz-content-sha256",
    "x-amz-date",
    "x-amz-security-token",
    "x-api-key",
)
MAX_AGE_SECONDS = 600
GATEWAY_RESPONSES = ("DEFAULT_4XX", "DEFAULT_5XX")


def cors_headers(origin: str, methods: tuple[str, ...] | None = None) -> dict[str, str]:
    """Header -> value as API Gateway wants a static value: in single quotes."""
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Headers": ",".join(ALLOWED_HEADERS),
        "Vary": "Origin",
    }
    if methods:
        headers |= {"Access-Control-Allow-Methods": ",".join(methods), "Access-Control-Max-Age": str(MAX_AGE_SECONDS)}
    return {name: f"'{value}'" for name, value in headers.items()}


def cors(
    scope: Construct, *, rest_api_id: str, resources: dict, origin: str, routes: dict, request_validator_id: str
) -> list:
    """OPTIONS on each resource of `resources` (path -> aws_api_gateway_resource; "" the root, skipped) and the
    gateway responses. Returns what the deployment must wait for."""
    created = []
    for path, resource in resources.items():
        if resource is None:
            continue
        created += _preflight(
            scope,
            rest_api_id=rest_api_id,
            path=path,
            resource=resource,
            headers=cors_headers(origin, (*routes[path], "OPTIONS")),
            request_validator_id=request_validator_id,
        )
    return created + _gateway_responses(scope, rest_api_id=rest_api_id, origin=origin)


def _preflight(
    scope: Construct, *, rest_api_id: str, path: str, resource, headers: dict[str, str], request_validator_id: str
) -> list:
    """The OPTIONS method of one resource, its mock integration and their 200 response carrying `headers`."""
    slug = path.replace("/", "-").replace("{", "").replace("}", "")
    # A preflight carries no credentials (Fetch standard): it cannot require the API key or SigV4. The mock
    # integration answers with headers only and reaches no backend.
    method = ApiGatewayMethod(
        scope,
        f"method-{slug}-options",
        rest_api_id=rest_api_id,
        resource_id=resource.id,
        http_method="OPTIONS",
        authorization="NONE",
        api_key_required=False,
        request_validator_id=request_validator_id,
    )
    integration = ApiGatewayIntegration(
        scope,
        f"integration-{slug}-options",
        rest_api_id=rest_api_id,
        resource_id=resource.id,
        http_method=method.http_method,
        type="MOCK",
        request_templates={"application/json": json.dumps({"statusCode": 200})},
    )
    response = ApiGatewayMethodResponse(
        scope,
        f"method-response-{slug}-options",
        rest_api_id=rest_api_id,
        resource_id=resource.id,
        http_method=method.http_method,
        status_code="200",
        response_parameters={f"method.response.header.{name}": True for name in headers},
    )
    integration_response = ApiGatewayIntegrationResponse(
        scope,
        f"integration-response-{slug}-options",
        rest_api_id=rest_api_id,
        resource_id=resource.id,
        http_method=method.http_method,
        status_code=response.status_code,
        response_parameters={f"method.response.header.{name}": value for name, value in headers.items()},
        depends_on=[integration],
    )
    return [method, integration, response, integration_response]


def _gateway_responses(scope: Construct, *, rest_api_id: str, origin: str) -> list:
    """The answers API Gateway gives itself (4XX, 5XX), with the CORS headers so a browser can read them."""
    return [
        ApiGatewayGatewayResponse(
            scope,
            f"gateway-response-{response_type.lower().replace('_', '-')}",
            rest_api_id=rest_api_id,
            response_type=response_type,
            response_parameters={
                f"gatewayresponse.header.{name}": value for name, value in cors_headers(origin).items()
            },
        )
        for response_type in GATEWAY_RESPONSES
    ]
