"""Trigram indexes for the console's searches (PostgreSQL's pg_trgm): a "contains, any
case" search (Django's ``icontains``: ``UPPER(col::text) LIKE UPPER('%term%')``) reads an
index instead of every row in scope. Built CONCURRENTLY, so writes go on meanwhile.

Where the extension cannot be created (a database user without the right) or the database
is not PostgreSQL (SQLite in the demo), nothing is built and the search is just slower."""

from __future__ import annotations

import logging

from django.db import DatabaseError, migrations

log = logging.getLogger(__name__)


def trigram_indexes(table: str, indexes: dict[str, str]) -> migrations.RunPython:
    """A migration operation: ``{index name: column}`` on ``table``."""

    def create(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        try:
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as error:  # no right to create it: searches stay unindexed
            log.warning("pg_trgm is not available (%s); searches will scan", error)
            return
        for name, column in indexes.items():
            schema_editor.execute(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" '
                f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
            )
        # The planner estimates a LIKE from the statistics of the indexed expression, which
        # only ANALYZE gathers: without them it guesses a handful of rows and picks a plan
        # a hundred times slower for a common name.
        schema_editor.execute(f'ANALYZE "{table}"')

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for name in indexes:
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')

    return migrations.RunPython(create, drop, elidable=False)
