"""A small Bottle application, loaded from the test virtualenv."""

import bottle

from fw_common import APPS_DIR, gated, hash_stream, report_file_wrapper

bottle_app = bottle.Bottle()


@bottle_app.get("/hello/<name>")
def hello(name):
    return {"name": name, "q": bottle.request.query.get("q"), "module_file": bottle.__file__}


@bottle_app.post("/form")
def form():
    bottle.response.content_type = "text/plain"
    forms = bottle.request.forms
    return "%s=%d" % (forms.get("field"), len(forms.get("blob")))


@bottle_app.post("/upload")
def upload():
    bottle.response.content_type = "text/plain"
    return hash_stream(bottle.request.files.get("file").file)


@bottle_app.post("/json")
def json_echo():
    return {"doubled": [x * 2 for x in bottle.request.json["numbers"]]}


@bottle_app.get("/cookie/set")
def cookie_set():
    bottle.response.set_cookie("v", bottle.request.query["v"])
    bottle.response.content_type = "text/plain"
    return "set"


@bottle_app.get("/cookie/get")
def cookie_get():
    bottle.response.content_type = "text/plain"
    return bottle.request.get_cookie("v", "none")


@bottle_app.get("/stream")
def stream():
    bottle.response.content_type = "text/plain"
    for i in range(4):
        yield b"part%d;" % i


@bottle_app.get("/gated")
def gated_stream():
    bottle.response.content_type = "text/plain"
    return gated(bottle.request.query["gate"])


@bottle_app.get("/file")
def file():
    return bottle.static_file("data.bin", root=APPS_DIR, mimetype="application/octet-stream")


@bottle_app.get("/fail")
def fail():
    raise RuntimeError("bottle view failed")


app = report_file_wrapper(bottle_app)
