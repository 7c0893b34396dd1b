"""The installation row: the random part of every Message-ID and the check value of the secret key."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from mailer.errors import ConfigError
from mailer.store.tables import installation


def message_id_part(conn: Connection, /) -> str:
    """This installation's random Message-ID part (made once, by migration 0008)."""
    return conn.execute(select(installation.c.message_id_part)).scalar_one()


_OTHER_KEY = (
    "secret_key (MAILER_SECRET_KEY) is not the key this database was set up with; "
    "links in mail and the suppression list depend on it (see README, 'Secret key')"
)


def bind_secret(conn: Connection, key_check: str, /) -> bool:
    """Tie the database to the secret key whose check value is given; True if this call did.

    A database already tied to another key is refused: every link token and address key
    in it was made with that key, so a process with a different one would mail links
    that open nothing and would no longer recognise suppressed addresses.
    """
    stored = conn.execute(select(installation.c.key_check)).scalar_one()
    if stored == key_check:
        return False
    if stored is not None:
        raise ConfigError(_OTHER_KEY)
    conn.execute(update(installation).values(key_check=key_check))
    return True


def check_secret(conn: Connection, key_check: str, /) -> None:
    """Raise ConfigError when the database is tied to another secret key (it may be untied yet)."""
    stored = conn.execute(select(installation.c.key_check)).scalar_one_or_none()
    if stored is not None and stored != key_check:
        raise ConfigError(_OTHER_KEY)
