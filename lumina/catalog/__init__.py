"""The catalog: SQLAlchemy models, Alembic migrations and queries (SQLite by default)."""
