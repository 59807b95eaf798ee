"""CDS Hooks client authentication: a bearer JWT -> its verified claims, or HttpError 401.

CDS Hooks 2.0 ("Trusting CDS Clients"): the client signs a JWT with its private key; the
service checks it against the public keys (JWKS) of an issuer it was told to trust, and
checks `aud` (the URL of the service called), `exp` (at most five minutes ahead), `iat`
and `jti` (never seen before: a replayed token is refused).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import HttpError

ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS384")
LEEWAY = 30  # seconds of clock skew allowed
MAX_LIFETIME = 300 + LEEWAY  # the spec: exp no more than five minutes in the future
JWKS_TTL = 3600.0
JWKS_RETRY = 60.0  # an unknown kid refetches the JWKS at most this often
MAX_JTI = 200_000


@dataclass(frozen=True)
class Issuer:
    """A trusted issuer: its `iss` and where its public keys are (an https URL, or a local JWKS file)."""
    iss: str
    jwks: str


def parse_trust(text: str) -> Issuer:
    """`ISS=JWKS` from the command line (the JWKS an https URL or a file path)."""
    iss, sep, jwks = text.rpartition("=")
    if not sep or not iss or not jwks:
        raise ValueError(f"--trust takes ISSUER=JWKS_URL_OR_FILE, got {text!r}")
    return Issuer(iss, jwks)


def _unauthorized(message: str) -> HttpError:
    err = HttpError(401, "unauthorized", message)
    err.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return err


class Verifier:
    """Checks the JWT of a CDS Hooks request; keeps each issuer's JWKS and the `jti` values seen."""

    def __init__(self, issuers, fetch_json=None):
        import jwt  # PyJWT: only a service that checks tokens needs it

        self.jwt = jwt
        self.issuers = {i.iss: i for i in issuers}
        self.fetch_json = fetch_json  # async (url) -> parsed JSON, for JWKS over https
        self._keys: dict[str, tuple[float, dict]] = {}  # iss -> (fetched at, {kid: key})
        self._tried: dict[str, float] = {}
        self._seen: dict[str, float] = {}  # "iss jti" -> exp
        self._lock = threading.Lock()

    async def verify(self, authorization: str | None, audiences: list[str]) -> dict:
        """The claims of the request's token; raises HttpError 401 saying what is wrong."""
        jwt = self.jwt
        if not authorization or not authorization.startswith("Bearer "):
            raise _unauthorized("a CDS Hooks request needs 'Authorization: Bearer <JWT>' (CDS Hooks 2.0)")
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _unauthorized("the bearer token is not a JWT") from None
        iss = unverified.get("iss") if isinstance(unverified, dict) else None
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise _unauthorized("the token's issuer is not trusted by this service")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise _unauthorized(f"the token's algorithm is not accepted; use one of {', '.join(ALGORITHMS)}")
        key = await self._key(issuer, header.get("kid"))
        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=audiences, issuer=issuer.iss,
                                leeway=LEEWAY, options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError:
            raise _unauthorized("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized("the token's aud is not this service's URL") from None
        except jwt.PyJWTError as err:
            raise _unauthorized(f"the token is not valid: {err}") from None
        now = time.time()
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise _unauthorized("the token's jti is not a string")
        if claims["exp"] > now + MAX_LIFETIME:
            raise _unauthorized("the token expires more than five minutes from now")
        self._once(f"{iss} {claims['jti']}", float(claims["exp"]), now)
        return claims

    def _once(self, key: str, exp: float, now: float) -> None:
        with self._lock:
            if key in self._seen:
                raise _unauthorized("the token was used before (jti replay)")
            if len(self._seen) >= MAX_JTI:
                self._seen = {k: e for k, e in self._seen.items() if e + LEEWAY > now}
                if len(self._seen) >= MAX_JTI:
                    raise HttpError(503, "overloaded", "too many live tokens; retry later")
            self._seen[key] = exp

    async def _key(self, issuer: Issuer, kid):
        now = time.monotonic()
        cached = self._keys.get(issuer.iss)
        fresh = cached is not None and now - cached[0] < JWKS_TTL
        if not fresh or (kid not in cached[1] and now - self._tried.get(issuer.iss, 0.0) > JWKS_RETRY):
            self._tried[issuer.iss] = now
            keys = await self._load(issuer)
            if keys is not None:
                cached = (now, keys)
                self._keys[issuer.iss] = cached
        if cached is None:
            raise _unauthorized("the issuer's keys (JWKS) could not be read")
        keys = cached[1]
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        if kid not in keys:
            raise _unauthorized("the token's kid is not among the issuer's keys")
        return keys[kid]

    async def _load(self, issuer: Issuer):
        try:
            if issuer.jwks.startswith("https://") or issuer.jwks.startswith("http://"):
                data = await self.fetch_json(issuer.jwks)
            else:
                data = json.loads(Path(issuer.jwks).read_text(encoding="utf-8"))
            keys = {}
            for jwk in data.get("keys", []):
                try:
                    k = self.jwt.PyJWK.from_dict(jwk)
                except self.jwt.PyJWTError:
                    continue  # a key of a type this service does not use
                if jwk.get("use", "sig") == "sig":
                    keys[jwk.get("kid")] = k.key
            return keys
        except Exception:  # unreachable, not JSON, not a JWKS: no key, so every token of it is refused
            return None
