"""TypeScript declarations of stream items from their JSON Schemas (``manage.py streams types``).

``declarations(streams)`` writes the file; ``schema_to_typescript(name, schema)`` converts one schema. The
converter is in ``declarations``; the type expressions it writes are in ``types``.
"""

from motia_django.typescript.converter import declarations, schema_to_typescript, type_name

__all__ = ["declarations", "schema_to_typescript", "type_name"]
