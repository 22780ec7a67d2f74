"""The REST API under /api/v1/ (Django REST framework, OpenAPI schema by drf-spectacular).

Reads list and show the domain in pages, filtered like the pages (their django-filter FilterSets where
they have one), ordered, with an ETag. Writes call the same services as the pages, so every rule has
one home. Who may do what is the pages' permissions. Errors are RFC 9457 problem details. See
docs/api.md.
"""
