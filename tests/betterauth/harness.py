"""Start a real Better Auth server (Node, ``better-auth`` from npm) for tests.

The server lives in ``server.mjs`` next to this module and is configured with
the ``jwt`` (EdDSA / Ed25519 JWKS) and ``bearer`` plugins plus email/password
sign-up. Tests use it to obtain the exact tokens Better Auth issues:

* the *session token* (``set-auth-token`` header of the bearer plugin), of the
  form ``<token>.<signature>`` where ``<token>`` is ``session.token`` in the
  database and ``<signature>`` is standard base64 (with ``=`` padding) of
  HMAC-SHA256(``<token>``, ``BETTER_AUTH_SECRET``); the header value is NOT
  URL-encoded, whereas the ``better-auth.session_token`` cookie value is the
  same string URL-encoded (``+`` -> ``%2B``, ``/`` -> ``%2F``, ``=`` -> ``%3D``);
* a JWT from ``GET /api/auth/token`` (``alg`` EdDSA, ``kid`` from the JWKS at
  ``/api/auth/jwks``, ``iss`` and ``aud`` equal to the server origin,
  ``sub`` the user id, lifetime 15 minutes). ``GET /api/auth/get-session``
  also returns one in its ``set-auth-jwt`` response header.

Only the standard library and ``httpx`` are used.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HARNESS_DIR: Path = Path(__file__).resolve().parent
"""Folder holding ``package.json``, ``package-lock.json`` and ``server.mjs``."""

SESSION_COOKIE_NAME: str = "better-auth.session_token"
"""Name of Better Auth's session cookie (plain HTTP, no ``__Secure-`` prefix)."""

READY_TIMEOUT_SECONDS: float = 30.0
"""How long to wait for the server's ``READY <port>`` line."""

NPM_CI_TIMEOUT_SECONDS: float = 300.0
"""Upper bound for ``npm ci``."""

_MIN_NODE_MAJOR = 20


def _installed() -> bool:
    """Return whether ``node_modules`` already holds the pinned packages."""
    modules = HARNESS_DIR / "node_modules"
    return (modules / "better-auth" / "package.json").is_file() and (
        modules / "pg" / "package.json"
    ).is_file()


def ensure_installed() -> None:
    """Install the Node dependencies with ``npm ci`` unless already present.

    Idempotent: does nothing when ``node_modules`` already contains the pinned
    packages. Concurrent first-time calls are not guarded against.

    Raises:
        RuntimeError: ``npm`` is missing or ``npm ci`` failed (its output is
            included in the message).
    """
    if _installed():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH")
    try:
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=HARNESS_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"npm ci timed out after {NPM_CI_TIMEOUT_SECONDS:.0f} s") from exc
    if proc.returncode != 0 or not _installed():
        raise RuntimeError(
            f"npm ci failed in {HARNESS_DIR} (exit {proc.returncode}):\n"
            f"{proc.stdout}\n{proc.stderr}"
        )


def node_available() -> str | None:
    """Return a reason to skip Better Auth tests, or ``None`` if they can run.

    Checks that ``node`` (version 20 or newer) and ``npm`` are on ``PATH`` and
    that the Node dependencies are installed (running :func:`ensure_installed`
    if needed).
    """
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    if shutil.which("npm") is None:
        return "npm is not installed"
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        major = int(version.lstrip("v").split(".", 1)[0])
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        return f"cannot determine node version: {exc}"
    if major < _MIN_NODE_MAJOR:
        return f"node {version} is too old (need >= {_MIN_NODE_MAJOR})"
    try:
        ensure_installed()
    except (RuntimeError, OSError) as exc:
        return f"cannot install Better Auth node_modules: {exc}"
    return None


@dataclass(frozen=True, slots=True)
class SignedUp:
    """Result of a Better Auth email/password sign-up (or sign-in).

    Attributes:
        user_id: ``user.id`` of the new user.
        session_token: the ``set-auth-token`` header value, i.e.
            ``<token>.<base64 HMAC-SHA256 signature>``, not URL-encoded. Send it
            as ``Authorization: Bearer <session_token>``.
        session_cookie: raw value of the ``better-auth.session_token`` cookie as
            it appears in ``Set-Cookie`` (the session token, URL-encoded).
    """

    user_id: str
    session_token: str
    session_cookie: str

    @property
    def token(self) -> str:
        """The unsigned part of the session token (``session.token`` in the DB)."""
        return self.session_token.split(".", 1)[0]


