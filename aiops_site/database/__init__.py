"""Two PostgreSQL roles: the owner (schema, migrations) and the runtime role (the app).

``base.py`` is the database backend (Django's PostgreSQL backend with Prometheus metrics)
whose test-database creation runs as the owner; ``owner.py`` switches a connection to the
owner for ``migrate`` and ``flush``; ``roles.py`` creates both roles in the embedded server.
See docs/deploy.md ("Database roles").
"""
