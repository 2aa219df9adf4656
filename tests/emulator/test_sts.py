"""sts/v1 token exchange and Bearer access tokens: a provider's JWT checked (signature against its
JWKS, issuer, times, audience, identity claim, the pool's filter) and exchanged for a token the
other APIs take; the filter language; no token in any log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccloud_emulator import Emulator
from ccloud_emulator.__main__ import main
from ccloud_emulator.pool_filter import FilterError, parse_filter
from ccloud_testenv.idp import ISSUER, JWKS_URI, FakeIdp, make_tls, serve_jwks

from .conftest import Clock

STS = "/sts/v1/oauth2/token"
PROVIDERS = "/iam/v2/identity-providers"
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT = "urn:ietf:params:oauth:token-type:jwt"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
FILTER = "claims['kubernetes.io'].namespace == 'prod' && 'confluent' in claims.aud"


@pytest.fixture
def idp(clock: Clock) -> FakeIdp:
    return FakeIdp(clock)


@pytest.fixture
def emu(clock: Clock, idp: FakeIdp) -> Emulator:
    # the conftest's `client` is built on this emulator: its JWKS come from the in-process provider
    return Emulator(clock=clock, jwks_transport=idp.transport)


async def federate(
    client: httpx.AsyncClient,
    *,
    filter: str = FILTER,
    claim: str = "claims.sub",
    issuer: str = ISSUER,
    jwks_uri: str = JWKS_URI,
    name: str = "kubernetes",
) -> tuple[str, str]:
    """An identity provider and one pool in it: (provider ID, pool ID)."""
    provider = await client.post(
        PROVIDERS, json={"display_name": name, "description": "", "issuer": issuer, "jwks_uri": jwks_uri}
    )
    assert provider.status_code == 201, provider.text
    op = provider.json()["id"]
    pool = await client.post(
        f"{PROVIDERS}/{op}/identity-pools",
        json={"display_name": "orders", "description": "", "identity_claim": claim, "filter": filter},
    )
    assert pool.status_code == 201, pool.text
    return op, pool.json()["id"]


def form(pool: str, token: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": GRANT,
        "subject_token": token,
        "identity_pool_id": pool,
        "subject_token_type": JWT,
        "requested_token_type": ACCESS,
        **extra,
    }


async def exchange(client: httpx.AsyncClient, pool: str, token: str, **extra: str) -> httpx.Response:
    return await client.post(STS, data=form(pool, token, **extra), auth=None)


def bearer(token: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {token}"}, "auth": None}


def refusal(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    return error["code"], error["detail"]


async def test_a_jwt_is_exchanged_for_a_token_that_lists_service_accounts(
    client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp
) -> None:
    sa = (await client.post("/iam/v2/service-accounts", json={"display_name": "orders"})).json()["id"]
    _, pool = await federate(client)

    answer = await exchange(client, pool, idp.token())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in"}
    assert (body["issued_token_type"], body["token_type"], body["expires_in"]) == (ACCESS, "Bearer", 900)
    assert answer.headers["cache-control"] == "no-store"

    listed = await client.get("/iam/v2/service-accounts", **bearer(body["access_token"]))
    assert listed.status_code == 200, listed.text
    assert [s["id"] for s in listed.json()["data"]] == [sa]
    connectors = f"/connect/v1/environments/{emu.environment_id}/clusters/{emu.kafka_cluster_id}/connectors"
    assert (await client.get(connectors, **bearer(body["access_token"]))).status_code == 200

    # the request log shows the pool, never the token; the exchange is counted once
    record = emu.calls("GET", "/iam/v2/service-accounts")[-1]
    assert (record.identity, record.api_key) == (pool, None)
    (done,) = emu.token_exchanges(pool)
    assert (done.issued, done.subject) == (True, "system:serviceaccount:prod:orders")
    assert emu.access_tokens(pool) == 1
    assert idp.fetches == 1


async def test_the_jwks_is_fetched_from_a_real_server_and_cached(clock: Clock, idp: FakeIdp, make_client: Any) -> None:
    emu = Emulator(clock=clock)
    with serve_jwks(idp) as url:
        async with make_client(emu) as client:
            _, pool = await federate(client, jwks_uri=f"{url}/keys")
            for _ in range(3):
                assert (await exchange(client, pool, idp.token())).status_code == 200
            # a key of the same set, another kid, needs no fetch either
            assert (await exchange(client, pool, idp.token(kid="ec-1"))).status_code == 200
    assert idp.fetches == 1


async def test_https_jwks_needs_the_trusted_ca(clock: Clock, idp: FakeIdp, make_client: Any, tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    with serve_jwks(idp, tls) as url:
        trusting = Emulator(clock=clock, trusted_ca=tls.ca)
        async with make_client(trusting) as client:
            _, pool = await federate(client, jwks_uri=f"{url}/keys")
            assert (await exchange(client, pool, idp.token())).status_code == 200
        stranger = Emulator(clock=clock)
        async with make_client(stranger) as client:
            _, pool = await federate(client, jwks_uri=f"{url}/keys")
            code, detail = refusal(await exchange(client, pool, idp.token()))
    assert code == "invalid_grant"
    assert "could not be fetched" in detail
    assert "CERTIFICATE_VERIFY_FAILED" in detail


def test_serve_refuses_an_unreadable_trusted_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.pem"
    assert main(["serve", "--port", "0", "--trusted-ca", str(missing)]) == 1
    assert "--trusted-ca" in capsys.readouterr().err
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    assert main(["serve", "--port", "0", "--trusted-ca", str(garbage)]) == 1
    assert "--trusted-ca" in capsys.readouterr().err


@pytest.mark.parametrize("kid", ["ec-1", "ec-384"], ids=["ES256", "ES384"])
async def test_ec_signatures_verify(client: httpx.AsyncClient, idp: FakeIdp, kid: str) -> None:
    idp.published = ["rsa-1", kid]
    _, pool = await federate(client)
    assert (await exchange(client, pool, idp.token(kid=kid))).status_code == 200


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS512"])
async def test_rsa_variants_verify_with_a_key_that_names_no_alg(
    client: httpx.AsyncClient, idp: FakeIdp, alg: str
) -> None:
    # a JWK without "alg" fits every RSA algorithm
    idp.published, idp.with_alg = ["rsa-1"], False
    _, pool = await federate(client)
    assert (await exchange(client, pool, idp.token(alg=alg))).status_code == 200


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda idp: idp.token(key="rsa-2"), "signature does not verify with key 'rsa-1'"),
        (lambda idp: idp.token(kid="rsa-2"), "kid 'rsa-2' is not in the JWKS"),
        (lambda idp: idp.token(kid=None, key="rsa-2"), "does not verify with any key"),
        (lambda idp: idp.token(kid="ec-1", key="rsa-1"), "is for ES256, not RS256"),
        (lambda idp: idp.token(iss="https://elsewhere.test"), "issuer 'https://elsewhere.test' is not"),
        (lambda idp: idp.token(iss=None), "no iss claim"),
        (lambda idp: idp.token(exp=int(idp.now()) - 31), "expired at"),
        (lambda idp: idp.token(exp=None), "no exp claim"),
        (lambda idp: idp.token(exp="tomorrow"), "exp claim is not a number"),
        (lambda idp: idp.token(nbf=1e400), "nbf claim is not a number"),
        (lambda idp: idp.token(nbf=int(idp.now()) + 120), "not valid before"),
        (lambda idp: idp.token(iat=int(idp.now()) + 120), "issued in the future"),
        (lambda idp: idp.token(aud=None), "no aud claim"),
        (lambda idp: idp.token(aud=[]), "aud claim is not a string or a list"),
        (lambda idp: idp.token(sub=None), "no claims.sub claim, the identity claim"),
        (lambda idp: idp.token(aud=["kafka"]), "does not match the filter"),
        (lambda idp: idp.token(**{"kubernetes.io": None}), 'no claim claims["kubernetes.io"]'),
        (lambda idp: "not-a-jwt", "not a JWT"),
        (lambda idp: "a.b.c.d.e", "encrypted JWT"),
        (lambda idp: idp.token().rsplit(".", 1)[0] + ".", "no signature"),
        (lambda idp: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "not signed (alg none)"),
        (lambda idp: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "HS256 is not supported"),
        (lambda idp: "!!!.eyJzdWIiOiJ4In0.c2ln", "header is not base64url"),
    ],
    ids=[
        "signed by another key under the same kid",
        "unknown kid",
        "no kid, no key verifies",
        "kid of a key for another algorithm",
        "wrong issuer",
        "no issuer",
        "expired past the leeway",
        "no exp",
        "exp not a number",
        "nbf infinite",
        "not yet valid",
        "issued in the future",
        "no aud",
        "empty aud",
        "no identity claim",
        "filter not matched",
        "filter claim missing",
        "not a JWT",
        "a JWE",
        "no signature",
        "alg none",
        "shared-secret algorithm",
        "garbage header",
    ],
)
async def test_a_bad_subject_token_is_an_invalid_grant_that_says_why(
    client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp, make: Any, phrase: str
) -> None:
    _, pool = await federate(client)
    token = make(idp)
    code, detail = refusal(await exchange(client, pool, token))
    assert code == "invalid_grant"
    assert phrase in detail
    quoted = token in detail
    assert not quoted, "the error detail quotes the subject token"
    (refused,) = emu.token_exchanges(pool)
    assert (refused.issued, refused.reason) == (False, detail)
    assert emu.access_tokens() == 0


async def test_clock_skew_within_the_leeway_is_forgiven(client: httpx.AsyncClient, idp: FakeIdp) -> None:
    _, pool = await federate(client)
    now = int(idp.now())
    skewed = idp.token(exp=now - 20, iat=now + 20, nbf=now + 20)
    assert (await exchange(client, pool, skewed)).status_code == 200


@pytest.mark.parametrize(
    ("change", "code", "phrase"),
    [
        ({"grant_type": ""}, "invalid_request", "'grant_type' is required"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", "use urn:ietf:params:oauth:grant-type"),
        ({"subject_token": ""}, "invalid_request", "'subject_token' is required"),
        ({"subject_token_type": ACCESS}, "invalid_request", "subject_token_type"),
        ({"requested_token_type": JWT}, "invalid_request", "requested_token_type"),
        ({"identity_pool_id": ""}, "invalid_request", "'identity_pool_id' is required"),
        ({"identity_pool_id": "pool-nope"}, "invalid_request", "Identity pool 'pool-nope' not found"),
        ({"expires_in": "901"}, "invalid_request", "from 1 to 900"),
        ({"expires_in": "0"}, "invalid_request", "from 1 to 900"),
        ({"expires_in": "ten"}, "invalid_request", "from 1 to 900"),
    ],
    ids=[
        "no grant type",
        "another grant type",
        "no subject token",
        "subject token not a JWT type",
        "asks for a JWT back",
        "no pool",
        "unknown pool",
        "expires_in over the spec's maximum",
        "expires_in zero",
        "expires_in not a number",
    ],
)
async def test_a_bad_request_is_an_invalid_request(
    client: httpx.AsyncClient, idp: FakeIdp, change: dict[str, str], code: str, phrase: str
) -> None:
    _, pool = await federate(client)
    body = {**form(pool, idp.token()), **change}
    got_code, detail = refusal(await client.post(STS, data=body, auth=None))
    assert got_code == code
    assert phrase in detail


async def test_the_request_must_be_a_form_in_the_body(client: httpx.AsyncClient, idp: FakeIdp) -> None:
    _, pool = await federate(client)
    token = idp.token()
    as_json = await client.post(STS, json=form(pool, token), auth=None)
    assert refusal(as_json) == (
        "invalid_request",
        "The token request must be an application/x-www-form-urlencoded body",
    )
    in_url = await client.post(STS, params=form(pool, token), data={"x": "y"}, auth=None)
    assert refusal(in_url)[1] == "The token request's parameters go in the body, not in the URL"
    twice = await client.post(
        STS, content=httpx.QueryParams([*form(pool, token).items(), ("grant_type", GRANT)]).__str__(),
        headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=None,
    )  # fmt: skip
    assert refusal(twice)[1] == "'grant_type' is given more than once"


async def test_expires_in_sets_the_lifetime_and_an_expired_token_is_a_401(
    client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp, clock: Clock
) -> None:
    _, pool = await federate(client)
    answer = await exchange(client, pool, idp.token(), expires_in="60")
    assert answer.json()["expires_in"] == 60
    token = answer.json()["access_token"]
    clock.advance(59)
    assert (await client.get("/org/v2/environments", **bearer(token))).status_code == 200
    clock.advance(1)
    expired = await client.get("/org/v2/environments", **bearer(token))
    bad_key = await client.get("/org/v2/environments", auth=("NOTAKEY000000000", "nope"))
    assert expired.status_code == bad_key.status_code == 401
    strip = [{k: v for k, v in e.items() if k != "id"} for e in expired.json()["errors"]]
    assert strip == [{k: v for k, v in e.items() if k != "id"} for e in bad_key.json()["errors"]]
    assert expired.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_expire_access_tokens_revokes_at_once(client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp) -> None:
    _, pool = await federate(client)
    token = (await exchange(client, pool, idp.token())).json()["access_token"]
    assert emu.expire_access_tokens(pool) == 1
    assert emu.access_tokens(pool) == 0
    assert (await client.get("/iam/v2/service-accounts", **bearer(token))).status_code == 401
    # the admin route does the same
    again = (await exchange(client, pool, idp.token())).json()["access_token"]
    expired = await client.post("/_emulator/access-tokens/expire", json={"pool_id": pool})
    assert expired.json() == {"expired": 1}
    assert (await client.get("/iam/v2/service-accounts", **bearer(again))).status_code == 401


async def test_an_unknown_token_and_kafka_rest_are_401(client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp) -> None:
    _, pool = await federate(client)
    token = (await exchange(client, pool, idp.token())).json()["access_token"]
    assert (await client.get("/iam/v2/service-accounts", **bearer(token + "x"))).status_code == 401
    topics = f"/kafka/v3/clusters/{emu.kafka_cluster_id}/topics"
    refused = await client.get(topics, **bearer(token))
    assert refused.status_code == 401
    assert refused.json()["error_code"] == 40101


async def test_deleting_the_pool_or_provider_revokes_its_tokens(
    client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp
) -> None:
    op, pool = await federate(client)
    token = (await exchange(client, pool, idp.token())).json()["access_token"]
    assert (await client.delete(f"{PROVIDERS}/{op}/identity-pools/{pool}")).status_code == 204
    assert (await client.get("/iam/v2/service-accounts", **bearer(token))).status_code == 401
    assert refusal(await exchange(client, pool, idp.token()))[0] == "invalid_request"

    created = await client.post(
        f"{PROVIDERS}/{op}/identity-pools",
        json={"display_name": "second", "description": "", "identity_claim": "claims.sub", "filter": "true"},
    )
    token = (await exchange(client, created.json()["id"], idp.token())).json()["access_token"]
    assert (await client.delete(f"{PROVIDERS}/{op}")).status_code == 204
    assert (await client.get("/iam/v2/service-accounts", **bearer(token))).status_code == 401
    assert emu.access_tokens() == 0


async def test_a_rotated_key_is_found_by_one_refetch_and_unknown_kids_are_throttled(
    client: httpx.AsyncClient, idp: FakeIdp, clock: Clock
) -> None:
    _, pool = await federate(client)
    assert (await exchange(client, pool, idp.token(kid="rsa-1"))).status_code == 200
    assert idp.fetches == 1

    idp.published = ["rsa-2"]  # the provider rotates its key
    assert (await exchange(client, pool, idp.token(kid="rsa-2"))).status_code == 200
    assert idp.fetches == 2

    # a made-up kid right after is refused without a fetch: at most one per 5 seconds
    code, detail = refusal(await exchange(client, pool, idp.token(kid="made-up", key="rsa-2")))
    assert (code, idp.fetches) == ("invalid_grant", 2)
    assert "at most every 5 seconds" in detail
    for _ in range(3):
        refusal(await exchange(client, pool, idp.token(kid="made-up", key="rsa-2")))
    assert idp.fetches == 2
    clock.advance(5)
    refusal(await exchange(client, pool, idp.token(kid="made-up", key="rsa-2")))
    assert idp.fetches == 3
    # the retired key is gone from the set
    assert "kid 'rsa-1' is not in the JWKS" in refusal(await exchange(client, pool, idp.token(kid="rsa-1")))[1]


async def test_an_unreachable_jwks_is_an_invalid_grant_and_old_keys_stay(
    client: httpx.AsyncClient, idp: FakeIdp, clock: Clock
) -> None:
    _, pool = await federate(client)
    idp.status = 503
    code, detail = refusal(await exchange(client, pool, idp.token()))
    assert (code, "could not be fetched" in detail, "HTTP 503" in detail) == ("invalid_grant", True, True)
    idp.status = 200
    assert (await exchange(client, pool, idp.token())).status_code == 200
    idp.status = 503
    clock.advance(10)
    # keys fetched before stay in use while the provider is down
    assert (await exchange(client, pool, idp.token())).status_code == 200
    assert "fetching it again failed" in refusal(await exchange(client, pool, idp.token(kid="rsa-2")))[1]


async def test_the_identity_claim_may_be_nested(client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp) -> None:
    _, pool = await federate(client, claim="claims['kubernetes.io'].serviceaccount.name", filter="true")
    assert (await exchange(client, pool, idp.token())).status_code == 200
    assert emu.token_exchanges(pool, issued=True)[0].subject == "orders"


@pytest.mark.parametrize(
    ("condition", "matched"),
    [
        ('claims.sub == "system:serviceaccount:prod:orders"', True),
        ("claims.sub != 'system:serviceaccount:prod:orders'", False),
        ('claims.sub.startsWith("system:serviceaccount:prod:")', True),
        ('claims.sub.startsWith("system:serviceaccount:dev:")', False),
        ('"confluent" in claims.aud', True),
        ('"kafka" in claims.aud', False),
        ("has(claims.email) || claims['kubernetes.io'].namespace == 'prod'", True),
        ("!(claims['kubernetes.io'].namespace == 'prod')", False),
        ('claims["kubernetes.io"]["serviceaccount"]["name"] == "orders" && true', True),
    ],
    ids=["==", "!=", "startsWith", "startsWith no", "in", "in no", "has ||", "! ()", "index && true"],
)
async def test_the_pool_filter_decides_the_exchange(
    client: httpx.AsyncClient, idp: FakeIdp, condition: str, matched: bool
) -> None:
    _, pool = await federate(client, filter=condition)
    answer = await exchange(client, pool, idp.token())
    assert answer.status_code == (200 if matched else 400), answer.text


CLAIMS: dict[str, Any] = {
    "sub": "system:serviceaccount:prod:orders",
    "aud": "confluent",
    "groups": ["eng", "ops"],
    "email_verified": True,
    "n": 3,
    "kubernetes.io": {"namespace": "prod"},
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('claims.sub == "system:serviceaccount:prod:orders"', True),
        ("claims.sub == 'other'", False),
        ('claims.sub != "other"', True),
        ("claims.email_verified == true", True),
        ("claims.email_verified", True),
        ("!claims.email_verified", False),
        ("claims.n == 3", True),
        ('claims.n == "3"', False),
        ("claims.email_verified == 1", False),
        ('"confluent" in claims.aud', True),
        ('"eng" in claims.groups', True),
        ('"dev" in claims.groups', False),
        ('claims.sub in ["a", "system:serviceaccount:prod:orders"]', True),
        ('claims.sub.startsWith("system:")', True),
        ('claims.sub.endsWith(":orders")', True),
        ('claims.sub.contains(":prod:")', True),
        ("has(claims.sub)", True),
        ("has(claims.email)", False),
        ("has(claims['kubernetes.io'].namespace)", True),
        ("has(claims.sub.namespace)", False),
        ("claims['kubernetes.io'].namespace == 'prod'", True),
        ('claims.a == "x" && claims.sub == "y"', False),
        ('claims.missing == "x" && false', False),
        ('claims.missing == "x" || true', True),
        ("true && (false || claims.n == 3)", True),
        ("!has(claims.email) && !(claims.n != 3)", True),
        ("!claims.email_verified == false", True),
        ('"it\'s" == "it\\\'s"', True),
    ],
    ids=lambda v: str(v),
)
def test_each_filter_operator(condition: str, expected: bool) -> None:
    assert parse_filter(condition).evaluate(CLAIMS).matched is expected


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ('claims.missing == "x"', "the token has no claim claims.missing"),
        ('claims.groups.startsWith("e")', "startsWith() needs a string, and claims.groups is a list"),
        ('"x" in claims.n', "'in' needs a list, and claims.n is a number"),
        ("claims.sub", "claims.sub is a string, not a boolean"),
        ('claims.sub == "x"', "the token's claims do not satisfy it"),
    ],
    ids=["missing claim", "method on a list", "in on a number", "not a boolean", "plain false"],
)
def test_a_filter_that_does_not_match_says_why(condition: str, reason: str) -> None:
    outcome = parse_filter(condition).evaluate(CLAIMS)
    assert (outcome.matched, outcome.reason) == (False, reason)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('claims.aud = "x"', "'=' at character 12: compare with '=='"),
        ('claims.a == "x', "the string starting at character 13 is not closed"),
        ('"x"', "the filter must be a condition, not the value 'x'"),
        ('claims.a == "x" &&', "expected a condition or a value at character 19, found the end"),
        ('(claims.a == "x"', "expected ')' to close '(' at character 17, found the end"),
        ("claims.a < 3", "'<' at character 10 is not supported in an identity pool filter"),
        ('claims.a.matches("x")', "expected a method: startsWith, endsWith, contains at character 10"),
        ('claims == "x"', "'claims' at character 1 needs a claim name"),
        ('user.name == "x"', "expected a claim (claims.…)"),
        ('claims.a == "x" "y"', "expected '&&', '||' or the end at character 17"),
        ("claims.a & claims.b", "'&' at character 10: write '&&'"),
        ("   ", "the filter is empty"),
        ('"x" in 3', "'in' needs a list or a claim, not the value 3"),
        ("claims[0] == 'x'", "expected a quoted claim name in '[…]'"),
        ('"\\d"', "unknown escape '\\d'"),
        ("(" * 40 + "true" + ")" * 40, "the filter nests more than 32 deep"),
        ("!" * 200 + "true", "the filter nests more than 32 deep"),
    ],
    ids=[
        "single =",
        "unclosed string",
        "a bare value",
        "dangling &&",
        "unclosed parenthesis",
        "an unsupported operator",
        "an unknown method",
        "claims alone",
        "not claims",
        "two values",
        "single &",
        "blank",
        "in a number",
        "numeric index",
        "unknown escape",
        "parentheses too deep",
        "negations too deep",
    ],
)
def test_an_unparsable_filter_names_the_problem(condition: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(condition)
    assert message in str(caught.value)


async def test_a_bearer_caller_has_its_own_rate_limit_bucket(
    client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp
) -> None:
    _, pool = await federate(client)
    token = (await exchange(client, pool, idp.token())).json()["access_token"]
    emu.set_rate_limit(rate=0.001, burst=1)
    assert (await client.get("/iam/v2/service-accounts", **bearer(token))).status_code == 200
    limited = await client.get("/iam/v2/service-accounts", **bearer(token))
    assert limited.status_code == 429
    # the Cloud API key has a bucket of its own, and the STS is not limited at all
    assert (await client.get("/iam/v2/service-accounts")).status_code == 200
    for _ in range(3):
        assert (await exchange(client, pool, idp.token())).status_code == 200


async def test_the_sts_takes_no_credentials(client: httpx.AsyncClient, idp: FakeIdp) -> None:
    _, pool = await federate(client)
    # whatever Authorization a client sends along is not looked at
    sent = await client.post(STS, data=form(pool, idp.token()), auth=("NOTAKEY000000000", "nope"))
    assert sent.status_code == 200


async def test_no_token_reaches_a_log_or_the_request_log(
    client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, pool = await federate(client)
    subject = idp.token()
    access = (await exchange(client, pool, subject)).json()["access_token"]
    await client.get("/iam/v2/service-accounts", **bearer(access))
    refused_subject = idp.token(aud=["kafka"])
    refused = await exchange(client, pool, refused_subject)
    assert refused.status_code == 400
    emu.expire_access_tokens()
    await client.get("/iam/v2/service-accounts", **bearer(access))

    admin_requests = (await client.get("/_emulator/requests")).text
    admin_exchanges = (await client.get("/_emulator/token-exchanges")).json()
    assert [e["issued"] for e in admin_exchanges] == [True, False]
    seen = "\n".join(
        [caplog.text, repr(emu.requests), repr(emu.token_exchanges()), admin_requests, json.dumps(admin_exchanges),
         refused.text, json.dumps(emu.core.state.to_json())]
    )  # fmt: skip
    secrets = (subject, refused_subject, access, subject.split(".")[1], subject.split(".")[2])
    # indexes only: a failure here must not print what leaked
    leaked = [i for i, secret in enumerate(secrets) if secret in seen]
    assert leaked == []
    # the exchanges were logged: by pool, with the reason of the refusal
    assert f"token exchange for identity pool {pool}" in caplog.text
    assert "does not match the filter" in caplog.text


async def test_tokens_survive_a_restart_with_the_state_file(
    clock: Clock, idp: FakeIdp, make_client: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    first = Emulator(clock=clock, jwks_transport=idp.transport, state_file=state)
    async with make_client(first) as client:
        _, pool = await federate(client)
        token = (await exchange(client, pool, idp.token())).json()["access_token"]
    stored = token in state.read_text()
    assert not stored, "the access token is in the state file"
    second = Emulator(clock=clock, jwks_transport=idp.transport, state_file=state)
    async with make_client(second) as client:
        assert (await client.get("/iam/v2/service-accounts", **bearer(token))).status_code == 200
        assert (await exchange(client, pool, idp.token())).status_code == 200


async def test_reset_forgets_pools_tokens_and_exchanges(client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp) -> None:
    _, pool = await federate(client)
    token = (await exchange(client, pool, idp.token())).json()["access_token"]
    emu.reset()
    assert emu.token_exchanges() == []
    assert (await client.get("/iam/v2/service-accounts", **bearer(token))).status_code == 401
    assert (await client.get(PROVIDERS)).json()["data"] == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["claims", ".", "sub", "aud", "[", "]", "'kubernetes.io'", '"x"', "(", ")", "!", "==", "!=", "&&",
             "||", "in", "has", "true", "3", ",", "startsWith", "=", "<", " ", '"', "\\"]
        ),
        max_size=14,
    ).map("".join)
    | st.text(max_size=40)
)  # fmt: skip
def test_any_text_parses_or_is_a_filter_error_and_evaluation_never_raises(text: str) -> None:
    try:
        parsed = parse_filter(text)
    except FilterError:
        return
    assert isinstance(parsed.evaluate(CLAIMS).matched, bool)
