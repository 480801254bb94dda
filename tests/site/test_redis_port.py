"""The embedded Redis keeps its port across a crash: the free-port probe binds as Redis
does (SO_REUSEADDR), so a port whose connections linger in TIME-WAIT is still free."""

from __future__ import annotations

import socket
from pathlib import Path

from aiops_site import embedded


def _port_in_time_wait() -> int:
    """A loopback port whose server side closed first, as a killed Redis leaves it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server does
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its side goes to TIME-WAIT
        client.recv(1)
        client.close()
    return port


def test_a_port_left_in_time_wait_is_reused():
    port = _port_in_time_wait()

    with socket.socket() as plain:
        try:
            plain.bind(("127.0.0.1", port))
            plain_refused = False
        except OSError:
            plain_refused = True
    assert plain_refused  # what the old probe ran into: a new port, a stale REDIS_URL

    assert embedded._free_port(port) == port


def test_a_port_really_in_use_is_not_taken():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        assert embedded._free_port(port) != port


def test_the_supervised_redis_uses_the_recorded_port(tmp_path):
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "port").write_text("6390")

    binary, config = embedded.redis_foreground_argv(tmp_path)

    text = Path(config).read_text()
    assert "port 6390" in text and "daemonize no" in text
    assert binary.endswith("redis-server")
