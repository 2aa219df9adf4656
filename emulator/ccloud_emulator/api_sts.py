"""sts/v1: the OAuth 2.0 token exchange (RFC 8693) of an identity provider's JWT for a Confluent
access token, `POST /sts/v1/oauth2/token`.

The request is an `application/x-www-form-urlencoded` body (nothing in the URL), without Basic
auth: `grant_type` urn:ietf:params:oauth:grant-type:token-exchange, `subject_token` (the JWT),
`subject_token_type` urn:ietf:params:oauth:token-type:jwt, `requested_token_type`
urn:ietf:params:oauth:token-type:access_token, `identity_pool_id`, and `expires_in`, 1 to 900
seconds (the spec's maximum and default, 900). The subject token must be a JWT signed by a key of
the pool's provider's JWKS (`jose`: RS*, PS*, ES*; an unknown `kid` fetches the JWKS again), with
`iss` the provider's issuer, an `exp` not past, `nbf` and `iat` not in the future (30 seconds of
leeway each) and an `aud`; the pool's identity claim must be on it, and the pool's filter must
match its claims (`pool_filter`). Then the answer is 200
`{"access_token", "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
"token_type": "Bearer", "expires_in"}` with `Cache-Control: no-store`, and the access token (an
opaque random string, stored only as its hash) is accepted as `Authorization: Bearer …` on the
other APIs until it expires, for the pool's organisation (the request log shows the pool).

A refusal is 400 in the shape the spec documents for this operation (its `Failure`, `errors[]`,
the one error body it lists), `code` the RFC 6749 §5.2 error: `invalid_request` (a parameter
missing, given twice, malformed or unsupported, the wrong content type, an unknown pool),
`unsupported_grant_type`, or `invalid_grant` (the subject token refused: not a JWT, an unsupported
algorithm, a bad signature, an unknown `kid`, the JWKS unreachable, the wrong issuer, expired, not
yet valid, no `aud`, no identity claim, the filter not matched). `detail` says which, and never
quotes a token. Each exchange is remembered (`Core.exchanges`: pool, issued or why not, the
identity claim's value) and logged on `ccloud_emulator.sts`; neither holds a token.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccloud_emulator.core import Core, TokenExchange
from ccloud_emulator.errors import STS_PATH, ApiError
from ccloud_emulator.jose import JwksCache, JwtError, check_claims, parse_jwt
from ccloud_emulator.pool_filter import FilterError, parse_claim, parse_filter
from ccloud_emulator.rest import json_response

__all__ = ["StsApi"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
# the spec's default and maximum of expires_in
MAX_LIFETIME = 900
MAX_BODY = 128 * 1024
REQUIRED = ("grant_type", "subject_token", "identity_pool_id", "subject_token_type", "requested_token_type")
_TITLES = {
    "invalid_request": "Invalid Request",
    "invalid_grant": "Invalid Grant",
    "unsupported_grant_type": "Unsupported Grant Type",
}

log = logging.getLogger("ccloud_emulator.sts")


def _refused(code: str, detail: str) -> ApiError:
    return ApiError(400, detail, code=code, title=_TITLES[code])


def _shown(value: str, limit: int = 100) -> str:
    """A parameter that is not a secret (a type, a pool ID), as a message shows it."""
    return value if len(value) <= limit else value[:limit] + "…"


async def _form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise _refused("invalid_request", "The token request must be an application/x-www-form-urlencoded body")
    if request.url.query:
        raise _refused("invalid_request", "The token request's parameters go in the body, not in the URL")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise _refused("invalid_request", f"The token request is larger than {MAX_BODY} bytes")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        # the parser's own message would quote the body
        raise _refused("invalid_request", "The token request's body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _refused("invalid_request", f"'{_shown(name, 40)}' is given more than once")
        form[name] = value
    return form


def _lifetime(form: dict[str, str]) -> int:
    raw = form.get("expires_in")
    if raw is None:
        return MAX_LIFETIME
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIFETIME:
        raise _refused("invalid_request", f"'expires_in' must be a whole number of seconds from 1 to {MAX_LIFETIME}")
    return int(raw)


class StsApi:
    def __init__(self, core: Core, jwks: JwksCache) -> None:
        self.core = core
        self.jwks = jwks

    def routes(self) -> list[Route]:
        return [Route(STS_PATH, self.exchange, methods=["POST"])]

    def _remember(self, pool_id: str, issued: bool, reason: str = "", subject: str = "") -> None:
        pool_id = _shown(pool_id, 64)
        self.core.exchanges.append(TokenExchange(self.core.now(), pool_id, issued, reason, subject))
        if issued:
            log.info("token exchange for identity pool %s (identity %s): access token issued", pool_id, _shown(subject))
        else:
            log.info("token exchange for identity pool %s refused: %s", pool_id or "(none)", reason)

    async def exchange(self, request: Request) -> Response:
        pool_id = ""
        try:
            form = await _form(request)
            pool_id = form.get("identity_pool_id", "")
            response, subject = await self._exchange(form)
        except ApiError as error:
            self._remember(pool_id, False, error.detail)
            raise
        self._remember(pool_id, True, subject=subject)
        return response

    async def _exchange(self, form: dict[str, str]) -> tuple[Response, str]:
        for name in REQUIRED:
            if not form.get(name):
                raise _refused("invalid_request", f"'{name}' is required")
        if form["grant_type"] != GRANT_TYPE:
            raise _refused(
                "unsupported_grant_type",
                f"grant_type '{_shown(form['grant_type'])}' is not supported: use {GRANT_TYPE}",
            )
        if form["subject_token_type"] != JWT_TYPE:
            raise _refused(
                "invalid_request",
                f"subject_token_type '{_shown(form['subject_token_type'])}' is not supported: use {JWT_TYPE}",
            )
        if form["requested_token_type"] != ACCESS_TOKEN_TYPE:
            raise _refused(
                "invalid_request",
                f"requested_token_type '{_shown(form['requested_token_type'])}' is not supported: "
                f"use {ACCESS_TOKEN_TYPE}",
            )
        lifetime = _lifetime(form)
        pool_id = form["identity_pool_id"]
        with self.core.lock:
            pool = self.core.state.identity_pools.get(pool_id)
            provider = self.core.state.identity_providers.get(pool.provider_id) if pool is not None else None
            if pool is None or provider is None:
                raise _refused("invalid_request", f"Identity pool '{_shown(pool_id)}' not found")
            provider_id, issuer, jwks_uri = provider.id, provider.issuer, provider.jwks_uri
            claim_text, filter_text = pool.identity_claim, pool.filter
        try:
            jwt = parse_jwt(form["subject_token"])
            await self.jwks.verify(provider_id, jwks_uri, jwt)
            check_claims(jwt.claims, issuer=issuer, now=self.core.now())
            subject = self._identity(claim_text, pool_id, jwt.claims)
            outcome = parse_filter(filter_text).evaluate(jwt.claims)
        except JwtError as error:
            raise _refused("invalid_grant", error.reason[:1].upper() + error.reason[1:]) from None
        except FilterError as error:
            # stored filters and claims parsed when written; only a hand-edited state file gets here
            raise _refused("invalid_request", f"Identity pool '{pool_id}' is misconfigured: {error}") from None
        if not outcome.matched:
            raise _refused(
                "invalid_grant",
                f"The subject token does not match the filter of identity pool {pool_id} ({filter_text}): "
                f"{outcome.reason}",
            )
        with self.core.lock:
            pool = self.core.state.identity_pools.get(pool_id)
            if pool is None:
                raise _refused("invalid_request", f"Identity pool '{pool_id}' not found")
            token, _ = self.core.issue_access_token(pool.id, pool.org_id, lifetime)
            self.core.commit()
        body = {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        # RFC 6749 §5.1: a token response is never cached
        return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"}), subject

    @staticmethod
    def _identity(claim_text: str, pool_id: str, claims: dict[str, Any]) -> str:
        """The value of the pool's identity claim: who the token says it is."""
        path = parse_claim(claim_text)
        found, value = path.find(claims)
        if not found:
            raise JwtError(f"the subject token has no {path.text} claim, the identity claim of identity pool {pool_id}")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise JwtError(
                f"the subject token's {path.text}, the identity claim of identity pool {pool_id}, is not a string"
            )
        return str(value)
