"""A small Falcon (WSGI) application, loaded from the test virtualenv."""

import os

import falcon

from fw_common import DATA, gated, hash_stream, report_file_wrapper


class Hello:
    def on_get(self, req, resp, name):
        resp.media = {"name": name, "q": req.get_param("q"), "module_file": falcon.__file__}


class Form:
    def on_post(self, req, resp):
        form = req.get_media()
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "%s=%d" % (form["field"], len(form["blob"]))


class Upload:
    def on_post(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "no file part"
        for part in req.get_media():
            if part.name == "file":
                resp.text = hash_stream(part.stream)


class Json:
    def on_post(self, req, resp):
        resp.media = {"doubled": [x * 2 for x in req.get_media()["numbers"]]}


class CookieSet:
    def on_get(self, req, resp):
        resp.set_cookie("v", req.get_param("v", required=True), secure=False)
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "set"


class CookieGet:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = req.cookies.get("v", "none")


class Stream:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = (b"part%d;" % i for i in range(4))


class Gated:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = gated(req.get_param("gate", required=True))


class File:
    def on_get(self, req, resp):
        resp.content_type = "application/octet-stream"
        resp.content_length = os.path.getsize(DATA)
        resp.stream = open(DATA, "rb")

    # Falcon has no implicit HEAD: the same response, whose body it drops.
    on_head = on_get


class Fail:
    def on_get(self, req, resp):
        raise RuntimeError("falcon view failed")


falcon_app = falcon.App()
falcon_app.add_route("/hello/{name}", Hello())
falcon_app.add_route("/form", Form())
falcon_app.add_route("/upload", Upload())
falcon_app.add_route("/json", Json())
falcon_app.add_route("/cookie/set", CookieSet())
falcon_app.add_route("/cookie/get", CookieGet())
falcon_app.add_route("/stream", Stream())
falcon_app.add_route("/gated", Gated())
falcon_app.add_route("/file", File())
falcon_app.add_route("/fail", Fail())

app = report_file_wrapper(falcon_app)
