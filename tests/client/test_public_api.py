"""The package's public surface is exactly its `__all__` (as httpx checks its own)."""

from __future__ import annotations

import types

import ccloud_operator.confluent as confluent
from ccloud_operator.confluent import ApiKey, ConfluentClient, Credentials, RetryPolicy


def test_all_lists_every_public_name_and_nothing_else() -> None:
    public = {
        name
        for name, value in vars(confluent).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(confluent.__all__) == public


def test_the_documented_interface_is_importable() -> None:
    documented = [
        "ConfluentClient",
        "Credentials",
        "RateGovernor",
        "RetryPolicy",
        "ConfluentError",
        "TransportError",
        "ApiError",
        "NotFound",
        "Conflict",
        "RateLimited",
        "Unauthorized",
        "Forbidden",
        "QuotaExceeded",
        "ValidationFailed",
        "ServerError",
    ]
    assert set(documented) <= set(confluent.__all__)


def test_credentials_never_show_the_secret() -> None:
    credentials = Credentials(key="ABCDEFGHIJKLMNOP", secret="top-secret-value-0123456789")
    assert "top-secret-value" not in repr(credentials)
    assert str(credentials) == "ABCDEFGHIJKLMNOP"
    client = ConfluentClient(credentials, retry=RetryPolicy())
    assert "top-secret-value" not in repr(client)


def test_an_api_key_never_shows_its_secret() -> None:
    key = ApiKey.model_validate({"id": "K1", "spec": {"secret": "the-secret-of-a-fresh-key-0123"}})
    assert key.secret is not None and key.secret.get_secret_value() == "the-secret-of-a-fresh-key-0123"
    assert "the-secret-of-a-fresh-key" not in repr(key)
    assert "the-secret-of-a-fresh-key" not in str(key.payload())
