"""billing-admin: JSON on stdout, clear errors on stderr with a non-zero exit, nothing written on failure."""

from __future__ import annotations

import json

import pytest

from billing import cli, store, verify


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_account_key_and_grant_round_trip(billing, capsys):
    code, created, _ = run(capsys, "account", "create", "--account-id", "acct_cli", "--plan", "starter")
    assert code == 0 and created["account_id"] == "acct_cli" and created["created"] is True

    code, key, _ = run(capsys, "key", "create", "--account", "acct_cli", "--scopes", "billing:read,billing:write")
    assert code == 0 and key["api_key"].startswith("bk_") and key["key_id"]

    code, grant, _ = run(capsys, "credits", "grant", "--account", "acct_cli", "--amount", "250.5", "--bucket",
                         "promotional", "--expires-at", "2099-01-01T00:00:00Z", "--idempotency-key", "welcome")
    assert code == 0 and grant["lot_id"] and grant["amount"] == "250.5" and grant["created"] is True
    wallet = store.get_wallet("acct_cli")
    assert wallet.lots[grant["lot_id"]].remaining == 250.5

    code, again, _ = run(capsys, "credits", "grant", "--account", "acct_cli", "--amount", "250.5", "--bucket",
                         "promotional", "--expires-at", "2099-01-01T00:00:00Z", "--idempotency-key", "welcome")
    assert code == 0 and again["lot_id"] == grant["lot_id"] and again["created"] is False
    assert store.get_wallet("acct_cli").version == wallet.version  # idempotent forever: nothing written

    code, revoked, _ = run(capsys, "key", "revoke", "--key-id", key["key_id"])
    assert code == 0 and revoked["revoked"] is True


@pytest.mark.parametrize("argv", [
    ["credits", "grant", "--account", "acct_1", "--amount", "abc", "--bucket", "promotional", "--idempotency-key", "k"],
    ["credits", "grant", "--account", "acct_1", "--amount", "-5", "--bucket", "promotional", "--idempotency-key", "k"],
    ["credits", "grant", "--account", "acct_1", "--amount", "1.0000001", "--bucket", "promotional",
     "--idempotency-key", "k"],
    ["credits", "grant", "--account", "acct_1", "--amount", "5", "--bucket", "monthly_plan", "--idempotency-key", "k"],
    ["credits", "grant", "--account", "acct_1", "--amount", "5", "--bucket", "promotional", "--idempotency-key", "k",
     "--expires-at", "tomorrow"],
    ["credits", "grant", "--account", "acct_1", "--amount", "5", "--bucket", "promotional", "--idempotency-key", "k",
     "--expires-at", "2001-01-01T00:00:00Z"],
    ["credits", "grant", "--account", "acct_nobody", "--amount", "5", "--bucket", "promotional",
     "--idempotency-key", "k"],
    ["credits", "grant", "--account", "acct_1", "--amount", "5"],
    ["key", "create", "--account", "acct_1", "--scopes", "billing:admin"],
    ["key", "create", "--account", "acct_nobody", "--scopes", "billing:read"],
    ["key", "revoke", "--key-id", "key_missing"],
    ["account", "create", "--plan", "platinum"],
    ["account", "create", "--account-id", "bad id"],
    ["pricing", "set", "/nonexistent.json"],
    ["refresh", "run", "--at", "yesterday"],
    ["no-such-group"],
])
def test_bad_arguments_fail_clearly_and_write_nothing(billing, account, capsys, argv):
    before = store.get_wallet(account)
    code, out, err = run(capsys, *argv)
    assert code != 0 and out is None and err.startswith("error: ")
    assert store.get_wallet(account).to_dict() == before.to_dict()
    assert store.get_wallet("acct_nobody") is None


def test_a_grant_key_reused_for_another_amount_is_refused(billing, account, capsys):
    assert run(capsys, "credits", "grant", "--account", account, "--amount", "5", "--bucket", "promotional",
               "--idempotency-key", "k1")[0] == 0
    code, _, err = run(capsys, "credits", "grant", "--account", account, "--amount", "6", "--bucket", "promotional",
                       "--idempotency-key", "k1")
    assert code == 1 and "conflict" in err


def test_pricing_set_adds_a_version_and_keeps_the_old_ones(billing, account, capsys, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"preview_daily_quota": "0", "rules": [
        {"id": "everything", "unit": "url", "rate": "0.25"}]}))
    assert run(capsys, "pricing", "set", str(rules)) == (0, {"version": 1, "rules": 1}, "")
    assert run(capsys, "pricing", "set", str(rules))[1]["version"] == 2
    code, shown, _ = run(capsys, "pricing", "show")
    assert code == 0 and shown["current_version"] == 2 and shown["versions"] == [1, 2]

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rules": [{"id": "x", "unit": "url", "rate": "NaN"}]}))
    code, _, err = run(capsys, "pricing", "set", str(bad))
    assert code == 2 and "invalid input" in err
    assert run(capsys, "pricing", "show")[1]["versions"] == [1, 2]


def test_ledger_verify_reports_a_consistent_ledger(billing, account, capsys):
    code, out, _ = run(capsys, "ledger", "verify", "--account", account)
    assert code == 0 and out["ok"] is True and verify.verify_account(account) == []
