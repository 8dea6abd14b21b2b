"""The emulator patch the API's private integrations need (tools/rehearsal/emulator_server.py PATCHES)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # moto with the emulator's patches


def test_patched_api_gateway_integration_keeps_its_vpc_link_connection_id():
    import boto3
    from moto import mock_aws

    from tools.rehearsal.emulator_server import PATCHES, apply_patches

    applied = apply_patches()
    assert "apigateway PutIntegration, GetIntegration: connectionId" in applied and applied == list(PATCHES)
    with mock_aws():
        api = boto3.client("apigateway", region_name="eu-west-1")
        rest_api = api.create_rest_api(name="videos")["id"]
        root = api.get_resources(restApiId=rest_api)["items"][0]["id"]
        videos = api.create_resource(restApiId=rest_api, parentId=root, pathPart="videos")["id"]
        api.put_method(restApiId=rest_api, resourceId=videos, httpMethod="GET", authorizationType="NONE")
        put = api.put_integration(
            restApiId=rest_api,
            resourceId=videos,
            httpMethod="GET",
            type="HTTP_PROXY",
            integrationHttpMethod="GET",
            uri="https://api.example.com/videos",
            connectionType="VPC_LINK",
            connectionId="abc123",
            cacheKeyParameters=["method.request.header.x-api-key"],
        )
        read = api.get_integration(restApiId=rest_api, resourceId=videos, httpMethod="GET")
        assert put["connectionId"] == read["connectionId"] == "abc123"
        assert read["connectionType"] == "VPC_LINK"
        assert read["cacheKeyParameters"] == ["method.request.header.x-api-key"]  # the earlier patch still holds
        api.put_method(restApiId=rest_api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        public = api.put_integration(restApiId=rest_api, resourceId=root, httpMethod="GET", type="MOCK")
        assert "connectionId" not in public
