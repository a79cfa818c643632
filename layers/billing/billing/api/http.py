"""HTTP concerns shared by the API functions: who is calling, and every error mapped to HTTP once.

The authorizer always lets a request through to the function (see template.yaml): the function
answers 401/403 itself so the body follows the contract. The account comes only from the
authorizer's context (`requestContext.authorizer.lambda`), never from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from billing.api.models import ErrorResponse
from billing.errors import AccountNotFound, BillingError, Conflict, NotFound, Retryable, ValidationFailed

READ, WRITE = "billing:read", "billing:write"
logger = Logger(service="billing")


class Unauthenticated(BillingError):
    code = "unauthenticated"


class Forbidden(BillingError):
    code = "forbidden"


STATUS: list[tuple[type[BillingError], HTTPStatus]] = [  # first match wins: subclasses first
    (Unauthenticated, HTTPStatus.UNAUTHORIZED),
    (Forbidden, HTTPStatus.FORBIDDEN),
    (ValidationFailed, HTTPStatus.BAD_REQUEST),
    (AccountNotFound, HTTPStatus.NOT_FOUND),
    (NotFound, HTTPStatus.NOT_FOUND),
    (Conflict, HTTPStatus.CONFLICT),
    (Retryable, HTTPStatus.SERVICE_UNAVAILABLE),
]


_DESCRIPTIONS = {
    400: "invalid parameters or cursor (code invalid_request / invalid_cursor)",
    401: "no valid API key (code unauthenticated)",
    403: "the API key lacks the route's scope (code forbidden)",
    404: "not found",
    409: "Idempotency-Key reused with another body (code idempotency_conflict)",
}


def responses(ok: type, *errors: int, description: str = "OK") -> dict[int, dict[str, Any]]:
    """OpenAPI responses of a route: its model for 200, the error body for each error status."""
    out: dict[int, dict[str, Any]] = {200: {"description": description, "content": {"application/json": {"model": ok}}}}
    for code in (400, 401, 403, *errors):
        out[code] = {"description": _DESCRIPTIONS[code], "content": {"application/json": {"model": ErrorResponse}}}
    return out


@dataclass(frozen=True)
class Principal:
    account_id: str
    scopes: frozenset[str]
    key_id: str


def principal_of(app: APIGatewayHttpResolver) -> Principal | None:
    context: dict[str, Any] = app.current_event.request_context.authorizer.get_lambda
    if str(context.get("authenticated", "")).lower() != "true" or not context.get("account_id"):
        return None
    scopes = context.get("scopes") or ""
    scopes = scopes.split() if isinstance(scopes, str) else list(scopes)
    return Principal(str(context["account_id"]), frozenset(scopes), str(context.get("key_id", "")))


def require(app: APIGatewayHttpResolver, scope: str) -> Principal:
    """The caller, or 401 without a valid key / 403 without `scope`."""
    who = principal_of(app)
    if who is None:
        raise Unauthenticated("a valid API key is required (Authorization: Bearer <key> or x-api-key)")
    if scope not in who.scopes:
        raise Forbidden(f"this API key lacks the {scope} scope")
    return who


def request_id(app: APIGatewayHttpResolver) -> str:
    context = getattr(app, "_lambda_context", None) or getattr(app, "lambda_context", None)
    rid = getattr(context, "aws_request_id", None) if context is not None else None
    try:
        return rid or app.current_event.request_context.request_id or ""
    except Exception:  # noqa: BLE001 - no event yet
        return rid or ""


def error_response(app: APIGatewayHttpResolver, status: HTTPStatus, code: str, message: str) -> Response:
    return Response(
        status_code=int(status), content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message, "request_id": request_id(app)}},
    )


def status_of(exc: BillingError) -> HTTPStatus:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), HTTPStatus.INTERNAL_SERVER_ERROR)


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path", "header")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', err.get('type', 'invalid'))}")
    return "; ".join(parts) or "invalid request"


def install(app: APIGatewayHttpResolver, scope: str) -> None:
    """Register the error mapping on `app`; every route of it requires `scope`."""

    @app.exception_handler(BillingError)
    def _billing_error(exc: BillingError) -> Response:
        status = status_of(exc)
        if status >= 500:  # storage details stay in the log, not in the answer
            logger.exception("billing error", extra={"code": exc.code})
            message = "try again later" if status == HTTPStatus.SERVICE_UNAVAILABLE else "internal error"
            return error_response(app, status, exc.code, message)
        return error_response(app, status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        try:  # authentication and scope come before parameter checks: no key, no hints about parameters
            require(app, scope)
        except BillingError as denied:
            return _billing_error(denied)
        return error_response(app, HTTPStatus.BAD_REQUEST, "invalid_request", _describe(list(exc.errors())))

    if scope == WRITE:  # only the write function is idempotent: the read one never imports the utility
        _install_idempotency(app)

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(app, HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "internal error")

    @app.not_found
    def _no_route(exc: NotFoundError) -> Response:
        return error_response(app, HTTPStatus.NOT_FOUND, "route_not_found", "no such route")


def _install_idempotency(app: APIGatewayHttpResolver) -> None:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    @app.exception_handler([IdempotencyValidationError, IdempotencyAlreadyInProgressError])
    def _idempotency(exc: Exception) -> Response:
        if isinstance(exc, IdempotencyAlreadyInProgressError):
            return error_response(app, HTTPStatus.CONFLICT, "idempotency_in_progress",
                                  "a request with this Idempotency-Key is still being processed")
        return error_response(app, HTTPStatus.CONFLICT, "idempotency_conflict",
                              "this Idempotency-Key was used with a different request body")
