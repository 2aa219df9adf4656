"""Workload identity in the client: an identity provider's JWT exchanged at the emulator's STS for
Bearer tokens, one exchange per pool however many requests wait for it, refreshed before it expires,
retried once with a new token on a 401, a refusal that names the pool and why, and no token anywhere
in a log or an exception."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from ccloud_emulator import Emulator
from ccloud_operator.confluent import ConfluentClient, NotFound, RateGovernor, Unauthorized
from ccloud_operator.confluent.sts import FAILURE_MEMORY, TokenExchangeFailed, WorkloadIdentity
from ccloud_operator.reconcile.outcome import Retry, classify
from ccloud_testenv.idp import ISSUER, JWKS_URI, FakeIdp

from .conftest import EMULATOR_URL, Trap, fast_retry

SUBJECT = "system:serviceaccount:prod:orders"


class Tokens:
    """The subject tokens the identity is handed: counted, and each one remembered as a secret."""

    def __init__(self, idp: FakeIdp, remember: Callable[[str], str], **claims: Any) -> None:
        self.idp, self.remember, self.claims, self.count = idp, remember, claims, 0

    async def __call__(self) -> str:
        self.count += 1
        await asyncio.sleep(0.01)  # as a TokenRequest takes a while: other callers come meanwhile
        return self.remember(self.idp.token(**self.claims))


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def idp() -> FakeIdp:
    return FakeIdp(time.time)


@pytest.fixture
def emu(idp: FakeIdp, remember: Callable[[str], str]) -> Emulator:
    emu = Emulator(jwks_transport=idp.transport)
    remember(emu.api_secret)
    return emu


async def federate(emu: Emulator, filter_: str = f'claims.sub == "{SUBJECT}" && "confluent" in claims.aud') -> str:
    """The platform team's set-up, with the emulator's API key: a provider and a pool in it."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.app), base_url=EMULATOR_URL, auth=(emu.api_key, emu.api_secret)
    ) as admin:
        made = await admin.post(
            "/iam/v2/identity-providers",
            json={"display_name": "k8s", "description": "", "issuer": ISSUER, "jwks_uri": JWKS_URI},
        )
        made.raise_for_status()
        pool = await admin.post(
            f"/iam/v2/identity-providers/{made.json()['id']}/identity-pools",
            json={"display_name": "orders", "description": "", "identity_claim": "claims.sub", "filter": filter_},
        )
        pool.raise_for_status()
        return str(pool.json()["id"])


def identity_for(
    emu: Emulator, pool: str, tokens: Tokens, clock: Callable[[], float] = time.monotonic
) -> WorkloadIdentity:
    return WorkloadIdentity(
        pool,
        tokens,
        base_url=EMULATOR_URL,
        transport=httpx.ASGITransport(app=emu.app),
        retry=fast_retry(),
        clock=clock,
    )


