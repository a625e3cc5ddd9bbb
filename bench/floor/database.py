"""The floor's database access: the die service's query, sent with the bare driver (sqlite3, or
psycopg for a postgresql:// DATABASE_URL) on one connection per thread, no pool, no
SQLAlchemy, no span: what a query costs with nothing around it."""

import json
import threading

from sqlalchemy.engine import make_url

from diespec.database import SELECT_ONE


class BareDatabase:
    def __init__(self, url):
        url = make_url(url)
        self._postgres = url.get_backend_name() == "postgresql"
        self._url = url.set(drivername="postgresql").render_as_string(hide_password=False) if self._postgres \
            else url.database
        # psycopg's placeholders are `%(name)s`; sqlite3 takes the die service's `:name` as it is.
        self._query = SELECT_ONE.replace(":identifier", "%(identifier)s") if self._postgres else SELECT_ONE
        self._local = threading.local()

    def _connection(self):
        if not hasattr(self._local, "connection"):
            if self._postgres:
                import psycopg

                self._local.connection = psycopg.connect(self._url, autocommit=True)
            else:
                import sqlite3

                self._local.connection = sqlite3.connect(self._url, check_same_thread=False)
        return self._local.connection

    def specification(self, identifier):
        row = self._connection().execute(self._query, {"identifier": identifier}).fetchone()
        return {"identifier": row[0], "faces": json.loads(row[1]), "error_rate": row[2]}
