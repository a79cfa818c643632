from __future__ import annotations

import pytest

from billing import ledger, verify


@pytest.fixture
def billing(aws):
    """moto stack from the template; after the test, the ledger invariant must hold for every account."""
    yield aws
    assert verify.verify_all() == {}


@pytest.fixture
def account(billing) -> str:
    ledger.create_account("acct_1")
    return "acct_1"
