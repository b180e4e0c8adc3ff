"""A noop step declaring the topics the worker tests emit from plain code."""

config = {"type": "noop", "name": "WorkerTopics", "emits": ["worker.slow", "worker.count", "worker.doomed"]}
