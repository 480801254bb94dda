"""Run a block of work on a database alias as its owner role (``migrate``, ``flush``).

Why a switch of the alias's credentials rather than a second alias or ``SET ROLE``:

* ``SET ROLE`` needs the runtime role to be a member of the owner, and a member can
  ``SET ROLE`` back whenever it likes: the split would protect nothing.
* A second alias (``--database owner``) points at the same database under another name:
  the migration recorder, ``RunPython`` code using the default manager, pytest-django (one
  test database per alias) and every ``connection`` import would have to pick the right one.
  Switching the one alias keeps every caller (``run_stack``, pytest-django, compose's setup
  job) unchanged: ``call_command("migrate")`` simply runs as the owner.

The alias's settings dict is shared by the threads of a process, so this is for commands
that own their process while they run (``migrate`` runs before ``run_stack`` starts
anything; test setup and teardown run between tests).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections

from aiops_site.database.config import CREDENTIALS


@contextlib.contextmanager
def as_owner(alias: str = "default") -> Iterator[None]:
    """Reconnect ``alias`` as the owner role for the block, then as the runtime role again.

    Without ``MIGRATE_AS`` (a single-role deployment: ``DATABASE_MIGRATE_URL`` unset) the
    block runs on the usual connection.
    """
    connection = connections[alias]
    owner = connection.settings_dict.get("MIGRATE_AS")
    if not owner:
        yield
        return
    runtime = {key: connection.settings_dict.get(key) for key in CREDENTIALS}
    connection.close()
    connection.settings_dict.update(owner)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(runtime)
