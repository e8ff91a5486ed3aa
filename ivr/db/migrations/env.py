"""Alembic environment: runs on a connection handed in by Database.upgrade, or on sqlalchemy.url."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from ivr.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER needs batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _configure_and_run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        # Sync driver for autogenerate from the command line (aiosqlite URL -> sqlite).
        sync_url = (url or "").replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
        engine = create_engine(sync_url)
        with engine.connect() as conn:
            _configure_and_run(conn)
