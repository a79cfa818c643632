"""A local API Gateway HTTP API: the template's HttpApi routes, its Lambda authorizer, payload 2.0.

Each request becomes the event API Gateway would send (the base is the output of
`sam local generate-event apigateway http-api-proxy`, kept in events/local_http_api_base.json),
the route's authorizer runs first with the REQUEST payload 2.0, its simple response's context goes
under `requestContext.authorizer.lambda`, and the handler's answer is turned back into HTTP the way
API Gateway does (statusCode, headers, cookies, body, isBase64Encoded; a bare JSON value is a 200).
Errors API Gateway produces itself have its bodies: {"message": "Not Found"}, "Forbidden", ...
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request, Response

from billing_local.lambda_runtime import InvocationError, LocalFunction
from billing_local.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, REPO_ROOT, functions, resources

log = logging.getLogger("billing_local.http")

BASE_EVENT = REPO_ROOT / "events" / "local_http_api_base.json"
OPENAPI_PATH = REPO_ROOT / "openapi.json"
LOCAL_API_ID = "localapi01"
STAGE = "$default"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/x-www-form",
               "+json", "+xml")


@dataclass(frozen=True)
class Authorizer:
    name: str
    function_id: str  # logical id of the authorizer function
    payload_version: str
    simple_responses: bool
    identity_sources: tuple[str, ...]  # "$request.header.Authorization", "$request.querystring.key"


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ... or ANY
    path: str  # template path, e.g. /api/v1/billing/usage/tasks/{task_id}/spend-summary
    function_id: str
    authorizer: Authorizer | None
    pattern: re.Pattern[str]

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def specificity(self) -> tuple[int, int, int]:
        greedy = "+}" in self.path
        return (int(greedy), self.path.count("{"), -len(self.path))


def _path_pattern(path: str) -> re.Pattern[str]:
    out = []
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("+}"):
            out.append(f"(?P<{part[1:-2]}>.+)")
        elif part.startswith("{"):
            out.append(f"(?P<{part[1:-1]}>[^/]+)")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


def _function_id(node: Any) -> str:
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        return node["Fn::GetAtt"][0]
    if isinstance(node, dict) and "Ref" in node:
        return node["Ref"]
    raise ValueError(f"authorizer FunctionArn must be !GetAtt <Function>.Arn, got {node!r}")


def _authorizers(api_props: dict[str, Any]) -> tuple[dict[str, Authorizer], str | None]:
    auth = api_props.get("Auth") or {}
    out: dict[str, Authorizer] = {}
    for name, spec in (auth.get("Authorizers") or {}).items():
        if "FunctionArn" not in spec:  # JWT authorizers are not emulated
            log.warning("authorizer %s is not a Lambda authorizer: not emulated, its routes run unauthorized", name)
            continue
        identity = spec.get("Identity") or {}
        sources = tuple(f"$request.header.{h}" for h in identity.get("Headers", ())) + tuple(
            f"$request.querystring.{q}" for q in identity.get("QueryStrings", ()))
        out[name] = Authorizer(name, _function_id(spec["FunctionArn"]), str(spec.get("AuthorizerPayloadFormatVersion",
                               "2.0")), bool(spec.get("EnableSimpleResponses", False)), sources)
    return out, auth.get("DefaultAuthorizer")


def template_routes(template: dict[str, Any]) -> list[Route]:
    """Every HttpApi route of the template with the authorizer API Gateway would run for it."""
    apis = {lid: _authorizers(res.get("Properties") or {}) for lid, res in
            resources(template, "AWS::Serverless::HttpApi").items()}
    out = []
    for lid, info in functions(template).items():
        for ev in info.events:
            if ev.type != "HttpApi":
                continue
            authorizers, default = apis.get(ev.api or "", ({}, None))
            chosen = ((ev.properties.get("Auth") or {}).get("Authorizer")) or default
            authorizer = None if chosen in (None, "NONE") else authorizers.get(chosen)
            method = "ANY" if ev.method in (None, "X-AMAZON-APIGATEWAY-ANY-METHOD") else ev.method
            path = ev.path or "$default"
            out.append(Route(method, path, lid, authorizer, _path_pattern(path)))
    return sorted(out, key=lambda r: r.specificity)


def _is_text(content_type: str) -> bool:
    content_type = content_type.lower()
    return not content_type or any(t in content_type for t in _TEXT_TYPES)


def _json_response(status: int, body: dict[str, Any], request_id: str) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json",
                    headers={"apigw-requestid": request_id})


class HttpGateway:
    """WSGI application serving the template's HTTP API with its functions."""

    def __init__(self, template: dict[str, Any], functions_by_id: dict[str, LocalFunction],
                 openapi_path: Path = OPENAPI_PATH) -> None:
        self.routes = template_routes(template)
        self.functions = functions_by_id
        self.openapi_path = openapi_path
        self.base_event = json.loads(BASE_EVENT.read_text())

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.monotonic()
        response = self.handle(request)
        log.info("%s %s -> %s (%d ms)", request.method, request.full_path.rstrip("?"), response.status_code,
                 (time.monotonic() - started) * 1000)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        request_id = base64.b64encode(uuid.uuid4().bytes[:10]).decode()
        raw_path = (request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path)
        raw_path = raw_path.split("?", 1)[0] or "/"
        route, params = self.match(request.method, request.path)
        if route is None:
            docs = self.docs(request)
            return docs if docs is not None else _json_response(404, {"message": "Not Found"}, request_id)
        event = self.build_event(request, route, params, raw_path, request_id)
        if route.authorizer is not None:
            denied = self.authorize(route, event, request_id)
            if denied is not None:
                return denied
        try:
            result = self.functions[route.function_id].invoke(event)
        except InvocationError:
            return _json_response(500, {"message": "Internal Server Error"}, request_id)
        return self.to_http(result, request_id)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None, {}

    # ------------------------------------------------------------------ events

    def build_event(self, request: Request, route: Route, params: dict[str, str], raw_path: str,
                    request_id: str) -> dict[str, Any]:
        event = copy.deepcopy(self.base_event)
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        cookie_header = headers.pop("cookie", "")
        cookies = [c.strip() for c in cookie_header.split(";") if c.strip()]
        headers.setdefault("x-forwarded-for", request.remote_addr or "127.0.0.1")
        headers.setdefault("x-forwarded-proto", request.scheme)
        headers.setdefault("x-forwarded-port", str(request.environ.get("SERVER_PORT", "")))
        headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
        query: dict[str, str] = {}
        raw_query = request.environ.get("QUERY_STRING", "")
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        body = request.get_data()
        now = datetime.now(UTC)
        host = request.host
        context = event["requestContext"]
        context.pop("authentication", None)  # no mutual TLS locally
        context.pop("authorizer", None)  # set by the authorizer, if the route has one
        context.update({
            "accountId": LOCAL_ACCOUNT_ID, "apiId": LOCAL_API_ID, "domainName": host,
            "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
            "http": {"method": request.method, "path": raw_path, "protocol": request.environ.get("SERVER_PROTOCOL",
                     "HTTP/1.1"), "sourceIp": request.remote_addr or "127.0.0.1",
                     "userAgent": headers.get("user-agent", "")},
            "requestId": request_id, "routeKey": route.route_key, "stage": STAGE,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
        })
        event.update({"version": "2.0", "routeKey": route.route_key, "rawPath": raw_path,
                      "rawQueryString": raw_query, "headers": headers})
        for key in ("cookies", "queryStringParameters", "pathParameters", "stageVariables", "body"):
            event.pop(key, None)
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if params:
            event["pathParameters"] = params
        text = _is_text(headers.get("content-type", ""))
        event["isBase64Encoded"] = bool(body) and not text
        if body:
            event["body"] = body.decode("utf-8", errors="replace") if text else base64.b64encode(body).decode()
        return event

    def authorizer_event(self, route: Route, event: dict[str, Any], identity: list[str]) -> dict[str, Any]:
        """The REQUEST authorizer's payload 2.0: the route's request plus routeArn and identitySource."""
        method = event["requestContext"]["http"]["method"]
        auth_event: dict[str, Any] = {
            "version": "2.0", "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/{STAGE}/{method}"
                        f"{event['rawPath']}",
            "identitySource": identity,
        }
        for key in ("routeKey", "rawPath", "rawQueryString", "cookies", "headers", "queryStringParameters",
                    "requestContext", "pathParameters", "stageVariables"):
            if key in event:
                auth_event[key] = copy.deepcopy(event[key])
        return auth_event

    def authorize(self, route: Route, event: dict[str, Any], request_id: str) -> Response | None:
        """Run the route's authorizer; None when the request may go on (context put into `event`)."""
        authorizer = route.authorizer
        assert authorizer is not None
        identity = []
        for source in authorizer.identity_sources:
            kind, _, name = source.removeprefix("$request.").partition(".")
            value = (event["headers"].get(name.lower()) if kind == "header"
                     else (event.get("queryStringParameters") or {}).get(name))
            if not value:  # API Gateway answers 401 without calling the authorizer
                return _json_response(401, {"message": "Unauthorized"}, request_id)
            identity.append(value)
        try:
            answer = self.functions[authorizer.function_id].invoke(self.authorizer_event(route, event, identity))
        except InvocationError:
            return _json_response(500, {"message": "Internal Server Error"}, request_id)
        if not isinstance(answer, dict):
            log.error("authorizer %s returned %r, not an object", authorizer.name, answer)
            return _json_response(500, {"message": "Internal Server Error"}, request_id)
        if authorizer.simple_responses:
            allowed, context = answer.get("isAuthorized") is True, answer.get("context") or {}
        else:  # IAM policy response: allowed when a statement allows execute-api:Invoke
            statements = (answer.get("policyDocument") or {}).get("Statement") or []
            allowed = any(s.get("Effect") == "Allow" for s in statements) and not any(
                s.get("Effect") == "Deny" for s in statements)
            context = answer.get("context") or {}
        if not allowed:
            return _json_response(403, {"message": "Forbidden"}, request_id)
        event["requestContext"]["authorizer"] = {"lambda": context}
        return None

    # ------------------------------------------------------------------ responses

    @staticmethod
    def to_http(result: Any, request_id: str) -> Response:
        """The handler's answer as API Gateway (payload 2.0) turns it into an HTTP response."""
        if not (isinstance(result, dict) and "statusCode" in result):
            # no statusCode: API Gateway assumes 200, JSON, and the whole answer as the body
            body = result if isinstance(result, str) else json.dumps(result)
            return Response(body, status=200, content_type="application/json", headers={"apigw-requestid": request_id})
        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError):
            log.error("handler returned an invalid statusCode %r", result.get("statusCode"))
            return _json_response(500, {"message": "Internal Server Error"}, request_id)
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        response = Response(data, status=status)
        response.headers.remove("Content-Type")
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():  # not in 2.0; tolerated
            for value in values:
                response.headers.add(name, str(value))
        for cookie in result.get("cookies") or ():
            response.headers.add("Set-Cookie", cookie)
        if "content-type" not in {k.lower() for k in response.headers.keys()}:
            response.headers["Content-Type"] = "application/json"
        response.headers["apigw-requestid"] = request_id
        return response

    # ------------------------------------------------------------------ Swagger UI

    def docs(self, request: Request) -> Response | None:
        if request.method not in ("GET", "HEAD"):
            return None
        if request.path == "/openapi.json" and self.openapi_path.exists():
            return Response(self.openapi_path.read_bytes(), content_type="application/json")
        if request.path in ("/docs", "/docs/"):
            return Response(self.docs_page(), content_type="text/html; charset=utf-8")
        if request.path.startswith("/docs/static/"):
            asset = _swagger_asset(request.path.removeprefix("/docs/static/"))
            if asset is not None:
                return Response(asset.read_bytes(), mimetype=_mimetype(asset.name))
        return None

    def docs_page(self) -> str:
        if _swagger_dir() is not None:
            return _SWAGGER_PAGE
        items = "".join(f"<li><code>{r.route_key}</code></li>" for r in self.routes)
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>Billing API</title></head><body>"
                f"<h1>Billing API</h1><p>OpenAPI document: <a href='/openapi.json'>/openapi.json</a></p>"
                f"<ul>{items}</ul></body></html>")


_SWAGGER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Billing API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});</script>
</body></html>
"""


def _swagger_dir() -> Path | None:
    """swagger-ui-dist as shipped by the swagger-ui-bundle package (a dev dependency), if installed."""
    try:
        import swagger_ui_bundle  # type: ignore[import-untyped]
    except ImportError:
        return None
    return Path(swagger_ui_bundle.swagger_ui_path)


def _swagger_asset(name: str) -> Path | None:
    folder = _swagger_dir()
    if folder is None or "/" in name or name.startswith("."):
        return None
    path = folder / name
    return path if path.is_file() else None


def _mimetype(name: str) -> str:
    for suffix, mime in ((".js", "application/javascript"), (".css", "text/css"), (".png", "image/png"),
                         (".html", "text/html"), (".map", "application/json")):
        if name.endswith(suffix):
            return mime
    return "application/octet-stream"
