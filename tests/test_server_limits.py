"""Limits of the HTTP server we ship (operations.md and docs/operations.md, "Limits").

A real ``todo-api serve`` on loopback and a SQLite file: request line plus
headers over ``MAX_HEADER_BYTES`` are refused without stalling other clients
or growing the process, and a connection that does not deliver its headers,
or whose body stalls, is closed after ``READ_TIMEOUT_SECONDS``. Every socket
has a timeout and every loop a deadline, so no test runs for more than a few
seconds beyond the server's start.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SECRET
from tests.processes import Server, todo_api_server
from todo_api.config import SettingsError, load_settings

pytestmark = pytest.mark.slow

READ_TIMEOUT_SECONDS = 1.0
KEEP_ALIVE_TIMEOUT_SECONDS = 1
MIB = 1024 * 1024
PROMPT_SECONDS = 1.0
"""How long a concurrent ``/api/health`` may take while the server refuses hostile input."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module, with short read and keep-alive timeouts."""
    database = tmp_path_factory.mktemp("limits") / "limits.db"
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "BETTER_AUTH_SECRET": SECRET,
        "LOG_LEVEL": "warning",
        "READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
        "KEEP_ALIVE_TIMEOUT_SECONDS": str(KEEP_ALIVE_TIMEOUT_SECONDS),
    }
    with todo_api_server(env) as running:
        yield running


def _address(server: Server) -> tuple[str, int]:
    return "127.0.0.1", int(server.url.rsplit(":", 1)[1])


