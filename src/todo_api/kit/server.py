"""The HTTP server: uvicorn, with its own limits (a header size limit and read
timeouts for the httptools protocol, docs/operations.md, "Limits"), and the
"ready" line logged once the port takes connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any, Literal

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import ChangeReload, Multiprocess

from todo_api.config import get_settings

logger = logging.getLogger(__name__)

ReadPhase = Literal["idle", "headers", "body"]

CHUNK_FRAMING_BYTES = 32
"""Bytes of framing allowed per chunk of a chunked body (its size line and CRLFs),
on top of ``MAX_HEADER_BYTES`` for everything else that is not data."""

HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 31\r\n"
    b"connection: close\r\n\r\nRequest header fields too large"
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a header size limit and read timeouts.

    uvicorn gives httptools neither: a request with a 64 MiB header is read
    whole (seconds of CPU, during which no other request is served), and a
    client that sends half a request line, or stops in the middle of a body,
    holds its connection for ever (``timeout_keep_alive`` only covers idle
    connections between requests). uvicorn's h11 protocol has a size limit,
    but costs more CPU on every request than this wrapper. This protocol:

    - answers 431 and closes the connection when a request's line and headers
      are still incomplete after more than ``MAX_HEADER_BYTES``. Like h11's
      limit, this is checked after each read of the socket (at most 256 KiB),
      so headers that end within the read that takes them over the limit
      are served.
    - closes the connection when the request line and headers are not
      complete ``READ_TIMEOUT_SECONDS`` after the connection opened or the
      request's first byte arrived (a deadline: a byte now and then does not
      extend it);
    - closes the connection when a body is being read and no byte of it
      arrives for ``READ_TIMEOUT_SECONDS`` (an idle timeout, so that a large
      body on a slow link goes through). While the server itself has paused
      reading (the app has not consumed what it has), the clock waits.
    - bounds what a chunked body carries besides its data: the chunk
      framing and the trailer fields together at most ``MAX_HEADER_BYTES``
      plus a few bytes a chunk, else the connection is closed. Trailer fields
      are dropped, not kept (ASGI has no request trailers), so they cost no
      memory however many a client sends.
    - gives bytes that arrive after a response and before a next request
      (a stray CRLF, the rest of a body the app did not read) the header
      deadline, since uvicorn's keep-alive timer stops at any byte.

    It follows the request through httptools' parser callbacks, calling
    uvicorn's for everything else, and uses only their public names and
    asyncio's transport API.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self._max_header_bytes = settings.max_header_bytes
        self._read_timeout_seconds = settings.read_timeout_seconds
        self._phase: ReadPhase = "idle"  # no request being read
        self._requests_begun = 0
        self._header_bytes = 0  # bytes read of the current request's line and headers
        self._read_timer: asyncio.TimerHandle | None = None
        self._timed_phase: ReadPhase | None = None
        self._body_phase_bytes = 0  # bytes read while in the body: data, framing, trailers
        self._body_data_bytes = 0  # of which data (``on_body``)
        self._chunks = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_reading()

    def data_received(self, data: bytes) -> None:
        phase, begun = self._phase, self._requests_begun
        super().data_received(data)
        if self.transport.is_closing():  # uvicorn refused the request (400)
            self._stop_read_timer()
            return
        begun = self._requests_begun - begun
        if self._phase == "headers" and (phase, begun) in (("headers", 0), ("idle", 1)):
            self._header_bytes += len(data)  # all of this read is the request's headers
            if self._header_bytes > self._max_header_bytes:
                self._stop_read_timer()
                self.transport.write(HEADERS_TOO_LARGE)
                self.transport.close()
                return
        if phase == "body" and begun == 0:  # all of this read is the request's body
            self._body_phase_bytes += len(data)
            framing = self._body_phase_bytes - self._body_data_bytes
            if framing > self._max_header_bytes + CHUNK_FRAMING_BYTES * self._chunks:
                self._stop_read_timer()
                self.transport.abort()
                return
        self._watch_reading()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._stop_read_timer()  # each request its own header deadline (pipelining)
        self._phase, self._header_bytes = "headers", 0
        self._requests_begun += 1

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._phase == "body":  # a trailer field: not kept
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._body_phase_bytes = self._body_data_bytes = self._chunks = 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_data_bytes += len(body)
        super().on_body(body)

    def on_chunk_header(self) -> None:
        """httptools calls this, when defined, at each chunk of a chunked body."""
        self._chunks += 1

    def on_message_complete(self) -> None:
        self._phase = "idle"
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_timer()
        super().connection_lost(exc)

    def _watch_reading(self) -> None:
        if self._phase == "headers" or (self._phase == "idle" and not self._requests_begun):
            if self._timed_phase != "headers":  # a deadline: started once
                self._start_read_timer("headers")
        elif self._phase == "body":  # an idle timeout: restarted by every read
            self._start_read_timer("body")
        elif self._between_requests_without_timer():
            if self._timed_phase != "headers":
                self._start_read_timer("headers")
        else:  # request read; between requests uvicorn's keep-alive timeout applies
            self._stop_read_timer()

    def _between_requests_without_timer(self) -> bool:
        """The response is sent and uvicorn's keep-alive timer is off: bytes came that
        are not yet a request (uvicorn stops its timer at any byte)."""
        cycle = self.cycle
        return (
            self.timeout_keep_alive_task is None and cycle is not None and cycle.response_complete
        )

    def _start_read_timer(self, phase: ReadPhase) -> None:
        self._stop_read_timer()
        loop = asyncio.get_running_loop()
        self._read_timer = loop.call_later(self._read_timeout_seconds, self._read_timed_out)
        self._timed_phase = phase

    def _stop_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        self._timed_phase = None

    def _read_timed_out(self) -> None:
        phase, self._read_timer, self._timed_phase = self._timed_phase, None, None
        if self.transport.get_protocol() is not self:  # handed over (WebSocket)
            return
        if not self.transport.is_reading() and not self.transport.is_closing():
            self._start_read_timer(phase or "body")  # paused by the server, not the client
            return
        # abort, not close: a client that does not send may not read either,
        # and close would wait for it to take what is buffered for it.
        self.transport.abort()


def run_server(config: uvicorn.Config, ready_message: str) -> bool:
    """Serve ``config`` as ``uvicorn.run`` does, and log ``ready_message`` (info) once
    the service takes connections.

    The app's lifespan cannot say so: uvicorn binds the port only after the
    lifespan's start-up has returned. So the line comes from the server:
    with one process, right after it listens (``ReadyServer``); with
    ``--workers N``, from the supervisor once every worker reports that it
    has started (``ReadyMultiprocess``); with ``--reload``, from each new
    server. Ctrl-C ends it quietly, as with ``uvicorn.run``.

    Returns:
        Whether it served: ``False`` when a single server stopped before
        start-up ended (uvicorn's own start-up failures exit the process).
    """
    server = ReadyServer(config, ready_message)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a quiet stop
        if config.should_reload:
            sock = config.bind_socket()
            ChangeReload(config, target=server.run, sockets=[sock]).run()
        elif config.workers > 1:
            sock = config.bind_socket()
            ReadyMultiprocess(config, [sock], ready_message).run()
        else:
            server.run()
    return server.started or config.should_reload or config.workers > 1


class ReadyServer(uvicorn.Server):
    """uvicorn's server, logging ``ready_message`` as soon as it listens."""

    def __init__(self, config: uvicorn.Config, ready_message: str) -> None:
        super().__init__(config)
        self.ready_message = ready_message

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up (the app's lifespan, then the listening sockets), then the line."""
        await super().startup(sockets=sockets)
        if self.started:
            logger.info(self.ready_message)


class ReadyMultiprocess(Multiprocess):
    """uvicorn's supervisor of ``--workers N``, logging ``ready_message`` once, when
    every worker has started (its lifespan ran and it listens on the shared socket).

    uvicorn's health check already asks each worker whether its server has
    started (``Process.is_ready``); the supervisor asks it at each of its ticks
    (half a second) until all say yes, after its own check of the workers.
    """

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket.socket], ready_message: str
    ) -> None:
        super().__init__(config, sockets)
        self.ready_message = ready_message
        self.announced = False

    def keep_subprocess_alive(self) -> None:
        """uvicorn's check of the workers, then the "ready" line if they all serve now."""
        super().keep_subprocess_alive()
        if self.announced or self.should_exit.is_set():
            return
        timeout = self.config.timeout_worker_healthcheck
        if all(process.is_ready(timeout=timeout) for process in self.processes):
            self.announced = True
            logger.info(self.ready_message)
