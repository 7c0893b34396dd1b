"""Keyed identifiers derived from the server secret: subscribers' link tokens and address keys.

Two things the database must not give away on its own (issue 11, items 8 and 9):

- **Link tokens.** The permanent token in every mail is ``HMAC(secret, seed)`` of a
  random per-subscriber seed; the database keeps the seed and the token's SHA-256,
  never the token, so a copy of the database cannot be used to unsubscribe or open
  anyone's preferences, while the send step can still put each subscriber's token
  into the prepared bytes (it holds the secret).
- **Address keys.** Suppression entries and the consent ledger are keyed by
  ``HMAC(secret, sha256(address))``. A plain SHA-256 lets anyone holding the database
  confirm that a guessed address was erased; the keyed form needs the secret too.
  Being a function of the SHA-256, it could be computed from entries written before
  (migration 0008) without knowing the addresses.

Every key is a separate HMAC of the secret with its own label, so one use can never
stand in for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from mailer.models import normalise_email

#: Characters of a link token: 32 URL-safe base64 characters are 192 bits.
LINK_TOKEN_LENGTH = 32


def address_digest(address: str) -> str:
    """Unkeyed SHA-256 hex of the canonical address; only ever an input to :meth:`IdentityKeys.address_key`."""
    return hashlib.sha256(normalise_email(address).encode("utf-8")).hexdigest()


def token_hash(token: str) -> str:
    """What the database keeps of a link, confirmation or data-access token.

    The tokens are at least 192 random (or HMAC) bits, so an unkeyed hash cannot be
    reversed by guessing, and a look-up by this hash compares no secret byte by byte.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token_seed() -> str:
    """A fresh random seed for a subscriber's link token (stored; the token is not)."""
    return secrets.token_urlsafe(24)


def new_access_token() -> str:
    """A random single-purpose token (confirmation link, data-access link); only its hash is kept."""
    return secrets.token_urlsafe(32)


class IdentityKeys:
    """The keys derived from MAILER_SECRET_KEY for link tokens and address keys."""

    __slots__ = ("_address", "_link", "check")

    def __init__(self, secret: str) -> None:
        raw = secret.encode("utf-8")
        self._address = hmac.digest(raw, b"mailer/address-key/v1", "sha256")
        self._link = hmac.digest(raw, b"mailer/link-token/v1", "sha256")
        #: Stored with the installation, so a process started with another secret is
        #: refused instead of silently minting links and keys that match nothing.
        self.check = hmac.new(raw, b"mailer/key-check/v1", "sha256").hexdigest()

    def address_key(self, address: str) -> str:
        """The key of an address in ``suppressions`` and ``consent_events``."""
        return self.address_key_of_digest(address_digest(address))

    def address_key_of_digest(self, digest: str) -> str:
        """The key of an address known only by its SHA-256 hex (the 0008 conversion)."""
        return hmac.new(self._address, digest.encode("ascii"), "sha256").hexdigest()

    def link_token(self, seed: str) -> str:
        """The subscriber's current unsubscribe/preferences token, from the stored seed."""
        mac = hmac.digest(self._link, seed.encode("ascii"), "sha256")
        return base64.urlsafe_b64encode(mac).decode("ascii")[:LINK_TOKEN_LENGTH]

    def new_link(self) -> dict[str, str]:
        """Columns of a fresh link token for a subscriber row: the seed and the token's hash."""
        seed = new_token_seed()
        return {"token_seed": seed, "token_hash": token_hash(self.link_token(seed))}
