"""Serves the React example (example_project/frontend) at /app/ once built; until then, a page saying how."""

from __future__ import annotations

from pathlib import Path

from django.http import Http404, HttpRequest, HttpResponse
from django.views.static import serve

DIST = Path(__file__).resolve().parent / "frontend" / "dist"

NOT_BUILT = """<!doctype html><title>The React example is not built</title>
<h1>The React example is not built</h1>
<p>Build it with <code>cd example_project/frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>, then reload,
or run <code>npm run dev</code> there and open <a href="http://localhost:5173/app/">localhost:5173/app/</a>
(see docs/react.md).</p>"""


def frontend(request: HttpRequest, path: str = "") -> HttpResponse:
    if not (DIST / "index.html").is_file():
        return HttpResponse(NOT_BUILT, status=503)
    if path and (DIST / path).is_file():
        return serve(request, path, document_root=DIST)
    if path.startswith("assets/"):
        raise Http404(path)
    return serve(request, "index.html", document_root=DIST)
