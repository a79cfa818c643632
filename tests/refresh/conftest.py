"""Refresh tests: moto tables from template.yaml; the ledger invariant is checked after every test."""

from __future__ import annotations

import pytest

from billing import verify


@pytest.fixture
def billing(aws):
    """The moto stack; afterwards every account's stored state must equal what its ledger lines say."""
    yield aws
    assert verify.verify_all() == {}
