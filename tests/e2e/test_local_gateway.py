"""The local HTTP API gateway turns requests into payload 2.0 events, authorizer first, as API Gateway does."""

from __future__ import annotations

import json

import pytest
import yaml
from werkzeug.test import Client

from billing_local.http_gateway import HttpGateway, template_routes
from billing_local.lambda_runtime import LocalFunction
from billing_local.template import functions, load_template

pytestmark = pytest.mark.e2e

TEMPLATE = yaml.safe_load("""
Globals:
  Function: {Handler: app.lambda_handler, Timeout: 7, MemorySize: 256}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Keys
        Authorizers:
          Keys:
            FunctionArn: {"Fn::GetAtt": [AuthFn, Arn]}
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
  AuthFn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: tests/e2e/fixtures/allow_authorizer/}
  EchoFn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: tests/e2e/fixtures/echo/
      Events:
        Item:
          Type: HttpApi
          Properties: {ApiId: {Ref: Api}, Method: GET, Path: "/v1/items/{item_id}"}
        Create:
          Type: HttpApi
          Properties: {ApiId: {Ref: Api}, Method: POST, Path: /v1/items}
        Open:
          Type: HttpApi
          Properties: {ApiId: {Ref: Api}, Method: GET, Path: /v1/open, Auth: {Authorizer: NONE}}
""")


@pytest.fixture
def gateway() -> tuple[Client, LocalFunction]:
    fns = {lid: LocalFunction(info) for lid, info in functions(TEMPLATE).items()}
    return Client(HttpGateway(TEMPLATE, fns), use_cookies=False), fns["AuthFn"]


def body(response) -> dict:
    return json.loads(response.get_data())


def test_a_request_becomes_a_payload_v2_event_with_the_authorizer_context(gateway):
    client, _ = gateway
    response = client.get("/v1/items/it%2042?tag=a&tag=b&empty=", headers=[
        ("Authorization", "Bearer good"), ("X-Multi", "1"), ("X-Multi", "2"), ("Cookie", "s=1; t=2")])
    assert response.status_code == 201
    assert response.headers["x-echo"] == "yes"
    assert response.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2"]
    answer = body(response)
    event = answer["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/items/{item_id}"
    assert event["rawPath"] == "/v1/items/it%2042"
    assert event["rawQueryString"] == "tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"tag": "a,b", "empty": ""}
    assert event["pathParameters"] == {"item_id": "it 42"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["headers"]["x-multi"].replace(" ", "") == "1,2" and "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is False and "body" not in event
    context = event["requestContext"]
    assert context["authorizer"] == {"lambda": {"who": "tester", "route": "GET /v1/items/{item_id}"}}
    assert context["http"]["method"] == "GET" and context["routeKey"] == event["routeKey"]
    assert context["stage"] == "$default" and context["requestId"] == response.headers["apigw-requestid"]
    assert answer["function_name"].endswith("EchoFn") and answer["memory"] == 256
    assert 0 < answer["remaining_ms"] <= 7000
    assert answer["arn"].startswith("arn:aws:lambda:us-east-1:123456789012:function:")


def test_the_authorizer_gets_the_request_payload_2_0(gateway):
    client, auth_fn = gateway
    client.get("/v1/items/x?q=1", headers={"Authorization": "Bearer good"})
    auth_event = auth_fn._module.AUTHORIZER_EVENTS[-1]
    assert auth_event["type"] == "REQUEST" and auth_event["version"] == "2.0"
    assert auth_event["routeKey"] == "GET /v1/items/{item_id}"
    assert auth_event["routeArn"].endswith("/$default/GET/v1/items/x")
    assert auth_event["identitySource"] == []
    assert auth_event["headers"]["authorization"] == "Bearer good"
    assert auth_event["queryStringParameters"] == {"q": "1"}


def test_an_unauthorized_request_gets_api_gateways_403(gateway):
    client, _ = gateway
    response = client.get("/v1/items/x", headers={"Authorization": "Bearer bad"})
    assert response.status_code == 403
    assert body(response) == {"message": "Forbidden"}


def test_a_route_without_authorizer_skips_it(gateway):
    client, auth_fn = gateway
    response = client.get("/v1/open")
    assert response.status_code == 201
    assert "authorizer" not in body(response)["event"]["requestContext"]


def test_bodies_are_passed_as_text_or_base64(gateway):
    client, _ = gateway
    text = body(client.post("/v1/items", data='{"a": 1}', content_type="application/json",
                            headers={"Authorization": "Bearer good"}))["event"]
    assert text["body"] == '{"a": 1}' and text["isBase64Encoded"] is False
    binary = body(client.post("/v1/items", data=b"\x00\x01", content_type="application/octet-stream",
                              headers={"Authorization": "Bearer good"}))["event"]
    assert binary["body"] == "AAE=" and binary["isBase64Encoded"] is True


def test_responses_as_api_gateway_maps_them(gateway):
    client, _ = gateway
    auth = {"Authorization": "Bearer good"}
    bare = client.get("/v1/items/x?mode=bare", headers=auth)
    assert bare.status_code == 200 and body(bare) == {"hello": "world"}
    assert bare.headers["content-type"] == "application/json"
    binary = client.get("/v1/items/x?mode=binary", headers=auth)
    assert binary.get_data() == b"\x89PNG" and binary.headers["content-type"] == "image/png"
    failed = client.get("/v1/items/x?mode=raise", headers=auth)
    assert failed.status_code == 500 and body(failed) == {"message": "Internal Server Error"}
    missing = client.get("/v1/nothing", headers=auth)
    assert missing.status_code == 404 and body(missing) == {"message": "Not Found"}
    wrong_method = client.delete("/v1/items/x", headers=auth)
    assert wrong_method.status_code == 404


def test_every_route_of_the_real_template_is_served_with_its_authorizer():
    routes = template_routes(load_template())
    keys = {r.route_key for r in routes}
    assert "GET /api/v1/billing/balance" in keys and "POST /api/v1/billing/plan/select" in keys
    assert "GET /api/v1/billing/usage/tasks/{task_id}/spend-summary" in keys
    assert {r.authorizer.function_id for r in routes if r.authorizer} == {"AuthorizerFunction"}
    assert all(r.authorizer and r.authorizer.simple_responses for r in routes)
