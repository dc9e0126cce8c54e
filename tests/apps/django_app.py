"""A one-file Django project, loaded from the test virtualenv."""

import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
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


urlpatterns = [path("items/", index)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