@pytest.fixture
async def client_of(emu: Emulator) -> AsyncIterator[Callable[[WorkloadIdentity], ConfluentClient]]:
    made: list[ConfluentClient] = []

    def make(identity: WorkloadIdentity) -> ConfluentClient:
        client = ConfluentClient(
            identity,
            base_url=EMULATOR_URL,
            transport=httpx.ASGITransport(app=emu.app),
            retry=fast_retry(),
            governor=RateGovernor(),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


async def test_many_requests_at_once_share_one_exchange_and_call_as_the_pool(
    emu: Emulator, idp: FakeIdp, remember: Callable[[str], str], client_of: Any
) -> None:
    pool = await federate(emu)
    tokens = Tokens(idp, remember)
    identity = identity_for(emu, pool, tokens)
    client = client_of(identity)
    emu.clear_requests()
    # Twenty callers at once, none holding a token yet: one exchange, the same token for all.
    assert len(set(await asyncio.gather(*(identity.token() for _ in range(20))))) == 1
    await asyncio.gather(*(client.service_accounts.list() for _ in range(20)))
    assert identity.exchanges == 1 and tokens.count == 1
    [exchange] = emu.token_exchanges(pool)
    assert exchange.issued and exchange.subject == SUBJECT
    calls = [r for r in emu.requests if r.path == "/iam/v2/service-accounts"]
    assert len(calls) == 20 and {r.identity for r in calls} == {pool} and {r.api_key for r in calls} == {None}
    assert str(identity) == pool and pool in repr(identity) and "token" not in repr(identity).lower()


async def test_the_token_is_exchanged_again_before_it_expires_and_not_sooner(
    emu: Emulator, idp: FakeIdp, remember: Callable[[str], str], client_of: Any
) -> None:
    pool = await federate(emu)
    clock = Clock()
    identity = identity_for(emu, pool, Tokens(idp, remember), clock)
    client = client_of(identity)
    await client.service_accounts.list()
    clock.now += 0.7 * identity.lifetime  # still in its first three quarters: kept
    await client.service_accounts.list()
    assert identity.exchanges == 1
    clock.now += 0.1 * identity.lifetime  # past three quarters, before it expires: a new one
    await client.service_accounts.list()
    assert identity.exchanges == 2
    assert len(emu.token_exchanges(pool, issued=True)) == 2


async def test_a_token_refused_before_its_time_is_replaced_once_and_the_request_sent_again(
    emu: Emulator, idp: FakeIdp, remember: Callable[[str], str], client_of: Any
) -> None:
    pool = await federate(emu)
    identity = identity_for(emu, pool, Tokens(idp, remember))
    client = client_of(identity)
    await client.service_accounts.list()
    assert emu.expire_access_tokens(pool) == 1  # revoked, or the clocks disagree
    emu.clear_requests()
    await client.service_accounts.list()
    statuses = [r.status for r in emu.requests if r.path == "/iam/v2/service-accounts"]
    assert statuses == [401, 200]
    assert identity.exchanges == 2


async def test_a_refused_exchange_names_the_pool_and_why_and_is_remembered_briefly(
    emu: Emulator, idp: FakeIdp, remember: Callable[[str], str], client_of: Any
) -> None:
    pool = await federate(emu, filter_='claims.sub == "system:serviceaccount:prod:someone-else"')
    clock = Clock()
    identity = identity_for(emu, pool, Tokens(idp, remember), clock)
    client = client_of(identity)
    with pytest.raises(TokenExchangeFailed) as refused:
        await client.service_accounts.list()
    assert refused.value.pool == pool and not refused.value.transient
    assert pool in str(refused.value) and "filter" in str(refused.value)
    outcome = classify(refused.value, 1, fast_retry(), cap=300)
    assert isinstance(outcome, Retry) and outcome.reason == "WorkloadIdentityRefused" and outcome.after >= 5
    # A thousand resources on this pool within the memory cost no further exchange...
    for _ in range(5):
        with pytest.raises(TokenExchangeFailed):
            await client.service_accounts.list()
    assert identity.exchanges == 1 and len(emu.token_exchanges(pool, issued=False)) == 1
    clock.now += FAILURE_MEMORY + 0.1  # ...and after it, one more
    with pytest.raises(TokenExchangeFailed):
        await client.service_accounts.list()
    assert identity.exchanges == 2


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 1200, "nbf": int(time.time()) - 1200}, "expired"),
        ({"iss": "https://someone-else.test"}, "issuer"),
        ({"aud": ["not-confluent"]}, "filter"),
    ],
    ids=["expired", "wrong-issuer", "wrong-audience"],
)
async def test_an_unacceptable_subject_token_is_refused_with_the_reason(
    emu: Emulator, idp: FakeIdp, remember: Callable[[str], str], client_of: Any, claims: dict[str, Any], why: str
) -> None:
    pool = await federate(emu)
    client = client_of(identity_for(emu, pool, Tokens(idp, remember, **claims)))
    with pytest.raises(TokenExchangeFailed) as refused:
        await client.service_accounts.list()
    assert why in str(refused.value).lower()
    assert not emu.token_exchanges(pool, issued=True)


