"""The floor's die service: GET /dice?identifier=X, the fair die."""

import falcon

FAIR = {"identifier": "fair", "faces": [1, 2, 3, 4, 5, 6], "error_rate": 0}


class Dice:
    def on_get(self, req, resp):
        resp.media = FAIR


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


def create_app():
    app = falcon.App()
    app.add_route("/dice", Dice())
    app.add_route("/healthz", Health())
    return app
