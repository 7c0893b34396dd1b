"""Storage adapter: SQLAlchemy engine, schema, migrations and one module per entity."""
