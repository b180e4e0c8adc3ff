"""A preforking server, as gunicorn ``--preload`` runs uvicorn workers: the parent imports the ASGI application
(Django, the app registry, motia_django) once and asks for its process origin, then forks one uvicorn server per
port given on the command line. Each process prints its origin (``origin <role> <pid> <origin>``). SIGTERM stops
the children, then the parent.

    python -m tests.support.preforked PORT [PORT ...]
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def main(ports: list[int]) -> None:
    from example_project.asgi import application
    from motia_django.layers import process_origin

    print(f"origin parent {os.getpid()} {process_origin()}", flush=True)  # what an import-time name would be
    children = []
    for port in ports:
        pid = os.fork()
        if pid == 0:
            import uvicorn

            print(f"origin worker {os.getpid()} {process_origin()}", flush=True)
            uvicorn.run(application, host="127.0.0.1", port=port, log_level="warning")
            os._exit(0)
        children.append(pid)

    def stop(signum: int, frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    for child in children:
        os.waitpid(child, 0)


if __name__ == "__main__":
    main([int(port) for port in sys.argv[1:]])
