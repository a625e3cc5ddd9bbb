"""The floor's die service: GET /dice?identifier=X, one query with the bare driver
(bench/floor/database.py) on the database of DATABASE_URL, seeded with the fair die."""

import os

import falcon

from bench.floor.database import BareDatabase
from diespec.database import create_sqlite_folder, create_unpooled_engine
from diespec.seed import seed
from diespec.specs import parse_specifications

FAIR = {"fair": {"faces": [1, 2, 3, 4, 5, 6], "error_rate": 0}}


class Dice:
    def __init__(self, database):
        self._database = database

    def on_get(self, req, resp):
        resp.media = self._database.specification(req.get_param("identifier", required=True))


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


def create_app():
    url = os.environ["DATABASE_URL"]
    create_sqlite_folder(url)
    engine = create_unpooled_engine(url, 2)
    seed(engine, parse_specifications(FAIR), "the floor")  # each worker: an upsert changes nothing
    engine.dispose()
    app = falcon.App()
    app.add_route("/dice", Dice(BareDatabase(url)))
    app.add_route("/healthz", Health())
    return app
