"""URLs of live test servers: the example project's, plus helpers tests use to write from inside the server."""

from example_project.urls import urlpatterns as example_urlpatterns

urlpatterns = [*example_urlpatterns]
