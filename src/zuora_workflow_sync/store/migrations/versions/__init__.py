"""Revisions, applied in order by store.migrate.upgrade."""
