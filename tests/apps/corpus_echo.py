"""Reports what the application saw of a request, for the parser corpus."""

import json


def app(environ, start_response):
    seen = {
        "method": environ["REQUEST_METHOD"],
        "uri": environ["RAW_URI"],
        "path_info": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"],
        "protocol": environ["SERVER_PROTOCOL"],
        "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")},
        "body_hex": environ["wsgi.input"].read().hex(),
    }
    out = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
