"""The source of truth: SQLAlchemy 2 tables, the run ledger, customers, workflows, secrets.

Works on SQLite (a file) and PostgreSQL; the schema is managed by the Alembic migrations here.
"""
