"""ActivityWatch compatibility: aw-server's REST API (``/api/0/``) for its watchers and
client, and the importer of its exports (docs/activitywatch.md)."""
