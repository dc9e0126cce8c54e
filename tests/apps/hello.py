"""The smallest app: 13 bytes with a Content-Length, under the default name."""

BODY = b"Hello, World!"


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


app = application


def create_app(greeting="Hello", punctuation="!"):
    """An application factory, for 'hello:create_app("Hi", punctuation="?")'."""
    body = ("%s, World%s" % (greeting, punctuation)).encode()

    def made(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return made


def broken_factory():
    raise RuntimeError("the factory itself failed")


nothing = None
not_callable = 42
