"""API keys: looked up by hash, compared in constant time, and a revoked key stops at once everywhere."""

from __future__ import annotations

import hmac

from billing import apikeys, cli, ledger
from tests.helpers import load_event, load_handler


def _authorize(api_key: str, lambda_context) -> dict:
    event = load_event("authorizer.json")
    event["headers"] = {k: v for k, v in event["headers"].items() if k not in ("authorization", "x-api-key")}
    event["headers"]["authorization"] = f"Bearer {api_key}"
    return load_handler("authorizer").lambda_handler(event, lambda_context)["context"]


def test_the_stored_hash_is_compared_in_constant_time(aws, monkeypatch):
    ledger.create_account("acct_k")
    api_key, _ = apikeys.create_key("acct_k", ("billing:read",))
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(apikeys.hmac, "compare_digest", spy)
    assert apikeys.lookup(api_key).account_id == "acct_k"
    assert compared and all(apikeys.hash_key(api_key) in a for a, _ in compared)
    # a key differing in one character finds nothing, and the key itself is never stored
    assert apikeys.lookup(api_key[:-1] + ("A" if api_key[-1] != "A" else "B")) is None
    stored = aws.ddb.scan(TableName=aws.tables["ConfigTable"])["Items"]
    assert api_key not in repr(stored)


def test_a_revoked_key_stops_at_once_in_lookup_and_in_the_authorizer(aws, lambda_context, capsys):
    ledger.create_account("acct_k")
    api_key, key_id = apikeys.create_key("acct_k", ("billing:read", "billing:write"))
    assert _authorize(api_key, lambda_context)["authenticated"] == "true"

    assert cli.main(["key", "revoke", "--key-id", key_id]) == 0
    capsys.readouterr()

    # no cache anywhere between the revocation and the next request (template: ReauthorizeEvery 0)
    assert apikeys.lookup(api_key) is None
    assert _authorize(api_key, lambda_context) == {"authenticated": "false"}
    # the other keys of the account are untouched
    other, _ = apikeys.create_key("acct_k", ("billing:read",))
    assert _authorize(other, lambda_context)["authenticated"] == "true"


def test_the_gateway_does_not_cache_authorizer_verdicts(template):
    api = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::HttpApi")
    authorizers = api["Properties"]["Auth"]["Authorizers"]
    for name, authorizer in authorizers.items():
        assert authorizer.get("Identity", {}).get("ReauthorizeEvery", 0) == 0, name
        assert authorizer.get("EnableSimpleResponses") is True, name