def _cookie_from_set_cookie(response: httpx.Response, name: str) -> str | None:
    """Return the raw (undecoded) value of cookie ``name`` from ``Set-Cookie``."""
    prefix = f"{name}="
    for header in response.headers.get_list("set-cookie"):
        first = header.split(";", 1)[0].strip()
        if first.startswith(prefix):
            return first[len(prefix) :]
    return None


class BetterAuthServer:
    """Client for a running Better Auth test server.

    Every call is independent: no cookies are kept between requests.
    """

    def __init__(self, url: str, process: subprocess.Popen[str]) -> None:
        """Wrap the server at origin ``url`` run by ``process``."""
        self.url: str = url
        """Origin of the server, e.g. ``http://127.0.0.1:54321`` (also JWT iss/aud)."""
        self.process: subprocess.Popen[str] = process
        self._client = httpx.Client(base_url=url, timeout=15.0)

    @property
    def jwks_url(self) -> str:
        """URL of the JSON Web Key Set."""
        return f"{self.url}/api/auth/jwks"

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request without carrying cookies over between calls."""
        try:
            return self._client.request(method, path, **kwargs)
        finally:
            self._client.cookies.clear()

    @staticmethod
    def _check(response: httpx.Response) -> httpx.Response:
        """Raise ``RuntimeError`` with the body when ``response`` is not 2xx."""
        if response.is_success:
            return response
        raise RuntimeError(
            f"{response.request.method} {response.request.url} -> "
            f"{response.status_code}: {response.text}"
        )

    def _signed_up(self, response: httpx.Response) -> SignedUp:
        """Build a :class:`SignedUp` from a sign-up/sign-in response."""
        self._check(response)
        session_token = response.headers.get("set-auth-token")
        cookie = _cookie_from_set_cookie(response, SESSION_COOKIE_NAME)
        if not session_token or cookie is None:
            raise RuntimeError(f"no session token in response: headers={dict(response.headers)!r}")
        return SignedUp(
            user_id=str(response.json()["user"]["id"]),
            session_token=session_token,
            session_cookie=cookie,
        )

    def sign_up(self, email: str, password: str, name: str) -> SignedUp:
        """Create a user with email/password (``POST /api/auth/sign-up/email``).

        Passwords must be 8-128 characters (Better Auth's defaults).
        """
        response = self._request(
            "POST",
            "/api/auth/sign-up/email",
            json={"email": email, "password": password, "name": name},
        )
        return self._signed_up(response)

    def sign_in(self, email: str, password: str) -> SignedUp:
        """Open a new session for an existing user (``POST /api/auth/sign-in/email``)."""
        response = self._request(
            "POST", "/api/auth/sign-in/email", json={"email": email, "password": password}
        )
        return self._signed_up(response)

    def sign_out(self, session_token: str) -> None:
        """Revoke the session (``POST /api/auth/sign-out``); deletes its DB row."""
        self._check(
            self._request(
                "POST",
                "/api/auth/sign-out",
                headers={"Authorization": f"Bearer {session_token}"},
            )
        )

    def get_jwt(self, session_token: str) -> str:
        """Return a JWT for the session (``GET /api/auth/token`` with bearer auth).

        ``GET /api/auth/get-session`` would return the same kind of token in its
        ``set-auth-jwt`` header.
        """
        response = self._check(
            self._request(
                "GET", "/api/auth/token", headers={"Authorization": f"Bearer {session_token}"}
            )
        )
        return str(response.json()["token"])

    def get_session(self, session_token: str) -> httpx.Response:
        """Call ``GET /api/auth/get-session`` with bearer auth; returns the raw response.

        Its JSON body is ``{"session": ..., "user": ...}`` (or ``null``) and its
        ``set-auth-jwt`` header carries a JWT when the session is valid.
        """
        return self._check(
            self._request(
                "GET",
                "/api/auth/get-session",
                headers={"Authorization": f"Bearer {session_token}"},
            )
        )

    def jwks(self) -> dict[str, Any]:
        """Return the JSON Web Key Set (``GET /api/auth/jwks``)."""
        data: dict[str, Any] = self._check(self._request("GET", "/api/auth/jwks")).json()
        return data

    def rotate_key(self) -> str:
        """Make Better Auth sign new JWTs with a new key; return its ``kid``.

        Old keys stay published in the JWKS, so earlier tokens still verify.
        """
        return str(self._check(self._request("POST", "/test/rotate-key")).json()["kid"])

    def sign_jwt(self, payload: dict[str, Any]) -> str:
        """Sign ``payload`` with the current JWT key via Better Auth's ``signJWT``.

        Unset claims default like ``/api/auth/token`` (``iss``/``aud`` = origin,
        ``exp`` = now + 15 min); ``iat``/``sub`` are only set if given. Useful for
        crafting expired or otherwise unusual but genuinely signed tokens.
        """
        response = self._check(self._request("POST", "/test/sign-jwt", json={"payload": payload}))
        return str(response.json()["token"])

    def stop(self) -> None:
        """Stop the server process now (to test what happens while it is down)."""
        _stop(self.process)

    def close(self) -> None:
        """Close the HTTP client (the process is managed by the context manager)."""
        self._client.close()


def _free_port() -> int:
    """Return a currently unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[str]) -> None:
    """Terminate ``process``, killing it if it does not exit promptly."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def better_auth_server(
    database_url: str, secret: str, schema: str = "better_auth"
) -> Iterator[BetterAuthServer]:
    """Run ``node server.mjs`` on a free loopback port for the ``with`` block.

    Args:
        database_url: plain ``postgresql://user@host:port/db`` URL.
        secret: ``BETTER_AUTH_SECRET`` (use >= 32 random characters to avoid
            warnings on stderr).
        schema: PostgreSQL schema for Better Auth's tables; created and migrated
            on start (``user``, ``session``, ``account``, ``verification``,
            ``jwks``).

    Yields:
        A :class:`BetterAuthServer` for the running server.

    Raises:
        RuntimeError: node is missing, the dependencies cannot be installed, or
            the server did not print ``READY <port>`` within
            :data:`READY_TIMEOUT_SECONDS` (message includes its stderr).
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH")
    ensure_installed()

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("BETTER_AUTH_") and key != "NODE_OPTIONS"
    }
    env.update(
        {
            "PORT": str(port),
            "BETTER_AUTH_SECRET": secret,
            "BETTER_AUTH_URL": url,
            "DATABASE_URL": database_url,
            "PG_SCHEMA": schema,
            "NODE_ENV": "development",
            "BETTER_AUTH_TELEMETRY": "0",
        }
    )
    process = subprocess.Popen(
        [node, "server.mjs"],
        cwd=HARNESS_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    stdout_pipe, stderr_pipe = process.stdout, process.stderr

    ready = threading.Event()
    stderr_lines: list[str] = []
    stdout_lines: list[str] = []

    def read_stdout() -> None:
        for line in stdout_pipe:
            stdout_lines.append(line)
            if line.strip() == f"READY {port}":
                ready.set()
        ready.set()  # EOF: the process exited; the waiter checks poll().

    def read_stderr() -> None:
        for line in stderr_pipe:
            stderr_lines.append(line)

    threads = [
        threading.Thread(target=read_stdout, name="better-auth-stdout", daemon=True),
        threading.Thread(target=read_stderr, name="better-auth-stderr", daemon=True),
    ]
    for thread in threads:
        thread.start()

    server: BetterAuthServer | None = None
    try:
        ready.wait(READY_TIMEOUT_SECONDS)
        if not any(line.strip() == f"READY {port}" for line in stdout_lines):
            _stop(process)
            for thread in threads:
                thread.join(timeout=2)
            state = (
                f"exited with code {process.returncode}"
                if process.returncode is not None
                else "was stopped"
            )
            raise RuntimeError(
                f"Better Auth server on port {port} {state} before printing READY "
                f"(timeout {READY_TIMEOUT_SECONDS:.0f} s).\n"
                f"stdout:\n{''.join(stdout_lines)}\nstderr:\n{''.join(stderr_lines)}"
            )
        server = BetterAuthServer(url, process)
        yield server
    finally:
        if server is not None:
            server.close()
        _stop(process)
        for thread in threads:
            thread.join(timeout=2)
