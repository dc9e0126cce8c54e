"""A one-file Django project, loaded from the test virtualenv."""

import json

import django
from django.conf import settings
from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path

from fw_common import DATA, gated, hash_chunks, report_file_wrapper

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
    ],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
)
django.setup()


def index(request):
    return JsonResponse({
        "method": request.method,
        "path": request.path,
        "q": request.GET.get("q"),
        "body": request.body.decode(),
        "django_file": django.__file__,
    })


def hello(request, name):
    return JsonResponse({"name": name, "q": request.GET.get("q"), "module_file": django.__file__})


def form(request):
    return HttpResponse("%s=%d" % (request.POST["field"], len(request.POST["blob"])), content_type="text/plain")


def upload(request):
    return HttpResponse(hash_chunks(request.FILES["file"].chunks()), content_type="text/plain")


def json_echo(request):
    data = json.loads(request.body)
    return JsonResponse({"doubled": [x * 2 for x in data["numbers"]]})


def cookie_set(request):
    request.session["v"] = request.GET["v"]
    return HttpResponse("set", content_type="text/plain")


def cookie_get(request):
    return HttpResponse(request.session.get("v", "none"), content_type="text/plain")


def stream(request):
    return StreamingHttpResponse((b"part%d;" % i for i in range(4)), content_type="text/plain")


def gated_stream(request):
    return StreamingHttpResponse(gated(request.GET["gate"]), content_type="text/plain")


def file(request):
    return FileResponse(open(DATA, "rb"), content_type="application/octet-stream")


def fail(request):
    raise RuntimeError("django view failed")


urlpatterns = [
    path("items/", index),
    path("hello/<name>", hello),
    path("form", form),
    path("upload", upload),
    path("json", json_echo),
    path("cookie/set", cookie_set),
    path("cookie/get", cookie_get),
    path("stream", stream),
    path("gated", gated_stream),
    path("file", file),
    path("fail", fail),
]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = report_file_wrapper(get_wsgi_application())
