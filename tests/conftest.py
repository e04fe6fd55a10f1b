"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _segur_signing_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests hermetic: reports are signed with a throwaway key, never the user's own."""
    monkeypatch.setenv("SEGUR_SIGNING_KEY", str(tmp_path_factory.getbasetemp() / "signing-key.pem"))
