"""The read side: what was synced, as typed records, for the CLI and the web app alike.

Plain functions over the store (`store.reads` holds the SQL): listings with cursors, one
workflow and any stored version of it, history with a summary per change, semantic diffs, the
task graph, task search across customers, and the shapes of their JSON. Nothing here writes to
the database; `catalog.backup` writes files only.
"""
