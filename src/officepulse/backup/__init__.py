"""Backups of the database and restoring them: ``officepulse backup`` and
``officepulse restore`` (cli/backup.py).

SQLite (``sqlite.py``): SQLite's online backup API copies one consistent snapshot while
the server keeps writing (WAL: readers never block the writer), into a single file. An
agent's batch is stored with its sequence number in one transaction, so a backup holds
exactly the batches each agent was acknowledged for up to ``agents.acked_seq``, and
restored agents resume from there. PostgreSQL (``postgres.py``): ``pg_dump`` (one
snapshot too) and ``pg_restore``, run with the URL's password kept out of their
command line.
"""

from __future__ import annotations

from officepulse.errors import OfficepulseError


class BackupError(OfficepulseError):
    """A backup or restore that cannot be done; the message says what and why, and
    nothing was changed."""
