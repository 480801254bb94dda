"""An operator's scripts for the Wagtail site, run by allow-listed remediation Commands.

Standalone (nothing of AI-Ops imported), run without a shell, as an operator would keep them
next to a deployment::

    python site_ops.py end-lock-holders postgresql://user@host/db
    python site_ops.py restart-proxy http://127.0.0.1:8404

``end-lock-holders`` ends the sessions of the site's database that sit idle in a transaction
while holding an ``ACCESS EXCLUSIVE`` lock on a table (a forgotten console session, a stuck
migration): every request waits behind them. ``restart-proxy`` asks the cache proxy's admin
port to restart it. Each prints what it did and exits non-zero when it could not act.
"""

from __future__ import annotations

import sys

HOLDERS = """
SELECT a.pid, pg_terminate_backend(a.pid)
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.state LIKE 'idle in transaction%'
  AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
              AND l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock')
"""


def end_lock_holders(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        ended = [pid for pid, done in connection.execute(HOLDERS).fetchall() if done]
    print(f"ended {len(ended)} session(s) holding exclusive locks: {ended}")
    return 0


def restart_proxy(admin_url: str) -> int:
    import httpx

    answer = httpx.post(admin_url.rstrip("/") + "/restart", timeout=10)
    print(f"proxy restart: HTTP {answer.status_code}")
    return 0 if answer.status_code == 200 else 1


if __name__ == "__main__":
    commands = {"end-lock-holders": end_lock_holders, "restart-proxy": restart_proxy}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(commands)}}} URL")
    sys.exit(commands[sys.argv[1]](sys.argv[2]))
