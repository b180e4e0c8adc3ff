"""The stream layer: the stream API (``api``) and what every write goes through (definitions, schemas, update ops,
the write queue, changes published after commit, the ORM receivers, retention). Storage lives in
``stream.backends``.

The package is ``stream``, not ``streams``: ``motia_django.streams`` is the public registry view
(``streams.chatMessage``). Import the public names from ``motia_django`` (``streams``, ``Stream``,
``StateStream``...); the modules here are internal (docs/api.md).
"""
