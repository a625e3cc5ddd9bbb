"""The floor's dice roller: GET /roll?die=X asks the die service, then rolls."""

import os
import random

import falcon

from bench.floor.diespec import Health
from ops.http_session import create_session
from ops.settings import read


class Roll:
    def __init__(self, die_service_url, session):
        self._url = f"{die_service_url}/dice"
        self._session = session

    def on_get(self, req, resp):
        die = req.get_param("die", required=True)
        spec = self._session.get(self._url, params={"identifier": die}, timeout=2).json()
        resp.media = {"die": die, "roll": random.choice(spec["faces"])}


def create_app():
    app = falcon.App()
    app.add_route("/roll", Roll(os.environ["DIE_SERVICE_URL"], create_session(pool_size=read("GUNICORN_THREADS"))))
    app.add_route("/healthz", Health())
    return app
