"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests


@pytest.fixture(autouse=True)
def _segur_signing_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests hermetic: reports are signed with a throwaway key, never the user's own."""
    monkeypatch.setenv("SEGUR_SIGNING_KEY", str(tmp_path_factory.getbasetemp() / "signing-key.pem"))


def _preload() -> None:
    """pytester's in-process runs unload modules first imported inside them; cryptography's Rust
    bindings then see two copies of their classes. Importing the heavy modules here, once, avoids it."""
    import importlib

    for name in ("yaml", "yaml.cyaml", "cryptography.hazmat.primitives.serialization",
                 "cryptography.hazmat.primitives.hashes", "cryptography.x509", "joserfc.jwk",
                 "lxml.etree", "saxonche", "conformance.report.render", "conformance.report.manifest",
                 "segur_reference_dui.server"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


_preload()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A requests session that ignores proxy environment variables (the simulators are on loopback)."""
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()
