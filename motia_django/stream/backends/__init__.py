"""Where stream items live: the interface (``base``) and one module per backend (``db``, ``custom``, ``model``),
as ``django.contrib.sessions.backends`` is laid out."""
