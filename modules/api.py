"""API: a regional REST API for video metadata, proxied to the ALB, with API keys, IAM auth,
per-client usage plans, GET caching, access logs, metrics and X-Ray."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount
from cdktf_cdktf_provider_aws.api_gateway_api_key import ApiGatewayApiKey
from cdktf_cdktf_provider_aws.api_gateway_client_certificate import ApiGatewayClientCertificate
from cdktf_cdktf_provider_aws.api_gateway_deployment import ApiGatewayDeployment
from cdktf_cdktf_provider_aws.api_gateway_integration import ApiGatewayIntegration
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod
from cdktf_cdktf_provider_aws.api_gateway_method_settings import (
    ApiGatewayMethodSettings,
    ApiGatewayMethodSettingsSettings,
)
from cdktf_cdktf_provider_aws.api_gateway_request_validator import ApiGatewayRequestValidator
from cdktf_cdktf_provider_aws.api_gateway_resource import ApiGatewayResource
from cdktf_cdktf_provider_aws.api_gateway_rest_api import ApiGatewayRestApi, ApiGatewayRestApiEndpointConfiguration
from cdktf_cdktf_provider_aws.api_gateway_stage import ApiGatewayStage, ApiGatewayStageAccessLogSettings
from cdktf_cdktf_provider_aws.api_gateway_usage_plan import (
    ApiGatewayUsagePlan,
    ApiGatewayUsagePlanApiStages,
    ApiGatewayUsagePlanQuotaSettings,
    ApiGatewayUsagePlanThrottleSettings,
)
from cdktf_cdktf_provider_aws.api_gateway_usage_plan_key import ApiGatewayUsagePlanKey
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from constructs import Construct

from modules import checkov
from modules.api_cors import cors
from modules.limits import Doc, OneOf, Pattern, Range
from modules.naming import Naming
from modules.policy import service_trust
from modules.validation import LOG_RETENTION

CORS_ORIGIN = Pattern(
    r"(https://[a-z0-9.-]+(:\d+)?|http://localhost(:\d+)?)?",
    "empty or one https:// origin (or http://localhost), no path",
)

CACHE_SIZES = ("0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237")
# (path, parent path, path parameter) -> methods. The metadata API; uploads only get a presigned URL here.
ROUTES = {
    "videos": ("GET", "POST"),
    "videos/{id}": ("GET", "PUT", "DELETE"),
    "uploads": ("POST",),  # returns presigned multipart URLs; the bytes go straight to S3
}
# The query string of the collection GET: each parameter is declared on the method and is part of the cache key
# (an undeclared one reaches the backend but not the key: the backend must ignore it).
QUERY_PARAMETERS = {"videos": ("cursor", "limit", "order", "status")}
# Cached GETs also key on the caller's API key: one client's cached answer never goes to another client.
CALLER_KEY = "method.request.header.x-api-key"


@dataclass(frozen=True, kw_only=True)
class ApiClient:
    """One API consumer: its own key and usage plan."""

    name: Annotated[
        str,
        Pattern(r"[a-z][a-z0-9-]{1,30}", "2-31 chars of a-z, 0-9, '-'"),
        Doc("client id: names its usage plan and API key"),
    ]
    rate_limit: Annotated[float, Range(0, 10_000, "requests/s", above=True), Doc("steady requests per second")] = 50.0
    burst_limit: Annotated[int, Range(1, 5_000), Doc("bucket size for bursts")] = 100
    quota_per_day: Annotated[int, Range(1), Doc("requests per day")] = 100_000


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """Inputs. Every default is the prod-safe choice."""

    stage_name: Annotated[
        str, Pattern(r"[A-Za-z0-9_]{1,128}", "1-128 chars of A-Z a-z 0-9 _"), Doc("path prefix of the deployed API")
    ] = "v1"
    iam_auth: Annotated[bool, Doc("methods also require SigV4 (IAM) besides the API key")] = True
    cache_size_gb: Annotated[str, OneOf(CACHE_SIZES), Doc("stage cache cluster size")] = "0.5"
    cache_ttl_seconds: Annotated[int, Range(0, 3600, "s"), Doc("GET response cache TTL")] = 300
    stage_rate_limit: Annotated[float, Doc("stage-wide default throttling")] = 500.0
    stage_burst_limit: Annotated[int, Doc("stage-wide burst bucket")] = 1000
    log_retention_days: Annotated[int, LOG_RETENTION, Doc("access and execution log retention")] = 365
    cors_allowed_origin: Annotated[
        str, CORS_ORIGIN, Doc("the browser origin CORS admits; empty: the site's own (ingest.cors_allowed_origins[0])")
    ] = ""
    clients: Annotated[tuple[ApiClient, ...], Doc("[[api.clients]]: one usage plan + key each")] = (
        ApiClient(name="web"),
    )

    def __post_init__(self) -> None:
        names = [client.name for client in self.clients]
        if len(set(names)) != len(names):
            raise ValueError(f"clients: names must be unique, got {names}")


class Api(Construct):
    """Exposes `rest_api`, `stage`, `cached_paths`, `usage_plans` and `api_keys` by client name."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: ApiConfig,
        backend_url: str,
        kms_key_arn: str,
        web_acl_arn: str,
        vpc_link_id: str,
        cors_origin: str,
    ) -> None:
        super().__init__(scope, id_)
        self._naming, self._config, self._vpc_link_id = naming, config, vpc_link_id
        self.log_groups: dict[str, CloudwatchLogGroup] = {}
        self.rest_api = ApiGatewayRestApi(
            self,
            "rest-api",
            name=naming.name("api"),
            description="Video metadata API",
            endpoint_configuration=ApiGatewayRestApiEndpointConfiguration(types=["REGIONAL"]),
            api_key_source="HEADER",
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        deployment = self._deployment(backend_url, cors_origin)
        self.stage = self._stage(deployment, kms_key_arn)
        self.cached_paths = self._method_settings()
        Wafv2WebAclAssociation(self, "waf", resource_arn=self.stage.arn, web_acl_arn=web_acl_arn)
        self.usage_plans, self.api_keys = {}, {}
        for client in config.clients:
            self._usage_plan(client)

    def _deployment(self, backend_url: str, cors_origin: str) -> ApiGatewayDeployment:
        """The routes and their CORS preflights, and the deployment that waits for them (redeployed when the
        routes' fingerprint changes)."""
        methods = self._routes(backend_url)
        methods += cors(
            self,
            rest_api_id=self.rest_api.id,
            resources=self._resources,
            origin=cors_origin,
            routes=ROUTES,
            request_validator_id=self._validator.id,
        )
        return ApiGatewayDeployment(
            self,
            "deployment",
            rest_api_id=self.rest_api.id,
            description="managed by cdktf",
            triggers={"routes": self._fingerprint(cors_origin)},
            depends_on=methods,
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )

    def _fingerprint(self, cors_origin: str) -> str:
        """A hash of everything a deployment serves: a change to it triggers a new deployment."""
        return hashlib.sha256(
            json.dumps(
                {
                    "routes": ROUTES,
                    "query": QUERY_PARAMETERS,
                    "iam": self._config.iam_auth,
                    "cors": cors_origin,
                    "integration": "vpc-link",
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()

    def _routes(self, backend_url: str) -> list:
        """A resource per path, and per verb a method (API key, IAM by config, validated) with its HTTP proxy
        integration. Returns the methods and integrations (what a deployment waits for)."""
        self._validator = ApiGatewayRequestValidator(
            self,
            "request-validator",
            rest_api_id=self.rest_api.id,
            name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        resources, methods = {"": None}, []
        self._resources = resources
        for path, verbs in ROUTES.items():
            parent, _, part = path.rpartition("/")
            resource = ApiGatewayResource(
                self,
                f"resource-{_slug(path)}",
                rest_api_id=self.rest_api.id,
                parent_id=resources[parent].id if resources.get(parent) else self.rest_api.root_resource_id,
                path_part=part,
            )
            resources[path] = resource
            for verb in verbs:
                method = self._method(path, verb, resource)
                methods += [method, self._integration(path, verb, resource, method, backend_url)]
        return methods

    def _method(self, path: str, verb: str, resource: ApiGatewayResource) -> ApiGatewayMethod:
        """One verb on a path: API key required, IAM by config, its path and query parameters declared."""
        params, query = _parameters(path, verb)
        method = ApiGatewayMethod(
            self,
            f"method-{_slug(path)}-{verb.lower()}",
            rest_api_id=self.rest_api.id,
            resource_id=resource.id,
            http_method=verb,
            api_key_required=True,
            authorization="AWS_IAM" if self._config.iam_auth else "NONE",
            request_validator_id=self._validator.id,
            request_parameters={
                **{f"method.request.path.{p}": True for p in params},
                **{f"method.request.querystring.{q}": False for q in query},
                **({CALLER_KEY: True} if verb == "GET" else {}),
            }
            or None,
        )
        if not self._config.iam_auth:
            checkov.skip(
                method,
                "CKV2_AWS_70",
                f"{self._naming.environment}: IAM authorization off by config; every method still requires an API key.",
            )
        return method

    def _integration(
        self, path: str, verb: str, resource: ApiGatewayResource, method: ApiGatewayMethod, backend_url: str
    ) -> ApiGatewayIntegration:
        """The method's HTTP proxy to the backend, through the VPC link, its parameters passed on and keying the
        cache."""
        params, query = _parameters(path, verb)
        return ApiGatewayIntegration(
            self,
            f"integration-{_slug(path)}-{verb.lower()}",
            rest_api_id=self.rest_api.id,
            resource_id=resource.id,
            http_method=method.http_method,
            type="HTTP_PROXY",
            integration_http_method=verb,
            uri=f"{backend_url}/{path}",
            timeout_milliseconds=29000,
            # Privately: through the VPC link to the internal load balancers (modules/private_link.py).
            connection_type="VPC_LINK",
            connection_id=self._vpc_link_id,
            request_parameters={
                **{f"integration.request.path.{p}": f"method.request.path.{p}" for p in params},
                **{f"integration.request.querystring.{q}": f"method.request.querystring.{q}" for q in query},
            }
            or None,
            cache_key_parameters=[
                *(f"method.request.path.{p}" for p in params),
                *(f"method.request.querystring.{q}" for q in query),
                *((CALLER_KEY,) if verb == "GET" else ()),
            ]
            or None,
        )

    def _stage(self, deployment: ApiGatewayDeployment, kms_key_arn: str) -> ApiGatewayStage:
        naming, config = self._naming, self._config
        account = self._account(kms_key_arn)
        access_logs = self._log_group("access-logs", naming.log_group("apigateway", "access"), kms_key_arn)
        execution_logs = self._log_group(
            "execution-logs", f"API-Gateway-Execution-Logs_{self.rest_api.id}/{config.stage_name}", kms_key_arn
        )
        certificate = ApiGatewayClientCertificate(
            self, "client-certificate", description="Lets the backend verify calls come from API Gateway"
        )
        return ApiGatewayStage(
            self,
            "stage",
            rest_api_id=self.rest_api.id,
            deployment_id=deployment.id,
            stage_name=config.stage_name,
            cache_cluster_enabled=True,
            cache_cluster_size=config.cache_size_gb,
            xray_tracing_enabled=True,
            client_certificate_id=certificate.id,
            access_log_settings=ApiGatewayStageAccessLogSettings(
                destination_arn=access_logs.arn, format=_access_log_format()
            ),
            depends_on=[account, execution_logs],
        )

    def _account(self, kms_key_arn: str) -> ApiGatewayAccount:
        # Account-level: lets API Gateway write execution logs to CloudWatch (one per account and region).
        # The trust AWS documents for this role (API Gateway developer guide, "Set up CloudWatch logging";
        # the AWS::ApiGateway::Account example) names the service and no condition: API Gateway's docs list no
        # aws:SourceAccount for this account-wide assume, and UpdateAccount refuses a role it cannot assume
        # ("The role ARN does not have required permissions"). The role can only write logs of this account.
        logs_role = IamRole(
            self,
            "cloudwatch-role",
            name=self._naming.name("apigateway-logs"),
            description="API Gateway execution logging",
            assume_role_policy=service_trust("apigateway.amazonaws.com"),
        )
        policy_attachment = IamRolePolicyAttachment(
            self,
            "cloudwatch-role-policy",
            role=logs_role.name,
            policy_arn=("arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"),
        )
        # Log groups the service would otherwise create itself, unencrypted and kept forever: declared first,
        # with the key and the retention, and the producers ordered after them.
        welcome = self._log_group("welcome-logs", "/aws/apigateway/welcome", kms_key_arn)
        return ApiGatewayAccount(
            self, "account", cloudwatch_role_arn=logs_role.arn, depends_on=[welcome, policy_attachment]
        )

    def _log_group(self, id_: str, name: str, kms_key_arn: str) -> CloudwatchLogGroup:
        group = CloudwatchLogGroup(
            self, id_, name=name, kms_key_id=kms_key_arn, retention_in_days=self._config.log_retention_days
        )
        checkov.short_log_retention(group, self._config.log_retention_days, self._naming.environment)
        self.log_groups[id_] = group
        return group

    def _method_settings(self) -> list[str]:
        """Every method: metrics, INFO logs, throttling; caching off except on the GET methods. Returns the
        method paths that are cached."""
        config = self._config
        settings = lambda **cache: ApiGatewayMethodSettingsSettings(
            metrics_enabled=True,
            logging_level="INFO",
            data_trace_enabled=False,
            cache_data_encrypted=True,
            throttling_rate_limit=config.stage_rate_limit,
            throttling_burst_limit=config.stage_burst_limit,
            **cache,
        )
        all_methods = ApiGatewayMethodSettings(
            self,
            "all-methods",
            rest_api_id=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=settings(caching_enabled=False),
        )
        checkov.skip(
            all_methods,
            "CKV_AWS_225",
            "Caching is enabled per GET method below; this catch-all keeps "
            "POST/PUT/DELETE uncached (a cached write would replay a response).",
        )
        cached = [path for path, verbs in ROUTES.items() if "GET" in verbs]
        for path in cached:
            ApiGatewayMethodSettings(
                self,
                f"cache-{_slug(path)}",
                rest_api_id=self.rest_api.id,
                stage_name=self.stage.stage_name,
                method_path=method_path(path, "GET"),
                settings=settings(
                    caching_enabled=True,
                    cache_ttl_in_seconds=config.cache_ttl_seconds,
                    require_authorization_for_cache_control=True,
                    unauthorized_cache_control_header_strategy="FAIL_WITH_403",
                ),
            )
        return [method_path(path, "GET") for path in cached]

    def _usage_plan(self, client: ApiClient) -> None:
        naming = self._naming
        plan = ApiGatewayUsagePlan(
            self,
            f"plan-{client.name}",
            name=naming.name(client.name),
            description=f"Throttling and quota for {client.name}",
            api_stages=[ApiGatewayUsagePlanApiStages(api_id=self.rest_api.id, stage=self.stage.stage_name)],
            throttle_settings=ApiGatewayUsagePlanThrottleSettings(
                rate_limit=client.rate_limit, burst_limit=client.burst_limit
            ),
            quota_settings=ApiGatewayUsagePlanQuotaSettings(limit=client.quota_per_day, period="DAY"),
        )
        # The key's value is generated by AWS: it is never in code (it is in state, which is encrypted).
        key = ApiGatewayApiKey(self, f"key-{client.name}", name=naming.name(client.name), enabled=True)
        ApiGatewayUsagePlanKey(
            self, f"plan-key-{client.name}", key_id=key.id, key_type="API_KEY", usage_plan_id=plan.id
        )
        self.usage_plans[client.name], self.api_keys[client.name] = plan, key


def method_path(path: str, verb: str) -> str:
    """A method settings key as AWS reads it: the resource path with every '/' (the leading one too) escaped as
    '~1' (JSON pointer), then '/VERB'. The provider passes method_path through unchanged, so an unescaped
    `videos/{id}/GET` names no method and its settings never apply (hashicorp/terraform-provider-aws#9738: for
    /some/api/endpoint, `aws apigateway get-stage` lists `~1some~1api~1endpoint/POST`, the method_path that works)."""
    return f"{('/' + path).replace('/', '~1')}/{verb}"


def _parameters(path: str, verb: str) -> tuple[list[str], tuple[str, ...]]:
    """The path's parameters, and the query parameters the verb declares (the collection GET only)."""
    return re.findall(r"\{(\w+)\}", path), (QUERY_PARAMETERS.get(path, ()) if verb == "GET" else ())


def _access_log_format() -> str:
    """One JSON line per request: who called what, the answer and the latencies."""
    return json.dumps(
        {
            "requestId": "$context.requestId",
            "ip": "$context.identity.sourceIp",
            "apiKeyId": "$context.identity.apiKeyId",
            "caller": "$context.identity.caller",
            "requestTime": "$context.requestTime",
            "httpMethod": "$context.httpMethod",
            "resourcePath": "$context.resourcePath",
            "status": "$context.status",
            "latencyMs": "$context.responseLatency",
            "integrationLatencyMs": "$context.integrationLatency",
        },
        sort_keys=True,
    )


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
