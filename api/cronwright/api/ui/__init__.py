"""The web dashboard at /ui: static pages (static/) and the small JSON API they read
(/ui/api, routes.py), key-scoped and tenant-isolated like every dialect
(docs/observability.md)."""
