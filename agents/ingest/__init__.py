"""The ingest edge: what services send over HTTP becomes validated events on the mesh.

Events are validated once, here; inside, everything trusts the schema. Plain functions,
testable without HTTP (``api.py`` only wires them to routes):

* ``refusals`` -- every refusal is an ``IngestRefused`` with status, reason and fields;
* ``tokens`` -- API tokens (stored hashed), scopes, revocation and rate limits;
* ``bodies`` -- size, JSON, validation, ids and the ``/events`` body;
* ``logs`` and ``alertmanager`` -- translators from log lines and Alertmanager webhooks.
"""
