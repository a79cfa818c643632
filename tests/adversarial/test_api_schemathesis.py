"""Schemathesis over openapi.json against the local stack (moto server + HTTP gateway on loopback).

With a valid read+write key and with no key: no 5xx, every response (status, headers, body) as the
document says. The stack runs as a subprocess on free ports, in a state directory of its own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ignored_auth


def _old_style_many() -> None:
    """hypothesis-jsonschema 0.23.1 (pinned with schemathesis 3.39) drives `cu.many(...).more()`, which
    hypothesis 6.170 replaced by `with many(...) as elements: for _ in elements`. Give that one module
    the old interface on top of the new one (hypothesis itself keeps its own `many`)."""
    import types

    from hypothesis.internal.conjecture import utils as cu
    from hypothesis_jsonschema import _from_schema

    if hasattr(cu.many, "more"):
        return

    class OldMany:
        def __init__(self, *args, **kwargs):
            self._many = cu.many(*args, **kwargs).__enter__()
            self._steps = iter(self._many)

        def more(self) -> bool:
            try:
                next(self._steps)
                return True
            except StopIteration:
                self._many.__exit__(None, None, None)
                return False

        def reject(self, why: str | None = None) -> None:
            self._many.reject(why)

    shim = types.ModuleType("cu_with_old_many")
    shim.__dict__.update(vars(cu))
    shim.many = OldMany
    _from_schema.cu = shim


_old_style_many()
schemathesis.experimental.OPEN_API_3_1.enable()  # the document is OpenAPI 3.1 (Powertools writes it)
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION = int(os.environ.get("ADV_API_EXAMPLES", 60))  # x 9 operations x 2 key kinds
SENT = {"with_key": 0, "without_key": 0}

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("stack")
    ready = state / "ready.json"
    env = {**os.environ, "BILLING_API_PORT": str(_free_port()), "BILLING_AWS_PORT": str(_free_port())}
    for name in ("AWS_ENDPOINT_URL", "BILLING_TABLE", "CONFIG_TABLE", "IDEMPOTENCY_TABLE"):
        env.pop(name, None)
    log = (state / "stack.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "billing_local.stack", "--state-dir", str(state),
                                "--ready-file", str(ready)], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the local stack did not start:\n{(state / 'stack.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield json.loads(ready.read_text())
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def api_schema(local_stack):
    url = urlsplit(local_stack["api_url"])
    return schemathesis.from_path(str(ROOT / "openapi.json"), base_url=f"{url.scheme}://{url.netloc}")


schema = schemathesis.from_pytest_fixture("api_schema")
STACK_SETTINGS = settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
                          suppress_health_check=list(HealthCheck))


def _without_auth(headers: dict | None) -> dict:
    return {k: v for k, v in (headers or {}).items() if k.lower() not in ("authorization", "x-api-key")}


@schema.parametrize()
@STACK_SETTINGS
def test_with_a_valid_key_no_5xx_and_every_response_matches_the_document(case, local_stack):
    case.headers = {**_without_auth(case.headers), "Authorization": f"Bearer {local_stack['write_key']}"}
    response = case.call(timeout=10)
    SENT["with_key"] += 1
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    # ignored_auth replays the case with made-up credentials; with the key kept in the headers that
    # replay is still authenticated, so it is the keyless test below that pins 401 for every route
    case.validate_response(response, excluded_checks=(ignored_auth,))


@schema.parametrize()
@STACK_SETTINGS
def test_without_a_key_every_route_is_401_as_documented(case, local_stack):
    case.headers = _without_auth(case.headers)
    response = case.call(timeout=10)
    SENT["without_key"] += 1
    assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)
    case.validate_response(response)


def test_enough_requests_were_generated():
    print(f"\nschemathesis: {SENT['with_key']} requests with a key, {SENT['without_key']} without")
    assert SENT["with_key"] + SENT["without_key"] >= 9 * EXAMPLES_PER_OPERATION
