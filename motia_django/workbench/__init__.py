"""The workbench: pages to try API steps and watch streams, flows and events live (Motia's Workbench, in Django).

Mount it with ``path("", include("motia_django.workbench.urls"))`` (before the API steps' include) to get
``/endpoints``, ``/streams``, ``/flows`` and ``/events``. It is on when ``DEBUG`` is on and off otherwise, unless
``MOTIA["WORKBENCH"]`` says ``True`` or ``False``; without ``DEBUG`` only active staff users may open it.
Templates plus a small ES module; the live parts use Motia's own browser stream client (vendored, built once).
"""