class Heard:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def requested(self, operation: str, status: str, seconds: float) -> None:
        self.requests.append((operation, status))

    def waited(self, seconds: float) -> None:
        pass


async def test_exchanges_are_heard_by_the_metrics_observer(
    emu: Emulator, idp: FakeIdp, remember: Callable[[str], str]
) -> None:
    pool = await federate(emu)
    emu.fail("POST", "/sts/v1/oauth2/token", status=503, count=1)
    heard = Heard()
    identity = WorkloadIdentity(
        pool,
        Tokens(idp, remember),
        base_url=EMULATOR_URL,
        transport=httpx.ASGITransport(app=emu.app),
        retry=fast_retry(),
        observer=heard,
    )
    await identity.token()
    assert heard.requests == [("POST /sts/v1/oauth2/token", "503"), ("POST /sts/v1/oauth2/token", "200")]


async def test_an_sts_outage_is_retried_and_then_transient(
    emu: Emulator, idp: FakeIdp, remember: Callable[[str], str], client_of: Any
) -> None:
    pool = await federate(emu)
    emu.fail("POST", "/sts/v1/oauth2/token", status=503, count=2)
    identity = identity_for(emu, pool, Tokens(idp, remember))
    await client_of(identity).service_accounts.list()
    assert identity.exchanges == 3  # two 503s, then the token

    emu.fail("POST", "/sts/v1/oauth2/token", status=503)
    down = identity_for(emu, pool, Tokens(idp, remember))
    with pytest.raises(TokenExchangeFailed) as failed:
        await client_of(down).service_accounts.list()
    assert failed.value.transient and down.exchanges == fast_retry().max_attempts
    assert classify(failed.value, 1, fast_retry(), cap=300).reason == "ConfluentUnavailable"


async def test_a_subject_token_source_that_fails_is_a_refusal_naming_the_pool(emu: Emulator, client_of: Any) -> None:
    async def broken() -> str:
        raise FileNotFoundError("/var/run/secrets/ccloud.operators.dev/workload-identity/token")

    identity = WorkloadIdentity("pool-abc1", broken, base_url=EMULATOR_URL, transport=httpx.ASGITransport(app=emu.app))
    with pytest.raises(TokenExchangeFailed, match=r"pool-abc1 failed: no token to exchange: FileNotFoundError"):
        await client_of(identity).service_accounts.list()
    assert not emu.token_exchanges()


async def test_no_token_reaches_an_exception_or_a_log(
    emu: Emulator, idp: FakeIdp, remember: Callable[[str], str], client_of: Any, log_trap: Trap
) -> None:
    pool = await federate(emu)
    tokens = Tokens(idp, remember)
    identity = identity_for(emu, pool, tokens)
    client = client_of(identity)
    await client.service_accounts.list()
    access = remember(await identity.token())
    # A Confluent error that quoted the request would be scrubbed of both tokens.
    assert set(identity.secrets()) >= {access}
    with pytest.raises(NotFound) as missing:
        await client.service_accounts.get("sa-nope")
    assert access not in str(missing.value)
    assert not [line for line in log_trap.lines if access in line or "Bearer " in line]


def test_a_refused_access_token_asks_to_check_the_pool_not_an_api_key() -> None:
    refused = Unauthorized(401, "user_unauthenticated", "Invalid token", method="GET", path="/iam/v2/service-accounts")
    by_key = classify(refused, 1, fast_retry(), cap=300, credentials="Secret team-a/creds")
    by_pool = classify(refused, 1, fast_retry(), cap=300, credentials="identity pool pool-ab1", workload_identity=True)
    assert by_key.reason == by_pool.reason == "CredentialsInvalid"
    assert "apiKey and apiSecret" in by_key.message and "apiKey" not in by_pool.message
    assert "access token of identity pool pool-ab1" in by_pool.message
