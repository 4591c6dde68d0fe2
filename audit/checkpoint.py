"""Signed checkpoints of every chain's head: `citygraph audit checkpoint`.

A checkpoint is a compact JWS signed with the server's current signing key (auth.keys.KeyStore),
verifiable with nothing but the JWKS published at /.well-known/jwks.json:

    header  {"alg": "RS256", "kid": "...", "typ": "citygraph-audit-checkpoint+jws"}
    payload {"iss": "<base url>", "iat": 1764090000,
             "chains": [{"chain": "<chain id>", "seq": 1234, "hmac": "<hex>"}, ...]}

Kept outside the system (mailed to the data-protection officer, printed, notarised), it lets a
later `verify --checkpoint FILE` detect a truncated tail or a deleted chain, which a chain alone
cannot show. The `typ` keeps a checkpoint from ever passing for an access token (those are at+jwt).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.verify import Report, verify
from auth.keys import SigningKeys

TYP = "citygraph-audit-checkpoint+jws"


class CheckpointError(ValueError):
    """A checkpoint that is malformed or whose signature does not verify."""


def sign_checkpoint(
    report: Report, *, keys: SigningKeys, issuer: str, now: float | None = None
) -> str:
    """A signed checkpoint of the heads of a verified report's chains."""
    if not report.ok:
        raise CheckpointError("the log does not verify: checkpointing it would bless the damage")
    payload = {
        "iss": issuer,
        "iat": int(time.time() if now is None else now),
        "chains": [
            {"chain": c.chain_id, "seq": c.head_seq, "hmac": c.head_hmac} for c in report.chains
        ],
    }
    header = {"alg": keys.alg, "kid": keys.kid, "typ": TYP}
    return jws.serialize_compact(header, orjson.dumps(payload), keys.current, algorithms=[keys.alg])


async def checkpoint(engine: AsyncEngine, key: bytes, *, keys: SigningKeys, issuer: str) -> str:
    """Verify the log and sign its heads."""
    return sign_checkpoint(await verify(engine, key), keys=keys, issuer=issuer)


def read_checkpoint(token: str, jwks: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """The chain heads of a checkpoint whose signature verifies with `jwks`: {chain: (seq, hmac)}."""
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        signature = jws.deserialize_compact(token.strip(), key_set, algorithms=["RS256", "ES256"])
    except (JoseError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint does not verify: {type(exc).__name__}") from exc
    if signature.protected.get("typ") != TYP:
        raise CheckpointError("not an audit checkpoint (wrong typ)")
    try:
        payload = orjson.loads(signature.payload)
        return {c["chain"]: (int(c["seq"]), str(c["hmac"])) for c in payload["chains"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError("the checkpoint's payload is malformed") from exc
