"""PostgreSQL roles: the owner (schema, migrations), the runtime role (the app) and, for the
test suite only, a test administrator (creates databases, ends sessions).

``config.py`` builds ``DATABASES`` from the environment; ``base.py`` is the database backend
(Django's PostgreSQL backend with Prometheus metrics) whose test-database creation runs as the
test administrator; ``owner.py`` switches a connection to the owner for ``migrate`` and
``flush``; ``testing.py`` is the tests' administrative path; ``roles.py`` creates the roles in
the embedded server. See docs/deploy.md ("Database roles").
"""
