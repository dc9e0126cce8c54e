"""A small Flask application, loaded from the test virtualenv."""

import flask

app = flask.Flask(__name__)


@app.route("/hello/<name>")
def hello(name):
    return flask.jsonify(name=name, q=flask.request.args.get("q"), flask_file=flask.__file__)


@app.route("/form", methods=["POST"])
def form():
    return "%s=%s" % (flask.request.form["field"], len(flask.request.form["blob"]))


@app.route("/json", methods=["POST"])
def json_echo():
    data = flask.request.get_json()
    return flask.jsonify(doubled=[x * 2 for x in data["numbers"]])


@app.route("/stream")
def stream():
    return flask.Response((b"part%d;" % i for i in range(4)), mimetype="text/plain")


@app.route("/fail")
def fail():
    raise RuntimeError("flask view failed")
