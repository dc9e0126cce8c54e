"""A small Flask application, loaded from the test virtualenv."""

import flask

from fw_common import DATA, gated, hash_stream, report_file_wrapper

app = flask.Flask(__name__)
app.secret_key = "test-only"


@app.route("/hello/<name>")
def hello(name):
    return flask.jsonify(name=name, q=flask.request.args.get("q"), module_file=flask.__file__)


@app.route("/form", methods=["POST"])
def form():
    return "%s=%s" % (flask.request.form["field"], len(flask.request.form["blob"]))


@app.route("/upload", methods=["POST"])
def upload():
    return hash_stream(flask.request.files["file"].stream)


@app.route("/json", methods=["POST"])
def json_echo():
    data = flask.request.get_json()
    return flask.jsonify(doubled=[x * 2 for x in data["numbers"]])


@app.route("/cookie/set")
def cookie_set():
    flask.session["v"] = flask.request.args["v"]
    return "set"


@app.route("/cookie/get")
def cookie_get():
    return flask.session.get("v", "none")


@app.route("/stream")
def stream():
    return flask.Response((b"part%d;" % i for i in range(4)), mimetype="text/plain")


@app.route("/gated")
def gated_stream():
    return flask.Response(gated(flask.request.args["gate"]), mimetype="text/plain")


@app.route("/file")
def file():
    return flask.send_file(DATA, mimetype="application/octet-stream")


@app.route("/fail")
def fail():
    raise RuntimeError("flask view failed")


app.wsgi_app = report_file_wrapper(app.wsgi_app)