def _rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (``VmRSS`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def _send_huge_header(server: Server, header_bytes: int) -> tuple[float, bytes]:
    """Send a request whose one header holds ``header_bytes`` bytes, 1 MiB at a time.

    Returns the seconds until the server answered or closed the connection, and
    the start of its answer (``b""`` when it closed or reset without one).
    """
    started = time.monotonic()
    chunk = b"a" * MIB
    with socket.create_connection(_address(server), timeout=10) as sock:
        try:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: limits\r\nX-Huge: ")
            for _ in range(header_bytes // MIB):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError:  # reset or broken pipe: the server refused and closed
            pass
        try:
            answer = sock.recv(64)
        except OSError:
            answer = b""
    return time.monotonic() - started, answer


def _assert_refused(answer: bytes) -> None:
    """A 431 status line, or no answer at all.

    No answer when the server closed while the client was still sending: the
    reset that follows drops the answer from the client's receive queue.
    """
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer


def _seconds_until_closed(sock: socket.socket, limit: float) -> float:
    """Wait until the peer closes ``sock``; the seconds waited, or ``limit`` if it did not."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return limit
    except OSError:  # reset: closed as well
        pass
    return time.monotonic() - started


def _health_seconds(server: Server) -> float:
    started = time.monotonic()
    response = httpx.get(f"{server.url}/api/health", timeout=10)
    assert response.status_code == 200
    return time.monotonic() - started


def test_limits_have_sane_defaults_and_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("MAX_HEADER_BYTES", "READ_TIMEOUT_SECONDS", "KEEP_ALIVE_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)

    settings = load_settings()

    assert settings.max_header_bytes == 64 * 1024
    assert settings.read_timeout_seconds == 20.0
    assert settings.keep_alive_timeout_seconds == 5
    for name, bad in (
        ("MAX_HEADER_BYTES", "2000000"),
        ("READ_TIMEOUT_SECONDS", "0"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "a while"),
    ):
        monkeypatch.setenv(name, bad)
        with pytest.raises(SettingsError, match=name):
            load_settings()
        monkeypatch.delenv(name)


def test_a_large_but_sane_header_is_served(server: Server) -> None:
    cookie = "c" * (32 * 1024)  # a fat session cookie: half the default limit

    response = httpx.get(f"{server.url}/api/health", headers={"Cookie": cookie}, timeout=10)

    assert response.status_code == 200


def test_headers_past_the_limit_get_431(server: Server) -> None:
    unfinished = b"GET /api/health HTTP/1.1\r\nHost: limits\r\nX-Big: " + b"a" * (66 * 1024)
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(unfinished)  # and nothing more: the server has read it all
        answer = sock.recv(64)
        waited = _seconds_until_closed(sock, limit=3)

    assert answer.startswith(b"HTTP/1.1 431 "), answer
    assert waited < READ_TIMEOUT_SECONDS  # closed at once, not by the read timeout


def test_a_2_mib_header_is_refused_quickly_and_health_stays_prompt(server: Server) -> None:
    outcome: list[tuple[float, bytes]] = []
    sender = threading.Thread(target=lambda: outcome.append(_send_huge_header(server, 2 * MIB)))
    sender.start()
    health = [_health_seconds(server) for _ in range(5)]
    sender.join(timeout=15)

    assert not sender.is_alive()
    seconds, answer = outcome[0]
    _assert_refused(answer)
    assert seconds < 2.0
    assert max(health) < PROMPT_SECONDS, health


def test_huge_headers_do_not_grow_the_server(server: Server) -> None:
    pid = server.process.pid  # workers=1: uvicorn serves in this process
    _send_huge_header(server, 2 * MIB)  # warm the paths once
    before = _rss_mib(pid)
    assert before > 50  # the process that imported the app, not a launcher

    for size in (2 * MIB, 64 * MIB):
        senders = [
            threading.Thread(target=_send_huge_header, args=(server, size)) for _ in range(4)
        ]
        for sender in senders:
            sender.start()
        health = _health_seconds(server)
        for sender in senders:
            sender.join(timeout=15)
        assert not any(sender.is_alive() for sender in senders)
        assert health < PROMPT_SECONDS, (size, health)

    assert _rss_mib(pid) - before < 50


@pytest.mark.parametrize(
    "partial",
    [b"", b"GET /api/hea", b"GET /api/health HTTP/1.1\r\nHost: limits\r\nAccept: "],
    ids=["nothing", "half-request-line", "half-headers"],
)
def test_unfinished_headers_are_closed_after_the_read_timeout(
    server: Server, partial: bytes
) -> None:
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(partial)
        waited = _seconds_until_closed(sock, limit=READ_TIMEOUT_SECONDS + 4)

    assert READ_TIMEOUT_SECONDS - 0.2 <= waited < READ_TIMEOUT_SECONDS + 2


def test_trickled_headers_do_not_extend_the_deadline(server: Server) -> None:
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: limits\r\nX-Slow: ")
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < READ_TIMEOUT_SECONDS + 4:
            try:
                sock.sendall(b"x")
                sock.settimeout(0.2)
                closed = sock.recv(4096) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
        waited = time.monotonic() - started

    assert closed
    assert waited < READ_TIMEOUT_SECONDS + 2


def test_a_stalled_body_is_closed_after_the_read_timeout(server: Server) -> None:
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: limits\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'{"email": "slow'
        )
        waited = _seconds_until_closed(sock, limit=READ_TIMEOUT_SECONDS + 4)

    assert READ_TIMEOUT_SECONDS - 0.2 <= waited < READ_TIMEOUT_SECONDS + 2
    assert _health_seconds(server) < PROMPT_SECONDS
    assert "Traceback" not in server.log()


def test_a_slow_but_moving_body_is_read(server: Server) -> None:
    """The body timeout counts from the last byte read, not from the start of the body."""
    body = b'{"email": "moving@example.com", "password": "not-the-password"}'
    gap = READ_TIMEOUT_SECONDS / 4
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: limits\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        started = time.monotonic()
        for piece in (body[i : i + 8] for i in range(0, len(body), 8)):
            time.sleep(gap)
            sock.sendall(piece)
        answer = sock.recv(64)

    assert time.monotonic() - started > 1.5 * READ_TIMEOUT_SECONDS  # longer than one timeout
    assert answer.startswith(b"HTTP/1.1 "), answer
    assert not answer.startswith(b"HTTP/1.1 5"), answer


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(server: Server) -> None:
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: limits\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 200 ")
        waited = _seconds_until_closed(sock, limit=KEEP_ALIVE_TIMEOUT_SECONDS + 4)

    assert waited < KEEP_ALIVE_TIMEOUT_SECONDS + 2


def _read_responses(sock: socket.socket, count: int, limit: float) -> bytes:
    """What the server sent until ``count`` status lines arrived, or ``limit`` seconds."""
    received = b""
    deadline = time.monotonic() + limit
    while received.count(b"HTTP/1.1 ") < count and time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        received += chunk
    return received


def test_trailer_fields_are_bounded_and_not_kept(server: Server) -> None:
    """A chunked body's trailer section that never ends is cut: the connection is
    closed after about ``MAX_HEADER_BYTES`` of it, and the server does not grow."""
    rss_before = _rss_mib(server.process.pid)
    trailer = b"X-Trailer: " + b"t" * 1000 + b"\r\n"
    started = time.monotonic()
    sent = 0
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: limits\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n"
        )
        try:
            while sent < 64 * MIB and time.monotonic() - started < 10:
                sock.sendall(trailer * 64)
                sent += len(trailer) * 64
        except OSError:  # reset: the server closed the connection
            pass

    assert sent < 8 * MIB, f"the server took {sent / MIB:.0f} MiB of trailer fields"
    assert _rss_mib(server.process.pid) - rss_before < 50
    assert _health_seconds(server) < PROMPT_SECONDS


def test_bytes_after_a_response_get_the_header_deadline(server: Server) -> None:
    """A stray CRLF stops uvicorn's keep-alive timer; the header deadline closes it."""
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: limits\r\n\r\n")
        assert _read_responses(sock, 1, limit=5).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"\r\n")
        waited = _seconds_until_closed(sock, limit=READ_TIMEOUT_SECONDS + 4)

    assert waited < READ_TIMEOUT_SECONDS + 2


def test_a_pipelined_request_gets_its_own_header_deadline(server: Server) -> None:
    """The second request starts in the read that ends the first, late in the first's
    deadline; it is not held to the first's."""
    pause = READ_TIMEOUT_SECONDS * 0.6
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: limits\r\n")
        time.sleep(pause)
        sock.sendall(b"\r\nGET /api/health HTTP/1.1\r\n")
        time.sleep(pause)
        sock.sendall(b"Host: limits\r\n\r\n")
        received = _read_responses(sock, 2, limit=5)

    assert received.count(b"HTTP/1.1 200 ") == 2, received[:200]
