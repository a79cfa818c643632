"""Fixtures of the API tests, on the moto tables of the shared `aws` fixture (helpers: apisupport.py)."""

from __future__ import annotations

import pytest
from apisupport import Account, make_account

from billing.api import write


@pytest.fixture
def api(aws):
    write.reset()
    yield aws
    write.reset()


@pytest.fixture
def acct(api) -> Account:
    return make_account("acct_a")


@pytest.fixture
def other(api) -> Account:
    return make_account("acct_b")
