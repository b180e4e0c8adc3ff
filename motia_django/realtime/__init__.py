"""Real time: Motia's stream protocol over WebSockets (the consumer, who may connect and join, presence), this
process's fan-out (the hub, per-group order) and other processes' changes (the relay). Serve it with
``motia_django.routing``; the modules here are internal (docs/api.md).
"""
