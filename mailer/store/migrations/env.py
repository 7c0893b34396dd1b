"""Alembic environment: runs migrations on the engine handed in by mailer.store.db."""

from alembic import context

from mailer.store.db import write_transaction
from mailer.store.tables import metadata

config = context.config
engine = config.attributes["engine"]

with write_transaction(engine) as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
