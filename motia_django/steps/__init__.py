"""Steps: the step registry and configs, API steps as DRF views (routes, the lean ASGI handler, OpenAPI), event
and cron steps on a runner (the event queue, emit, triggers, cron, the worker), and what a handler receives
(the flow context, state, logger). The public names are in ``motia_django``; the modules here are internal
(docs/api.md).
"""
