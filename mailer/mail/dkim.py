"""DKIM signing of outgoing mail (dkimpy): load the configured key once, sign each message's bytes.

Digests and notices are signed alike: both carry List-Unsubscribe(-Post), and mailbox
providers offer one-click unsubscribe only when a valid signature covers both
headers (RFC 8058 §4, compliance.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailer.config import Settings
from mailer.errors import ConfigError

#: Headers the DKIM signature covers. dkimpy's default omits List-Unsubscribe-Post,
#: and mailbox providers offer one-click unsubscribe only when a valid signature
#: covers both List-Unsubscribe headers (RFC 8058 §4, compliance.md).
DKIM_SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)


@dataclass(frozen=True, slots=True)
class DkimSigner:
    """A loaded DKIM key and identity; signs each personalised message."""

    domain: bytes
    selector: bytes
    private_key: bytes

    def sign(self, data: bytes, /) -> bytes:
        import dkim  # dkimpy; imported only when signing is on

        signature = dkim.sign(
            data,
            self.selector,
            self.domain,
            self.private_key,
            include_headers=list(DKIM_SIGNED_HEADERS),
            canonicalize=(b"relaxed", b"relaxed"),
            linesep=b"\r\n",
        )
        return signature + data


def load_dkim(settings: Settings) -> DkimSigner | None:
    """The configured DKIM signer, or None when signing is off; ConfigError if misconfigured."""
    dkim_settings = settings.dkim
    if not dkim_settings.enabled:
        return None
    missing = [
        key for key in ("domain", "selector", "private_key_path") if not getattr(dkim_settings, key)
    ]
    if missing:
        names = ", ".join(f"MAILER_DKIM__{key.upper()}" for key in missing)
        raise ConfigError(f"DKIM is enabled but {names} is not set")
    path = Path(dkim_settings.private_key_path)
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the DKIM private key {path} (MAILER_DKIM__PRIVATE_KEY_PATH): {exc.strerror}"
        ) from None
    signer = DkimSigner(
        domain=dkim_settings.domain.encode("ascii"),
        selector=dkim_settings.selector.encode("ascii"),
        private_key=key,
    )
    try:
        import dkim.crypto

        dkim.crypto.parse_pem_private_key(key)
    except Exception as exc:  # noqa: BLE001 — dkimpy raises several unrelated types
        raise ConfigError(f"the DKIM private key {path} is not a PEM RSA key: {exc}") from None
    return signer
