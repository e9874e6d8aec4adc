"""The baselines: one-route Falcon apps, served by the same gunicorn config as ours.

`/` answers at once. `/one-statement` first runs one prepared `SELECT 1` on
DATABASE_URL (a connection per thread, autocommit, straight through psycopg2): the
least any endpoint pays that checks something in PostgreSQL on every request.
"""

import os
import threading

import falcon
import psycopg2


class Bare:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}


class OneStatement:
    def __init__(self, url: str):
        self.url = url
        self.local = threading.local()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        cursor = getattr(self.local, "cursor", None)
        if cursor is None:
            connection = psycopg2.connect(self.url)
            connection.autocommit = True
            cursor = self.local.cursor = connection.cursor()
            cursor.execute("PREPARE one AS SELECT 1")
        cursor.execute("EXECUTE one")
        resp.media = {"ok": cursor.fetchone()[0] == 1}


app = falcon.App()
app.add_route("/", Bare())
if os.environ.get("DATABASE_URL", "").startswith("postgres"):
    app.add_route("/one-statement", OneStatement(os.environ["DATABASE_URL"]))
