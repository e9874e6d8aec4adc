"""The baseline: a one-route Falcon app, served by the same gunicorn config as ours."""

import falcon


class Bare:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}


app = falcon.App()
app.add_route("/", Bare())
