"""``TextSQL-v0``: answer a question about a per-episode SQLite database (stateful tool)."""
