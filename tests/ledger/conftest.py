from __future__ import annotations

import pytest

from billing import ledger


@pytest.fixture
def billing(aws):
    """The moto stack built from the template (the `aws` fixture checks the ledger invariant afterwards)."""
    return aws


@pytest.fixture
def account(billing) -> str:
    ledger.create_account("acct_1")
    return "acct_1"
