"""SMTP adapter: open aiosmtplib connections to the relay (or the built-in outbox).

There is one code path for a real relay and for the built-in outbox, so what a
newcomer sees in ``var/outbox/`` went through exactly what production uses; the
messages themselves go over a :class:`mailer.mail.RelayConnection` (pool.py).
"""

from __future__ import annotations

import ssl

import aiosmtplib

from mailer.config import SmtpSettings
from mailer.errors import TransportError


def relay_address(smtp: SmtpSettings) -> tuple[str, int]:
    """Where mail goes: the configured relay, or the built-in outbox on loopback."""
    return (smtp.host or "127.0.0.1", smtp.effective_port)


async def open_connection(smtp: SmtpSettings) -> aiosmtplib.SMTP:
    """Connect, negotiate TLS as configured and log in; raise TransportError if the relay is unusable."""
    host, port = relay_address(smtp)
    # start_tls=False for "none": aiosmtplib's default (None) upgrades opportunistically,
    # which a network attacker can strip; we make the choice explicit instead.
    client = aiosmtplib.SMTP(
        hostname=host,
        port=port,
        timeout=smtp.timeout,
        use_tls=smtp.tls == "tls",
        start_tls=smtp.tls == "starttls",
        tls_context=ssl.create_default_context() if smtp.tls != "none" else None,
    )
    try:
        await client.connect()
        if smtp.username:
            password = smtp.password.get_secret_value() if smtp.password else ""
            await client.login(smtp.username, password)
        if client.is_ehlo_or_helo_needed:
            # aiosmtplib greets lazily, on the first command; RelayConnection.deliver
            # reads the EHLO keywords (SMTPUTF8) before its first MAIL.
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
    except aiosmtplib.SMTPAuthenticationError as exc:
        client.close()
        raise TransportError(
            f"relay refused authentication: {exc.code} {exc.message}", code=exc.code
        ) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        client.close()
        raise TransportError(f"cannot connect to relay {host}:{port}: {exc}") from exc
    except BaseException:
        # Cancelled (a stopping worker gives back a message still waiting for its
        # connection): close the half-open socket rather than leak it.
        client.close()
        raise
    return client


async def probe_relay(smtp: SmtpSettings, /, *, sender: str) -> None:
    """Connect, greet (TLS and AUTH as configured), MAIL FROM the sender, RSET and QUIT; raise TransportError if unusable.

    The same path as a message takes up to RCPT, so a probe that passes says the relay
    would take mail from us again (issue 14 item 4: a paused edition resumes itself);
    RSET ends the transaction before any recipient, so nothing is sent.
    """
    client = await open_connection(smtp)
    try:
        await client.mail(sender)
        await client.rset()
        await client.quit()
    except aiosmtplib.SMTPResponseException as exc:
        raise TransportError(
            f"relay probe refused: {exc.code} {exc.message}", code=exc.code
        ) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TransportError(f"relay probe failed: {exc}") from exc
    finally:
        # QUIT closed it when all went well; otherwise close the socket here.
        client.close()
