"""The OpenAPI document of the billing API, generated from the routes of its functions.

`python -m billing_local.openapi` writes openapi.json at the repository root;
`python -m billing_local.openapi --check` exits 1 when the committed file is stale (make test).
Each API function has its own resolver; their documents are merged into one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from typing import Any

from billing_local.template import REPO_ROOT, functions, load_template

OUTPUT = REPO_ROOT / "openapi.json"
API_FUNCTIONS = ("BillingReadApiFunction", "PlanSelectFunction")
TITLE = "Billing API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Credits and billing. Authenticate with `Authorization: Bearer <api_key>` or `x-api-key`; keys carry "
    "`billing:read` and/or `billing:write`. Errors are `{\"error\": {\"code\", \"message\", \"request_id\"}}`. "
    "Amounts are exact decimals as JSON strings."
)
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "API key as a bearer token"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
}


def _load_app(logical_id: str) -> Any:
    info = functions(load_template())[logical_id]
    spec = importlib.util.spec_from_file_location(f"openapi_{logical_id}", info.module_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def document() -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": SECURITY_SCHEMES},
        "security": [{"bearer": []}, {"apiKey": []}],
    }
    for logical_id in API_FUNCTIONS:
        schema = json.loads(_load_app(logical_id).get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                # Powertools documents its default 422; these functions answer bad parameters with 400
                operation.get("responses", {}).pop("422", None)
            merged["paths"].setdefault(path, {}).update(operations)
        merged["components"]["schemas"].update(schema.get("components", {}).get("schemas", {}))
    merged["paths"] = dict(sorted(merged["paths"].items()))
    merged["components"]["schemas"] = dict(sorted(merged["components"]["schemas"].items()))
    return merged


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when openapi.json is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print("openapi.json is stale: run `python -m billing_local.openapi`", file=sys.stderr)
            return 1
        print("openapi.json is up to date")
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
