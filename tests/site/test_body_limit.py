"""Oversized bodies are refused before they are read: raw sockets against a real uvicorn.

The client sends in 64 KiB pieces and looks for an answer between pieces, so what it has
sent when the answer comes is (within a piece or two) what the server read.
"""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from django.conf import settings

from tests.site.test_stack import ROOT, _free_port
from tests.support import process_env

pytestmark = pytest.mark.django_db(transaction=True)

PIECE = 64 * 1024
FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "aiops_site.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "off", "--no-access-log"],
        cwd=ROOT, env=process_env(LOG_FORMAT="text"), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, "uvicorn exited"
            try:
                httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Outcome:
    status: int
    body_bytes_sent: int
    answer: bytes


def _answered(sock: socket.socket, wait: float) -> bool:
    return bool(select.select([sock], [], [], wait)[0])


def send(address: str, head: str, pieces: Iterator[bytes]) -> Outcome:
    """Send the head, then body pieces until the server answers or closes; count the body."""
    host, port = address.split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIECE)  # little hidden buffering
    sent = 0
    try:
        sock.sendall(head.encode())
        for piece in pieces:
            if _answered(sock, 0.005):
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        _answered(sock, 10)
        answer = sock.recv(65536)
    finally:
        sock.close()
    return Outcome(int(answer.split(b" ", 2)[1]), sent, answer)


def plain(total: int) -> Iterator[bytes]:
    for _ in range(total // PIECE):
        yield b"x" * PIECE


def chunked(total: int) -> Iterator[bytes]:
    for _ in range(total // PIECE):
        yield b"%x\r\n%s\r\n" % (PIECE, b"x" * PIECE)
    yield b"0\r\n\r\n"


def test_it_refuses_a_declared_50_mb_body_without_a_token_before_reading_it(server):
    head = (f"POST /api/v1/events HTTP/1.1\r\nHost: {server}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {FIFTY_MB}\r\n\r\n")  # fmt: skip

    outcome = send(server, head, plain(FIFTY_MB))

    print(f"declared 50 MB: HTTP {outcome.status} after {outcome.body_bytes_sent} body bytes")
    assert outcome.status == 413  # before authentication (no token would be a 401)
    assert outcome.body_bytes_sent <= settings.INGEST_MAX_BODY_BYTES


def test_it_stops_reading_a_streamed_50_mb_body_past_the_limit(server):
    head = (
        f"POST /api/v1/events HTTP/1.1\r\nHost: {server}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    outcome = send(server, head, chunked(FIFTY_MB))

    print(f"chunked 50 MB: HTTP {outcome.status} after {outcome.body_bytes_sent} bytes")
    assert outcome.status == 413
    # The limit, plus the piece that crossed it and one in flight.
    assert outcome.body_bytes_sent <= settings.INGEST_MAX_BODY_BYTES + 3 * (PIECE + 16)


def test_it_refuses_a_health_check_declaring_500_mb(server):
    head = f"GET /health HTTP/1.1\r\nHost: {server}\r\nContent-Length: {500 * 1024 * 1024}\r\n\r\n"

    outcome = send(server, head, plain(500 * 1024 * 1024))

    print(f"GET /health with 500 MB: HTTP {outcome.status} after {outcome.body_bytes_sent} bytes")
    assert outcome.status == 413
    assert outcome.body_bytes_sent <= settings.REQUEST_MAX_BODY_BYTES


def test_it_refuses_a_content_length_that_is_not_a_number(server):
    head = f"POST /api/v1/events HTTP/1.1\r\nHost: {server}\r\nContent-Length: 1e9\r\n\r\n"

    outcome = send(server, head, iter(()))

    assert outcome.status in {400, 413}  # uvicorn's parser or the guard: never read


def test_a_small_streamed_body_still_reaches_authentication(server):
    head = (
        f"POST /api/v1/events HTTP/1.1\r\nHost: {server}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    outcome = send(server, head, iter([b"2\r\n{}\r\n0\r\n\r\n"]))

    assert outcome.status == 401  # under the limit the request goes on to the token check
