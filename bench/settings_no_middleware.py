"""An experiment, not a recommendation as is: the example project without Django middleware.

Under ASGI every ``MiddlewareMixin`` middleware runs ``process_request``/``process_response`` through
``sync_to_async`` (a thread hop each, 13 with CSRF's ``process_view`` for the example's 7 middleware). Compare
``bench/run.py --settings bench.settings_no_middleware`` with the default to see what they cost an API request
(see docs/performance.md). The API steps do not need them: DRF views are CSRF-exempt and authenticate themselves.
"""

from example_project.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]  # the admin needs them; not measured here
