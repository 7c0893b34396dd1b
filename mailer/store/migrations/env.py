"""Alembic environment: runs migrations on the engine handed in by mailer.store.db.

``config.attributes`` carries the engine and, from ``mailer init``, the secret key
(migration 0008 converts stored identifiers with it).

On SQLite, changing a table in batch mode copies it and drops the original; with
foreign keys on, that DROP deletes (ON DELETE CASCADE) or blanks (SET NULL) every
row that points at it — a subscribers change would take every delivery with it.
Foreign keys are therefore off while migrating (the pragma only works outside a
transaction) and checked before they are turned back on.
"""

from alembic import context
from sqlalchemy import text

from mailer.errors import StoreError
from mailer.store.db import writing
from mailer.store.tables import metadata

config = context.config
engine = config.attributes["engine"]

# Migrations write: the connection's transactions take SQLite's write lock (store.db).
with engine.connect() as connection:
    writing(connection)
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Straight to the driver: SQLAlchemy would begin a transaction first.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection, target_metadata=metadata, render_as_batch=sqlite
            )
            context.run_migrations()
            if sqlite:
                broken = connection.execute(text("PRAGMA foreign_key_check")).all()
                if broken:
                    raise StoreError(f"migration left broken foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
