"""Property-based fuzzing of every request body, query, task id, list id and bearer token
(issue 13).

Hypothesis drives hostile input at every route of the contract through the
in-process ASGI client, so it runs on each backend of the suite: lone
surrogates (sent as ``\\ud800`` escapes in JSON, as ``%ED%A0%80`` in URLs and
forms), NUL and the other C0/C1 control characters, huge and tiny numbers
(``10**400``, ``1e400``, ``NaN``), integers written oddly (``"17.0"``,
``"+1"``, ``"1_0"``, ``" 17"``), extreme and malformed dates
(``9999-12-31T23:00:00-14:00``, leap seconds), JSON nested thousands deep,
thousands of tags, thousands of unknown keys, wrong JSON types for every
field, and valid values mixed in so that some requests succeed. Ids in bodies
and queries (a task's list and parent, a move's ``after_id``, the list and
parent filters) are also another user's, or the caller's own of the wrong kind
or written oddly (``"17.0"``, ``17e0``); another user's data stays as it was.

Most bodies, queries and token claims are built by ``mutated``: a valid object
with up to three fields spoiled (a hostile value, ``null``, a JSON value of any
type, or left out), so that a fault one field causes on its own is found and
shrunk to that field; the rest are JSON of any type, deep nesting, bytes that
are not JSON, or an odd ``Content-Type``.

Every property asserts what the contract promises for any input: never a
5xx, never a hang (``REQUEST_TIMEOUT_SECONDS``), no redirect, every 4xx in the
error envelope (``detail``, ``error_code``, ``request_id``; ``field_errors``
only on 422), and every 2xx body valid JSON. A failure names the server-side
exception (the last line of the traceback the app logged, and where it was
raised).

Bounded: ``FUZZ_MAX_EXAMPLES`` examples per property (default 100; about ten
seconds a backend when nothing fails).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import time
import traceback
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, DateTime, MetaData, String, Table, delete
from sqlmodel import SQLModel

from tests.conftest import SECRET, make_settings
from tests.helpers import ApiUser, created_table
from todo_api.kit.columns import utcnow
from todo_api.main import close_resources, create_app
from todo_api.resources import app_resources

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
MAX_URL_LENGTH = 65_000
"""httpx refuses longer URLs (and servers refuse far shorter request lines)."""
REQUEST_TIMEOUT_SECONDS = 10.0
"""A request that takes longer is reported as a hang."""

FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

TaskFactory = Callable[..., Awaitable[dict[str, Any]]]


# --- sending and checking -------------------------------------------------------------------


class _ErrorRecords(logging.Handler):
    """Collects the records with a traceback that the app logs (``logger.exception``)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """The error records the app logs during the block."""
    handler = _ErrorRecords()
    logger = logging.getLogger("todo_api")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def describe_exception(error: BaseException) -> str:
    """The traceback's last line and the innermost frame in our code (else the innermost)."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if "todo_api" in frame.filename] or frames
    where = f" (raised at {ours[-1].filename}:{ours[-1].lineno} in {ours[-1].name})" if ours else ""
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    return f"{last}{where}"


def describe_records(records: list[logging.LogRecord]) -> str:
    described = []
    for record in records:
        if record.exc_info and record.exc_info[1] is not None:
            described.append(describe_exception(record.exc_info[1]))
        else:
            described.append(record.getMessage())
    return "; ".join(described) or "nothing logged"


def shorten(value: object, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> httpx.Response:
    """Send one request and assert the contract's promises for any input (``check``).

    ``url`` is sent as written (percent escapes are kept); header values are bytes.
    """
    what = f"{method} {shorten(url, 200)} headers={shorten(headers, 200)} body={shorten(content)}"
    with server_errors() as records:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                response = await client.request(method, url, content=content, headers=headers)
        except TimeoutError:
            pytest.fail(f"hang: no answer within {REQUEST_TIMEOUT_SECONDS} s to {what}")
        except Exception as exc:  # escaped the app: the client got no response at all
            pytest.fail(f"exception out of the app for {what}: {describe_exception(exc)}")
    check(response, what, records)
    return response


ENVELOPE_KEYS = {"detail", "error_code", "request_id"}


def check(response: httpx.Response, what: str, records: list[logging.LogRecord]) -> None:
    """No 5xx, no redirect, every 4xx the error envelope, every 2xx body JSON."""
    status = response.status_code
    answer = f"{status} {shorten(response.text)}"
    assert status < 500, f"{what} -> {answer}; server: {describe_records(records)}"
    assert status < 300 or status == 304 or status >= 400, f"redirect: {what} -> {answer}"
    if status >= 400:
        content_type = response.headers.get("content-type", "")
        assert content_type.startswith("application/json"), f"{what} -> {answer} ({content_type})"
        body = response.json()
        assert isinstance(body, dict), f"not the envelope: {what} -> {answer}"
        expected = ENVELOPE_KEYS | ({"field_errors"} if status == 422 else set())
        assert ENVELOPE_KEYS <= set(body) <= expected, f"not the envelope: {what} -> {answer}"
        assert isinstance(body["detail"], str) and body["detail"], f"{what} -> {answer}"
        assert isinstance(body["error_code"], str) and body["error_code"], f"{what} -> {answer}"
        assert body["request_id"] == response.headers.get("x-request-id"), f"{what} -> {answer}"
        if body["error_code"] == "VALIDATION_ERROR":
            errors = body.get("field_errors")
            assert isinstance(errors, dict) and errors, f"no field_errors: {what} -> {answer}"
            assert all(
                isinstance(messages, list) and all(isinstance(m, str) for m in messages)
                for messages in errors.values()
            ), f"{what} -> {answer}"
    elif status in (200, 201):
        response.json()  # a success body is JSON


# --- building requests ----------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text sent as written: literals ``json.dumps`` does not write (``1e400``,
    ``-0``, a number of 5,000 digits)."""

    text: str


@dataclass(frozen=True)
class FromNow:
    """A Unix time ``seconds`` from when the request is sent (token claims)."""

    seconds: int


@dataclass(frozen=True)
class Known:
    """A value the test knows only when it runs (an account's email, Alice's id)."""

    name: str


KNOWN_EMAIL = Known("email")
KNOWN_PASSWORD = Known("password")
ALICE_ID = Known("alice_id")
TASK_ID = Known("task_id")
STORED_SESSION = Known("session")
ALICE_LIST = Known("alice_list")
INBOX = Known("inbox")
OTHER_LIST = Known("other_list")
PARENT = Known("parent")
SUBTASK = Known("subtask")
BOB_LIST = Known("bob_list")
BOB_TASK = Known("bob_task")
BOBS_DATA = Known("bobs_data")


@dataclass(frozen=True)
class Spelled:
    """A known id written another way: ``form`` with ``{}`` for the id (``"{}.0"``,
    ``"+{}"``), as a JSON string, or as JSON text written as it is when ``raw``
    (``17.0``, ``17e0``)."""

    known: Known
    form: str
    raw: bool = False


def resolve(value: Any, known: Mapping[Known, Any]) -> Any:
    """``value`` with each ``Known`` replaced by what ``known`` says it is."""
    if isinstance(value, Known):
        return known[value]
    if isinstance(value, Spelled):
        text = value.form.format(known[value.known])
        return Raw(text) if value.raw else text
    if isinstance(value, dict):
        return {key: resolve(item, known) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, known) for item in value]
    return value


def to_json(value: Any, ascii_only: bool = True) -> str:
    """JSON text of ``value``; lone surrogates become ``\\ud800`` escapes when
    ``ascii_only`` (else they stay raw and are encoded with ``surrogatepass``)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, FromNow):
        return str(int(time.time()) + value.seconds)
    if isinstance(value, dict):
        items = (
            to_json(str(k), ascii_only) + ":" + to_json(v, ascii_only) for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item, ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def encode_json(value: Any, ascii_only: bool = True) -> bytes:
    return to_json(value, ascii_only).encode("utf-8", "surrogatepass")


def utf8(value: str | bytes) -> bytes:
    """Text as UTF-8, lone surrogates included (as a client that does not check would)."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def url_quote(value: str | bytes) -> str:
    return quote(utf8(value), safe="")


def form_quote(value: str | bytes) -> str:
    return quote_plus(utf8(value), safe="")


Headers = list[tuple[bytes, bytes]]
JSON: Headers = [(b"content-type", b"application/json")]


def bearer(token: str) -> Headers:
    return [(b"authorization", f"Bearer {token}".encode())]


@dataclass(frozen=True)
class Body:
    """A request body: a JSON value to encode (``ascii_only``: surrogates as escapes,
    else as raw bytes), or bytes sent as they are; and its ``Content-Type``."""

    content: Any
    content_type: bytes = b"application/json"
    ascii_only: bool = True

    def encoded(self, known: Mapping[Known, Any] | None = None) -> bytes:
        if isinstance(self.content, bytes):
            return self.content
        return encode_json(resolve(self.content, known or {}), self.ascii_only)

    def headers(self, base: Headers | None = None) -> Headers:
        return [*(base or []), (b"content-type", self.content_type)]


# --- strategies: values ---------------------------------------------------------------------

SPECIAL_CHARACTERS = [
    *"\x00\x01\x08\x0b\x0c\r\x1b\x1f\x7f\x80\x85\x9f",
    *"\ud800\udbff\udc00\udfff",
    *"\u200b\u2028\u202e\ufeff\ufffe\uffff\U0010ffff\U0001f642",
    *"\t\n %_\\'\"<>&/.@",
    "\u0301",  # combining acute accent
    "\uff41",  # fullwidth a
    "\u0130",  # I with dot above: lower() makes two code points of it
    "\ufb03",  # ffi ligature
    "\u00df",
]
INTEGER_FORMS = [
    "17.0",
    "+1",
    "1_0",
    " 17",
    "17 ",
    "017",
    "0",
    "-0",
    "-1",
    "1e2",
    "0x11",
    "0b1",
    "\u0661\u0667",  # Arabic-Indic 17
    "\uff11\uff17",  # fullwidth 17
    "17\x00",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    str(10**400),
    "1" * 5000,
    "1.5",
    "",
]
NAN_LIKE = ["NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "-inf", "1e400", "null", "true"]
SPECIAL_STRINGS = [
    *INTEGER_FORMS,
    *NAN_LIKE,
    " ",
    "\t\n",
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\udfff\ud800",
    "\x00",
    "a\x00b",
    "\x85",
    "' OR '1'='1",
    "%",
    "_",
    "\\",
    "../../etc/passwd",
]

GROWING = ["\u0130", "\ufdfa", "\ufb03"]
"""Characters that grow when normalised: ``"\\u0130".lower()`` is two code points,
NFKC makes 18 of ``"\\ufdfa"`` and three of the ``ffi`` ligature (``"\\ufb03"``)."""

short_plain = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=20
)
plain_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=60
).filter(str.strip)
characters = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.characters(max_codepoint=0x9F),  # ASCII, C0 and C1 controls
    st.sampled_from(SPECIAL_CHARACTERS),
)
spiked_text = st.builds(
    lambda head, spike, tail: head + spike + tail,
    short_plain,
    st.one_of(st.sampled_from(SPECIAL_CHARACTERS), st.characters(categories=["Cs", "Cc"])),
    short_plain | st.just(""),
)
"""Valid text with one hostile character in it."""
long_text = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["x", "\ud800", "\x00", "\u00e9", "\U0001f642", " ", "a\x85"]),
    st.sampled_from(
        [29, 30, 31, 64, 65, 99, 100, 101, 128, 129, 199, 200, 201, 320, 321, 1000, 1001,
         1024, 1025, 5000, 100_000]
    ),
)  # fmt: skip
growing_text = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(GROWING),
    st.sampled_from([1, 16, 30, 51, 100, 101, 200]),
)
"""Text within a length limit (tag 30, name 100, title 200) that outgrows it when
lower-cased or normalised."""
hostile_text = st.one_of(
    spiked_text,
    st.text(characters, max_size=40),
    st.sampled_from(SPECIAL_STRINGS),
    long_text,
    growing_text,
)
HUGE_NUMBERS: list[Any] = [
    10**400,
    -(10**400),
    -(10**30),
    2**63,
    2**63 - 1,
    -(2**63) - 1,
    2**64,
    0,
    -1,
    1,
    1e308,
    -1e308,
    5e-324,
    0.5,
    17.0,
    -0.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1E-400"),
    Raw("-0"),
    Raw("1" + "0" * 5000),
    Raw("0." + "0" * 5000 + "1"),
]
numbers = st.one_of(st.integers(), st.floats(), st.sampled_from(HUGE_NUMBERS))
scalars = st.one_of(st.none(), st.booleans(), numbers, hostile_text)
any_json = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(characters, max_size=10), children, max_size=4),
    ),
    max_leaves=8,
)
"""A JSON value of any type: the wrong type for every field, most of the time."""

EXTREME_DATES = [
    "9999-12-31T23:00:00-14:00",
    "9999-12-31T23:59:59.999999-00:01",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+00:01",
    "0001-01-01T00:00:00Z",
    "2016-12-31T23:59:60Z",
    "1990-12-31T23:59:60+01:00",
    "2026-11-20T17:05:60.5Z",
    "2024-02-29T12:00:00+05:45",
    "2026-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-11-20T24:00:00Z",
    "2026-11-20T17:05:00+24:00",
    "2026-11-20T17:05:00+23:59",
    "2026-11-20T17:05:00-23:59",
    "2026-11-20T17:05:00+99:99",
    "2026-11-20",
    "2026-11-20T17:05:00",
    "2026-11-20 17:05:00Z",
    "2026-11-20t17:05:00z",
    "20261120T170500Z",
    "2026-11-20T17:05:00.1234567890123Z",
    "+002026-11-20T17:05:00Z",
    "10000-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2026-W47-5",
    "now",
    "",
    "T",
    "253402300800",
    "-62135596801",
    "1e400",
    "NaN",
]
DATE_NUMBERS: list[Any] = [
    0,
    -1,
    10**10,
    10**12,
    10**20,
    10**400,
    1e308,
    -1e308,
    float("nan"),
    253402300799,
    253402300800,
    -62135596800,
    -62135596801,
    Raw("1e400"),
]


def rfc3339(moment: datetime, offset_minutes: int, fraction: bool) -> str:
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = moment.isoformat(timespec="microseconds" if fraction else "seconds")
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


valid_dates = st.builds(
    rfc3339,
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)),
    st.sampled_from([0, 0, 60, -300, 330, 345, -600]),
    st.booleans(),
)
date_strings = st.one_of(
    st.sampled_from(EXTREME_DATES),
    st.builds(
        rfc3339,
        st.datetimes(),
        st.integers(-(24 * 60) + 1, 24 * 60 - 1) | st.sampled_from([-14 * 60, 14 * 60]),
        st.booleans(),
    ),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
)
hostile_dates = st.one_of(date_strings, date_strings, st.sampled_from(DATE_NUMBERS), hostile_text)

valid_tag = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=30
).filter(str.strip)
hostile_tags = st.one_of(
    st.builds(lambda tags, bad: [*tags, bad], st.lists(valid_tag, max_size=3), hostile_text),
    st.builds(lambda tags, bad: [*tags, bad], st.lists(valid_tag, max_size=3), growing_text),
    st.lists(st.one_of(valid_tag, hostile_text), min_size=1, max_size=12),
    st.lists(valid_tag, min_size=11, max_size=15),
    st.integers(11, 5000).map(lambda count: [f"tag{i}" for i in range(count)]),
    st.integers(11, 3000).map(lambda count: ["\ud800"] * count),
    st.lists(any_json, min_size=1, max_size=3),
)
hostile_booleans = st.sampled_from(["true", "false", 0, 1, "1", "yes", "on", 1.0, "\ud800"])
hostile_priorities = st.sampled_from(["LOW", "High", " high", "urgent", "", "\ud800", "low\x00"])

valid_emails = st.one_of(
    st.uuids().map(lambda u: f"fuzz-{u.hex[:12]}@example.com"),
    st.uuids().map(lambda u: f"  Fuzz-{u.hex[:12]}@Example.COM "),
    st.emails(),
)
hostile_emails = st.one_of(
    st.builds(lambda local: f"{local}@example.com", spiked_text),
    st.builds(lambda domain: f"fuzz@{domain}.com", spiked_text),
    st.sampled_from(
        [
            "Ada@X.io",
            "jose\u0301@example.com",
            "\uff41\uff44\uff41@example.com",
            "a@b",
            "@",
            "a@example.com\x00",
            "a\x00@example.com",
            "a\ud800@example.com",
            "a@\ud800.com",
            "\u0130@example.com",
            "x" * 65 + "@example.com",
            "x@" + "d" * 320 + ".com",
            "x" * 100_000 + "@example.com",
        ]
    ),
    hostile_text,
)
valid_passwords = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=8, max_size=64
)
hostile_passwords = st.one_of(
    st.builds(lambda text: text + "\ud800" + "x" * 8, short_plain),
    st.builds(lambda text: text + "\x00" + "x" * 8, short_plain),
    hostile_text,
    st.sampled_from([129, 1025, 100_000]).map(lambda n: "p" * n),
)


class Spoil(Enum):
    """How ``mutated`` spoils a field of a valid object."""

    HOSTILE = "hostile"
    NULL = "null"
    ANY_JSON = "any JSON value"
    ABSENT = "absent"


SPOILS = [Spoil.HOSTILE, Spoil.HOSTILE, Spoil.HOSTILE, Spoil.NULL, Spoil.ANY_JSON, Spoil.ABSENT]


@st.composite
def mutated(
    draw: st.DrawFn,
    valid: Mapping[str, st.SearchStrategy[Any]],
    hostile: Mapping[str, st.SearchStrategy[Any]],
    required: Iterable[str] = (),
    spoils: Sequence[Spoil] = SPOILS,
) -> dict[str, Any]:
    """A valid object (``required`` fields and some of the others), then up to three
    of its fields spoiled (mostly one): a hostile value, ``null``, a JSON value of any
    type, or left out. One fault at a time is what finds the failure that a field alone
    causes (with two, the other's 422 hides it); no fault is a request that succeeds."""
    needed = set(required)
    value = {
        name: draw(strategy)
        for name, strategy in valid.items()
        if name in needed or draw(st.booleans())
    }
    count = min(draw(st.sampled_from([1, 1, 1, 0, 2, 3])), len(hostile))  # mostly one fault
    names = st.lists(st.sampled_from(sorted(hostile)), min_size=count, max_size=count, unique=True)
    for name in draw(names):
        spoil = draw(st.sampled_from(spoils))
        if spoil is Spoil.ABSENT:
            value.pop(name, None)
        elif spoil is Spoil.NULL:
            value[name] = None
        elif spoil is Spoil.ANY_JSON:
            value[name] = draw(any_json)
        else:
            value[name] = draw(hostile[name])
    return value


# --- strategies: bodies ---------------------------------------------------------------------

unknown_fields = st.one_of(
    st.dictionaries(st.text(characters, max_size=20), any_json, min_size=1, max_size=3),
    st.sampled_from(["id", "user_id", "created_at", "completed_at", "__proto__"]).map(
        lambda key: {key: 1}
    ),
    st.integers(20, 20_000).map(lambda count: {f"k{i}": i for i in range(count)}),
)
ODD_BODIES: list[bytes] = [
    b"[" * 5000 + b"]" * 5000,
    b'{"title":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b"[" * 100_000,
    b"",
    b" ",
    b"null",
    b"[]",
    b"{}",
    b'"x"',
    b"1e400",
    b"NaN",
    b"[" + b"1," * 50_000 + b"1]",
    b'{"title":"a","title":"b"}',
    b'\xef\xbb\xbf{"title":"x"}',
    b'{"title":"\xff"}',
    b'{"title":"\xed\xa0\x80"}',  # a surrogate as raw (CESU-8) bytes
    b'{"name":"\xed\xa0\x80"}',
    b'{"title":"x"}\x00',
    b'{"title":"\\ud800"}',
    b'{"title":"\\u0000"}',
    '{"title":"x"}'.encode("utf-16"),
    b"\x00" * 64,
]
CONTENT_TYPES: list[bytes] = [
    b"application/json; charset=utf-8",
    b"application/json; charset=latin-1",
    b"application/merge-patch+json",
    b"APPLICATION/JSON",
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"application/json\xff",
    b"",
]


def json_bodies(objects: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Body]:
    """Bodies for a JSON route: mostly ``objects`` as JSON (with raw UTF-8 at times),
    else with unknown keys, JSON of any type, deep nesting, bytes that are not JSON,
    or an odd ``Content-Type``."""
    ascii_only = st.sampled_from([True, True, True, False])
    return st.one_of(
        st.builds(Body, objects, st.just(b"application/json"), ascii_only),
        st.builds(Body, objects, st.just(b"application/json"), ascii_only),
        st.builds(Body, objects, st.just(b"application/json"), ascii_only),
        st.builds(Body, objects, st.just(b"application/json"), ascii_only),
        st.builds(Body, st.builds(lambda o, u: {**u, **o}, objects, unknown_fields)),
        st.builds(Body, any_json, st.just(b"application/json"), ascii_only),
        st.builds(Body, st.sampled_from(ODD_BODIES)),
        st.builds(Body, objects, st.sampled_from(CONTENT_TYPES)),
    )


signup_bodies = json_bodies(
    mutated(
        {"email": valid_emails, "password": valid_passwords, "name": plain_text},
        {"email": hostile_emails, "password": hostile_passwords, "name": hostile_text},
        required=["email", "password"],
    )
)
login_bodies = json_bodies(
    mutated(
        {
            "email": st.just(KNOWN_EMAIL) | valid_emails,
            "password": st.just(KNOWN_PASSWORD) | valid_passwords,
        },
        {"email": hostile_emails, "password": hostile_passwords},
        required=["email", "password"],
    )
)
profile_bodies = json_bodies(mutated({"name": plain_text}, {"name": hostile_text}))
TASK_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "title": plain_text,
    "description": plain_text | st.none(),
    "completed": st.booleans(),
    "priority": st.sampled_from(["low", "medium", "high"]),
    "due_date": valid_dates | st.none(),
    "tags": st.lists(valid_tag, max_size=10),
}
HOSTILE_TASK_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "title": hostile_text,
    "description": hostile_text,
    "completed": hostile_booleans,
    "priority": hostile_priorities,
    "due_date": hostile_dates,
    "tags": hostile_tags,
}
task_bodies = json_bodies(mutated(TASK_FIELDS, HOSTILE_TASK_FIELDS, required=["title"]))
patch_bodies = json_bodies(mutated(TASK_FIELDS, HOSTILE_TASK_FIELDS))
complete_bodies = st.one_of(
    st.none(),  # no body: toggle
    json_bodies(mutated({"completed": st.booleans()}, {"completed": hostile_booleans})),
)

# --- strategies: forms, queries, paths ------------------------------------------------------

FORM_FIELDS = ["username", "password", "grant_type", "scope", "client_id", "client_secret"]
token_forms = st.builds(
    lambda fields, extra: [*fields.items(), *extra],
    mutated(
        {
            "username": st.just(KNOWN_EMAIL) | valid_emails,
            "password": st.just(KNOWN_PASSWORD) | valid_passwords,
            "grant_type": st.just("password"),
            "scope": st.sampled_from(["", "me tasks"]),
        },
        {
            "username": hostile_emails | st.binary(max_size=20),
            "password": hostile_passwords | st.binary(max_size=20),
            "grant_type": hostile_text,
            "scope": hostile_text,
            "client_id": hostile_text,
            "client_secret": hostile_text,
        },
        required=["username", "password"],
        spoils=[Spoil.HOSTILE, Spoil.HOSTILE, Spoil.ABSENT],
    ),
    st.lists(
        st.tuples(st.sampled_from(FORM_FIELDS) | hostile_text, hostile_text), max_size=2
    ),  # repeated and unknown fields
)
ODD_FORMS: list[bytes] = [
    b"username",
    b"=&=",
    b"%",
    b"username=%ZZ&password=%",
    b"username=a&username=b&password=x&password=y",
    b"username=%00&password=%00",
    b"username=%ED%A0%80&password=%ED%A0%80",
    b"username=%C3%28&password=%FF",
    b"&&&&",
    b"username=" + b"a" * 500_000 + b"&password=x",
    b"a=" + b"&a=" * 20_000,
    b'{"username":"a","password":"b"}',
    b"\xff\xfe",
]
FORM_CONTENT_TYPES: list[bytes] = [
    b"application/x-www-form-urlencoded",
    b"application/x-www-form-urlencoded",
    b"application/x-www-form-urlencoded",
    b"application/x-www-form-urlencoded; charset=latin-1",
    b"multipart/form-data; boundary=x",
    b"multipart/form-data",
    b"application/json",
    b"text/plain",
    b"",
]

QUERY: dict[str, st.SearchStrategy[Any]] = {
    "status": st.sampled_from(["all", "pending", "completed"]),
    "priority": st.sampled_from(["low", "medium", "high"]),
    "tag": valid_tag | st.just("home"),
    "q": plain_text | st.just("milk"),
    "due_before": valid_dates,
    "due_after": valid_dates,
    "sort": st.sampled_from(
        ["created_at", "created", "updated_at", "due_date", "priority", "title"]
    ),
    "order": st.sampled_from(["asc", "desc"]),
    "page": st.integers(1, 5).map(str),
    "page_size": st.integers(1, 100).map(str),
}
hostile_query_value = st.one_of(
    hostile_text, st.sampled_from([*INTEGER_FORMS, *NAN_LIKE]), st.binary(max_size=12)
)
HOSTILE_QUERY: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(QUERY, hostile_query_value),
    "due_before": date_strings | hostile_query_value,
    "due_after": date_strings | hostile_query_value,
    "page": st.one_of(st.integers(-5, 2**70).map(str), hostile_query_value),
    "page_size": st.one_of(st.integers(-5, 200).map(str), hostile_query_value),
    "sort": st.sampled_from(["position", "id", "CREATED_AT", "title,id"]) | hostile_query_value,
    "order": st.sampled_from(["ASC", "up", ""]) | hostile_query_value,
    "status": st.sampled_from(["ALL", "done", ""]) | hostile_query_value,
}
query_pairs = st.builds(
    lambda fields, extra, tags: [*fields.items(), *extra, *tags],
    mutated(QUERY, HOSTILE_QUERY, spoils=[Spoil.HOSTILE]),
    st.lists(
        st.tuples(
            st.sampled_from([*QUERY, "cursor", "list_id", "parent_id", "tag[]"]) | hostile_text,
            hostile_query_value,
        ),
        max_size=2,
    ),  # repeated and unknown parameters
    st.one_of(
        st.just([]),
        st.just([]),
        st.integers(2, 3000).map(lambda count: [("tag", f"t{i}") for i in range(count)]),
    ),
)

task_ids = st.one_of(
    st.just(TASK_ID),
    st.sampled_from(INTEGER_FORMS),
    st.integers(-(2**70), 2**70).map(str),
    hostile_text,
    st.binary(min_size=1, max_size=12),
)
PATH_OPERATIONS: list[tuple[str, str]] = [
    ("GET", ""),
    ("PUT", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("PATCH", "/complete"),
    ("POST", ""),
    ("GET", "/complete"),
]

# --- strategies: lists, places and manual order ---------------------------------------------

ALICES_IDS = [TASK_ID, PARENT, SUBTASK, ALICE_LIST, INBOX, OTHER_LIST]
"""Alice's ids (tasks and lists), each of which is the wrong kind of id somewhere."""
ID_FORMS = ["{}", "{}.0", "+{}", " {}", "{} ", "{}\t", "{}e0", "0x{:x}", "0_{}", "-{}", "{}\x00"]
RAW_ID_FORMS = ["{}.0", "{}e0", "{}.000000000000000001", "-{}", "{}E+0", "{}0000000000000000000"]
spelled_ids = st.one_of(
    st.builds(Spelled, st.sampled_from(ALICES_IDS), st.sampled_from(ID_FORMS)),
    st.builds(Spelled, st.sampled_from(ALICES_IDS), st.sampled_from(RAW_ID_FORMS), st.just(True)),
)
"""Alice's own ids written as text, or as JSON numbers that are not integers."""
hostile_ids = st.one_of(
    st.sampled_from([BOB_LIST, BOB_TASK]),
    st.sampled_from(ALICES_IDS),
    spelled_ids,
    st.sampled_from(INTEGER_FORMS),
    st.integers(-(2**70), 2**70),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(HUGE_NUMBERS),
    st.sampled_from(NAN_LIKE),
    st.floats(),
    st.booleans(),
    hostile_text,
    st.lists(st.sampled_from(ALICES_IDS), min_size=1, max_size=2),
)
"""An id in a JSON body: Bob's ids, Alice's of the wrong kind (or the very task or list
the request is about), written oddly, out of range, of the wrong type."""

PLACE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "list_id": st.sampled_from([ALICE_LIST, ALICE_LIST, INBOX, OTHER_LIST]),
    "parent_id": st.sampled_from([PARENT, None, None]),
}
"""Valid places, mostly: ``PARENT`` is in ``ALICE_LIST`` (until an example moves it)."""
HOSTILE_PLACE_FIELDS = dict.fromkeys(PLACE_FIELDS, hostile_ids)
placed_task_bodies = json_bodies(
    mutated({**TASK_FIELDS, **PLACE_FIELDS}, HOSTILE_PLACE_FIELDS, required=["title"])
)
placed_patch_bodies = json_bodies(mutated({**TASK_FIELDS, **PLACE_FIELDS}, HOSTILE_PLACE_FIELDS))
MOVE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **PLACE_FIELDS,
    "after_id": st.sampled_from([None, None, TASK_ID, PARENT, SUBTASK]),
}
task_move_bodies = json_bodies(mutated(MOVE_FIELDS, dict.fromkeys(MOVE_FIELDS, hostile_ids)))
list_move_bodies = json_bodies(
    mutated(
        {"after_id": st.sampled_from([None, INBOX, ALICE_LIST, OTHER_LIST])},
        {"after_id": hostile_ids},
    )
)
list_bodies = json_bodies(mutated({"name": plain_text}, {"name": hostile_text}, required=["name"]))
rename_bodies = json_bodies(mutated({"name": plain_text}, {"name": hostile_text}))

MOVED_TASKS = [TASK_ID, PARENT, SUBTASK]
"""The tasks a move or a write with a place is about: top level in the inbox, a parent
in another list, and its subtask (as they are before the first example moves them)."""

NONE_SPELLINGS = [
    "None", "NONE", "null", "Null", "nil", " none", "none ", "none\x00", "nonE",
    "\uff4e\uff4f\uff4e\uff45", "no ne", "'none'", '"none"', "none,1", "none&parent_id=1",
    "[]", "0", "-1", "", "\ud800",
]  # fmt: skip
"""``parent_id`` values that are neither ``none`` nor a task id: 422."""
query_ids = st.one_of(
    st.sampled_from([BOB_LIST, BOB_TASK]),
    spelled_ids.map(lambda spelled: Spelled(spelled.known, spelled.form)),
    st.integers(-(2**70), 2**70).map(str),
    hostile_query_value,
)
"""An id in a query string: Bob's, Alice's written oddly, out of range, hostile text."""
PLACE_QUERY: dict[str, st.SearchStrategy[Any]] = {
    "list_id": st.sampled_from([ALICE_LIST, INBOX, OTHER_LIST]),
    "parent_id": st.sampled_from([PARENT, TASK_ID, "none", "none"]),
    "sort": st.sampled_from(["position", "position", "title"]),
    "order": QUERY["order"],
    "status": QUERY["status"],
    "priority": QUERY["priority"],
    "q": QUERY["q"],
    "page": QUERY["page"],
    "page_size": QUERY["page_size"],
}
HOSTILE_PLACE_QUERY: dict[str, st.SearchStrategy[Any]] = {
    "list_id": query_ids | st.just("none"),
    "parent_id": st.sampled_from(NONE_SPELLINGS) | query_ids,
    "sort": HOSTILE_QUERY["sort"] | st.sampled_from(["Position", "position ", "manual"]),
    "order": HOSTILE_QUERY["order"],
}
place_query_pairs = st.builds(
    lambda fields, tags, extra: [*fields.items(), *tags, *extra],
    mutated(PLACE_QUERY, HOSTILE_PLACE_QUERY, spoils=[Spoil.HOSTILE]),
    st.lists(
        st.tuples(
            st.just("tag"),
            st.one_of(valid_tag, st.sampled_from(["home", "HOME", " home "]), hostile_query_value),
        ),
        max_size=15,
    ),  # the tag filter, repeated up to 15 times (10 is the limit)
    st.lists(
        st.tuples(st.sampled_from(["list_id", "parent_id", "sort", "tag[]"]), query_ids),
        max_size=2,
    ),  # a filter repeated (the last one counts) or misnamed
)
PAGE_QUERY = {"page": QUERY["page"], "page_size": QUERY["page_size"]}
page_query_pairs = st.builds(
    lambda fields, extra: [*fields.items(), *extra],
    mutated(PAGE_QUERY, {name: HOSTILE_QUERY[name] for name in PAGE_QUERY}, spoils=[Spoil.HOSTILE]),
    st.lists(
        st.tuples(
            st.sampled_from(["page", "page_size", "tag", "sort", "q", "list_id"]) | hostile_text,
            hostile_query_value,
        ),
        max_size=3,
    ),  # repeated and unknown parameters (a list or tag filter is not one here)
)
PAGED_ROUTES = ["lists", "tags"]

list_ids = st.one_of(
    st.sampled_from([ALICE_LIST, INBOX, BOB_LIST, TASK_ID]),
    st.sampled_from(INTEGER_FORMS),
    st.integers(-(2**70), 2**70).map(str),
    hostile_text,
    st.binary(min_size=1, max_size=12),
)
LIST_PATH_OPERATIONS: list[tuple[str, str, bytes | None]] = [
    ("GET", "", None),
    ("PATCH", "", b'{"name": "Renamed"}'),
    ("DELETE", "", None),
    ("POST", "/move", b'{"after_id": null}'),
    ("POST", "/move", b"{}"),
    ("PUT", "", b'{"name": "Renamed"}'),
    ("POST", "", b'{"name": "Renamed"}'),
    ("GET", "/move", None),
    ("PATCH", "/move", b"{}"),
]


# --- strategies: tokens ---------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Jwt:
    """A JWT-shaped token: header and claims as JSON values, HS256-signed with
    ``SECRET`` (or with a wrong signature), base64 padded or not."""

    header: Any
    claims: Any
    signed: bool
    padded: bool = False

    def token(self, known: Mapping[Known, Any]) -> bytes:
        head = b64url(encode_json(self.header))
        body = b64url(encode_json(resolve(self.claims, known)))
        if self.padded:
            head, body = head + "==", body + "="
        signing_input = f"{head}.{body}".encode()
        digest = hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
        signature = b64url(digest) if self.signed else "c2lnbmF0dXJl"
        return f"{head}.{body}.{signature}".encode()


hostile_times = st.one_of(
    st.sampled_from(HUGE_NUMBERS),
    st.sampled_from([FromNow(-3600), FromNow(10**9)]),
    hostile_text,
)
jwt_headers = st.one_of(
    mutated(
        {"alg": st.just("HS256"), "typ": st.just("JWT")},
        {
            "alg": st.sampled_from(["none", "RS256", "EdDSA", "hs256", "HS512"]) | hostile_text,
            "typ": hostile_text,
            "kid": hostile_text,
            "crit": st.just(["exp"]),
        },
        required=["alg"],
    ),
    any_json,
)
jwt_claims = mutated(
    {
        "sub": st.just(ALICE_ID) | st.from_regex(r"[A-Za-z0-9]{32}", fullmatch=True),
        "exp": st.integers(60, 10**6).map(FromNow),
        "iat": st.just(FromNow(0)),
        "nbf": st.just(FromNow(-10)),
        "email": valid_emails,
        "name": plain_text,
    },
    {
        "sub": hostile_text,
        "exp": hostile_times,
        "iat": hostile_times,
        "nbf": hostile_times,
        "email": hostile_emails,
        "name": hostile_text,
        "iss": hostile_text,
        "aud": hostile_text,
    },
    required=["sub", "exp"],
)
signed_jwts = st.builds(Jwt, st.just({"alg": "HS256", "typ": "JWT"}), jwt_claims, st.just(True))
"""Tokens that pass the signature check: what their claims say is what the app trusts."""
jwts = st.one_of(
    signed_jwts,
    signed_jwts,
    signed_jwts,
    st.builds(
        Jwt,
        jwt_headers,
        jwt_claims | any_json,
        st.sampled_from([True, True, False]),
        st.booleans(),
    ),
)
header_safe = st.binary(max_size=60).filter(lambda raw: not set(raw) & set(b"\r\n\x00"))
garbage_tokens = st.one_of(
    header_safe,
    hostile_text.map(utf8).filter(lambda raw: not set(raw) & set(b"\r\n\x00")),
    st.sampled_from([8 * 1024, 64 * 1024, 256 * 1024]).map(lambda size: b"a" * size),
    st.sampled_from([b"a.b.c", b"..", b"a..", b"x.%C3%A9", b"x.%ZZ", b"%", b"x.\xc3\xa9"]),
)
"""Tokens that are not JWTs: bytes (no CR, LF or NUL, which no HTTP server lets
through), hostile text as UTF-8, huge ones, and session-token shapes."""
authorization_headers = st.one_of(
    jwts,
    jwts,
    garbage_tokens.map(lambda token: b"Bearer " + token),
    st.sampled_from(
        [b"Bearer", b"Bearer ", b"bearer x", b"Basic YTpi", b"Bearer  x", b"Bearer x y", b""]
    ),
)
TOKEN_ROUTES = ["/api/auth/me", "alice's tasks", "the subject's tasks"]


def session_token(value: str) -> str:
    """``value.signature`` signed as Better Auth's bearer plugin does."""
    digest = hmac.new(SECRET.encode(), utf8(value), hashlib.sha256).digest()
    return f"{value}.{base64.b64encode(digest).decode()}"


session_values = st.one_of(st.text(characters, max_size=30), spiked_text, hostile_text)
"""What a session token signs: text with the characters a database refuses, mostly."""
session_tokens = st.one_of(
    garbage_tokens,
    session_values.map(lambda value: url_quote(session_token(value)).encode()),
    session_values.map(lambda value: url_quote(session_token(value)).encode()),
    session_values.map(lambda value: utf8(session_token(value))).filter(
        lambda raw: not set(raw) & set(b"\r\n\x00")
    ),
    st.builds(
        lambda value, signature: f"{value}.{url_quote(signature)}".encode(),
        st.text(st.characters(max_codepoint=127), min_size=1, max_size=10),
        st.one_of(hostile_text, st.binary(max_size=12)),
    ),
    st.just(STORED_SESSION),  # the stored session's token, signed: accepted
)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
async def account(client: httpx.AsyncClient) -> dict[Known, Any]:
    """A signed-up account whose email and password the login strategies mix in."""
    email, password = "fuzz-known@example.com", "correct horse battery"
    response = await client.post(
        "/api/auth/signup", json={"email": email, "password": password, "name": "Fuzz"}
    )
    assert response.status_code == 201, response.text
    return {KNOWN_EMAIL: email, KNOWN_PASSWORD: password}


@pytest.fixture
async def task(alice: ApiUser, make_task: TaskFactory) -> dict[str, Any]:
    """One of Alice's tasks (and two more, so that listings have something to find)."""
    await make_task(alice, title="Buy milk", tags=["home"], due_date="2026-11-21T09:00:00Z")
    await make_task(alice, title="Pay rent", priority="high", completed=True)
    return await make_task(alice, title="Call mom", description="Sunday")


@pytest.fixture
async def places(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    task: dict[str, Any],
    make_task: TaskFactory,
) -> dict[Known, Any]:
    """Alice's inbox (where ``task`` is) and two more lists, a parent task with a
    subtask in the first of them; and Bob's list and task, which Alice may not name."""

    async def new_list(user: ApiUser, name: str) -> int:
        url = f"/api/{user.id}/lists"
        response = await client.post(url, json={"name": name}, headers=user.headers)
        assert response.status_code == 201, response.text
        return int(response.json()["data"]["id"])

    listed = await client.get(f"/api/{alice.id}/lists", headers=alice.headers)
    assert listed.status_code == 200, listed.text
    (inbox,) = [each["id"] for each in listed.json()["data"] if each["is_inbox"]]
    alice_list = await new_list(alice, "Groceries")
    other_list = await new_list(alice, "Work")
    parent = await make_task(alice, title="Party", list_id=alice_list, tags=["home"])
    subtask = await make_task(alice, title="Cake", parent_id=parent["id"])
    bob_list = await new_list(bob, "Bob's")
    bob_task = await make_task(bob, title="Bob's task", list_id=bob_list, tags=["secret"])
    return {
        BOBS_DATA: await bobs_data(client, bob),
        TASK_ID: task["id"],
        INBOX: inbox,
        ALICE_LIST: alice_list,
        OTHER_LIST: other_list,
        PARENT: parent["id"],
        SUBTASK: subtask["id"],
        BOB_LIST: bob_list,
        BOB_TASK: bob_task["id"],
    }


async def bobs_data(client: httpx.AsyncClient, bob: ApiUser) -> list[Any]:
    """Bob's tasks, lists and tags as his listings show them."""
    found = []
    for route in ["tasks", "lists", "tags"]:
        response = await client.get(f"/api/{bob.id}/{route}", headers=bob.headers)
        assert response.status_code == 200, response.text
        found.append(response.json())
    return found


SESSION_TABLE = "fuzz_ba_session"
SESSION_USER = "FuzzSessionUser0123456789abcdefg"


@pytest.fixture
async def session_client(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client of an app that also takes Better Auth session tokens, with one live
    session stored; yields the client and that session's token value."""
    settings = make_settings(
        database_url,
        better_auth_session_tokens=True,
        better_auth_session_table=SESSION_TABLE,
        better_auth_session_columns="camel",
    )
    application = create_app(settings)
    table = Table(
        SESSION_TABLE,
        MetaData(),
        Column("token", String, primary_key=True),
        Column("userId", String, nullable=False),
        Column("expiresAt", DateTime(timezone=True), nullable=False),
    )
    engine = app_resources(application).database.engine
    value = "fuzzsessiontokenvalue0123456789"
    try:
        async with created_table(application, table):
            async with engine.begin() as connection:
                await connection.execute(
                    table.insert().values(
                        token=value, userId=SESSION_USER, expiresAt=utcnow() + timedelta(days=365)
                    )
                )
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield http, value
    finally:
        async with engine.begin() as connection:
            for each in reversed(SQLModel.metadata.sorted_tables):
                await connection.execute(delete(each))
        await close_resources(application)


# --- properties: accounts -------------------------------------------------------------------


@FUZZ
@given(body=signup_bodies)
async def test_signup_bodies(client: httpx.AsyncClient, body: Body) -> None:
    await send(client, "POST", "/api/auth/signup", content=body.encoded(), headers=body.headers())


@FUZZ
@given(body=login_bodies)
async def test_login_bodies(
    client: httpx.AsyncClient, account: dict[Known, Any], body: Body
) -> None:
    content = body.encoded(account)
    await send(client, "POST", "/api/auth/login", content=content, headers=body.headers())


@FUZZ
@given(
    form=st.one_of(token_forms, token_forms, token_forms, st.sampled_from(ODD_FORMS)),
    content_type=st.sampled_from(FORM_CONTENT_TYPES),
)
async def test_token_forms(
    client: httpx.AsyncClient,
    account: dict[Known, Any],
    form: list[tuple[str, Any]] | bytes,
    content_type: bytes,
) -> None:
    if isinstance(form, list):
        pairs = [(name, resolve(value, account)) for name, value in form]
        form = "&".join(f"{form_quote(name)}={form_quote(value)}" for name, value in pairs).encode()
    headers = [(b"content-type", content_type)]
    await send(client, "POST", "/api/auth/token", content=form, headers=headers)


@FUZZ
@given(body=profile_bodies, read_first=st.booleans())
async def test_profile_bodies(
    client: httpx.AsyncClient, alice: ApiUser, body: Body, read_first: bool
) -> None:
    headers = bearer(alice.token)
    if read_first:
        await send(client, "GET", "/api/auth/me", headers=headers)
    content = body.encoded()
    await send(client, "PATCH", "/api/auth/me", content=content, headers=body.headers(headers))
    await send(client, "GET", "/api/auth/me", headers=headers)


# --- properties: tasks ----------------------------------------------------------------------


@FUZZ
@given(body=task_bodies)
async def test_create_task_bodies(client: httpx.AsyncClient, alice: ApiUser, body: Body) -> None:
    headers = body.headers(bearer(alice.token))
    created = await send(client, "POST", alice.tasks_url, content=body.encoded(), headers=headers)
    if created.status_code == 201:  # what was stored reads back, alone and in the list
        await send(client, "GET", created.headers["location"], headers=bearer(alice.token))
        await send(client, "GET", alice.tasks_url, headers=bearer(alice.token))


@FUZZ
@given(body=task_bodies)
async def test_replace_task_bodies(
    client: httpx.AsyncClient, alice: ApiUser, task: dict[str, Any], body: Body
) -> None:
    url = f"{alice.tasks_url}/{task['id']}"
    headers = body.headers(bearer(alice.token))
    await send(client, "PUT", url, content=body.encoded(), headers=headers)
    await send(client, "GET", url, headers=bearer(alice.token))


@FUZZ
@given(body=patch_bodies)
async def test_update_task_bodies(
    client: httpx.AsyncClient, alice: ApiUser, task: dict[str, Any], body: Body
) -> None:
    url = f"{alice.tasks_url}/{task['id']}"
    headers = body.headers(bearer(alice.token))
    await send(client, "PATCH", url, content=body.encoded(), headers=headers)
    await send(client, "GET", url, headers=bearer(alice.token))


@FUZZ
@given(body=complete_bodies)
async def test_complete_task_bodies(
    client: httpx.AsyncClient, alice: ApiUser, task: dict[str, Any], body: Body | None
) -> None:
    url = f"{alice.tasks_url}/{task['id']}/complete"
    if body is None:
        await send(client, "PATCH", url, headers=bearer(alice.token))
    else:
        headers = body.headers(bearer(alice.token))
        await send(client, "PATCH", url, content=body.encoded(), headers=headers)


@FUZZ
@given(pairs=query_pairs)
async def test_list_queries(
    client: httpx.AsyncClient,
    alice: ApiUser,
    task: dict[str, Any],
    pairs: list[tuple[str | bytes, str | bytes]],
) -> None:
    query = "&".join(f"{url_quote(name)}={url_quote(value)}" for name, value in pairs)
    url = f"{alice.tasks_url}?{query}"
    assume(len(url) <= MAX_URL_LENGTH)
    await send(client, "GET", url, headers=bearer(alice.token))


@FUZZ
@given(task_id=task_ids, operation=st.sampled_from(PATH_OPERATIONS))
async def test_task_ids_in_the_path(
    client: httpx.AsyncClient,
    alice: ApiUser,
    task: dict[str, Any],
    task_id: str | bytes | Known,
    operation: tuple[str, str],
) -> None:
    method, suffix = operation
    segment = url_quote(str(resolve(task_id, {TASK_ID: task["id"]})))
    if isinstance(task_id, bytes):
        segment = url_quote(task_id)
    content = b'{"title": "Renamed"}' if method in {"PUT", "PATCH", "POST"} else None
    headers = [*bearer(alice.token), *JSON] if content else bearer(alice.token)
    url = f"{alice.tasks_url}/{segment}{suffix}"
    assume(len(url) <= MAX_URL_LENGTH)
    await send(client, method, url, content=content, headers=headers)


ODD_INTEGER_FORMS = ["{}.0", "+{}", " {}", "{} ", "{}\t", "{}e0", "0x{:x}", "0_{}"]


@FUZZ
@given(
    form=st.sampled_from(ODD_INTEGER_FORMS),
    fullwidth=st.booleans(),
    operation=st.sampled_from(PATH_OPERATIONS[:5]),
)
async def test_task_ids_and_pages_in_odd_forms_are_422(
    client: httpx.AsyncClient,
    alice: ApiUser,
    task: dict[str, Any],
    form: str,
    fullwidth: bool,
    operation: tuple[str, str],
) -> None:
    """The contract ("Details"): a task id or ``page`` that is not a positive 64-bit
    integer (written in digits) is 422, however Python would read it."""
    text = form.format(task["id"])
    if fullwidth:
        text = text.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    method, suffix = operation
    content = b'{"title": "Renamed"}' if method in {"PUT", "PATCH"} else None
    headers = [*bearer(alice.token), *JSON] if content else bearer(alice.token)
    url = f"{alice.tasks_url}/{url_quote(text)}{suffix}"
    response = await send(client, method, url, content=content, headers=headers)
    assert response.status_code in (404, 422), f"{method} {url} -> {response.status_code}"
    for name in ["page", "page_size"]:
        url = f"{alice.tasks_url}?{name}={url_quote(text)}"
        listed = await send(client, "GET", url, headers=bearer(alice.token))
        assert listed.status_code == 422, f"{name}={text!r} -> {listed.status_code}"


@dataclass(frozen=True)
class TextTarget:
    """Where a text value goes (a request built around it) and its limit in characters."""

    name: str
    limit: int
    method: str
    path: str  # "{tasks}", "{task}", "{lists}" and "{value}" are filled in
    body: Any  # a JSON value whose "{value}" strings are filled in, or None

    def request(self, alice: ApiUser, task_id: int, value: str) -> tuple[str, bytes | None]:
        def fill(item: Any) -> Any:
            if isinstance(item, str):
                return item.replace("{value}", value)
            if isinstance(item, dict):
                return {key: fill(each) for key, each in item.items()}
            if isinstance(item, list):
                return [fill(each) for each in item]
            return item

        path = self.path.format(
            tasks=alice.tasks_url,
            task=f"{alice.tasks_url}/{task_id}",
            lists=f"/api/{alice.id}/lists",
            value=url_quote(value),
        )
        return path, None if self.body is None else encode_json(fill(self.body))


TEXT_TARGETS = [
    TextTarget("title", 200, "POST", "{tasks}", {"title": "{value}"}),
    TextTarget("description", 1000, "POST", "{tasks}", {"title": "t", "description": "{value}"}),
    TextTarget("tag", 30, "POST", "{tasks}", {"title": "t", "tags": ["{value}"]}),
    TextTarget("PUT title and tag", 30, "PUT", "{task}", {"title": "{value}", "tags": ["{value}"]}),
    TextTarget("PATCH tags", 30, "PATCH", "{task}", {"tags": ["a", "{value}"]}),
    TextTarget("profile name", 100, "PATCH", "/api/auth/me", {"name": "{value}"}),
    TextTarget("q", 200, "GET", "{tasks}?q={value}", None),
    TextTarget("tag filter", 30, "GET", "{tasks}?tag={value}", None),
    TextTarget("tag filters", 30, "GET", "{tasks}?tag=home&tag={value}&sort=position", None),
    TextTarget("list name", 100, "POST", "{lists}", {"name": "{value}"}),
    TextTarget(
        "signup email and name",
        64,
        "POST",
        "/api/auth/signup",
        {"email": "{value}@example.com", "password": "password1", "name": "{value}"},
    ),
    TextTarget(
        "login email", 320, "POST", "/api/auth/login", {"email": "{value}", "password": "x"}
    ),
]


def growing(unit: str, limit: int, shape: str) -> str:
    """Text of at most ``limit`` characters made with ``unit``: all of it, half and one
    more (past the limit when each grows to two), or one at the end."""
    if shape == "all":
        return unit * limit
    if shape == "half":
        return unit * (limit // 2 + 1)
    return "x" * (limit - 1) + unit


@FUZZ
@given(
    target=st.sampled_from(TEXT_TARGETS),
    unit=st.sampled_from(GROWING),
    shape=st.sampled_from(["all", "half", "last"]),
)
async def test_text_that_grows_when_normalised(
    client: httpx.AsyncClient,
    alice: ApiUser,
    task: dict[str, Any],
    target: TextTarget,
    unit: str,
    shape: str,
) -> None:
    """Text within its limit that outgrows it when lower-cased (tags, emails) or
    NFKC-normalised (emails): a 2xx or a 4xx, never a 5xx from a column's limit."""
    url, content = target.request(alice, task["id"], growing(unit, target.limit, shape))
    headers = bearer(alice.token) if content is None else [*bearer(alice.token), *JSON]
    await send(client, target.method, url, content=content, headers=headers)


# --- properties: lists, places, manual order and tags ---------------------------------------


def assert_field_errors(response: httpx.Response) -> None:
    """A 422 of these routes (no ``Idempotency-Key`` is sent) is a validation error
    that names its fields."""
    if response.status_code == 422:
        body = response.json()
        assert body["error_code"] == "VALIDATION_ERROR", response.text
        assert isinstance(body.get("field_errors"), dict) and body["field_errors"], response.text


async def send_json(
    client: httpx.AsyncClient,
    token: str,
    method: str,
    url: str,
    body: Body,
    known: Mapping[Known, Any],
) -> httpx.Response:
    """``send`` ``body`` (its ``Known`` ids resolved) with ``token``; ``assert_field_errors``."""
    headers = body.headers(bearer(token))
    response = await send(client, method, url, content=body.encoded(known), headers=headers)
    assert_field_errors(response)
    return response


def lists_url(user: ApiUser) -> str:
    return f"/api/{user.id}/lists"


def query_string(pairs: Iterable[tuple[Any, Any]], known: Mapping[Known, Any]) -> str:
    """``pairs`` as a query string, ``Known`` ids resolved, every name and value escaped."""

    def text(value: Any) -> str | bytes:
        resolved = resolve(value, known)
        return resolved if isinstance(resolved, str | bytes) else str(resolved)

    return "&".join(f"{url_quote(text(name))}={url_quote(text(value))}" for name, value in pairs)


@FUZZ
@given(body=list_bodies)
async def test_create_list_bodies(
    client: httpx.AsyncClient, alice: ApiUser, places: dict[Known, Any], body: Body
) -> None:
    created = await send_json(client, alice.token, "POST", lists_url(alice), body, places)
    if created.status_code == 201:  # what was stored reads back, alone and in the list
        await send(client, "GET", created.headers["location"], headers=bearer(alice.token))
        await send(client, "GET", lists_url(alice), headers=bearer(alice.token))


@FUZZ
@given(body=rename_bodies, which=st.sampled_from([ALICE_LIST, INBOX]))
async def test_rename_list_bodies(
    client: httpx.AsyncClient,
    alice: ApiUser,
    places: dict[Known, Any],
    body: Body,
    which: Known,
) -> None:
    url = f"{lists_url(alice)}/{places[which]}"
    await send_json(client, alice.token, "PATCH", url, body, places)
    await send(client, "GET", url, headers=bearer(alice.token))


@FUZZ
@given(body=list_move_bodies, which=st.sampled_from([ALICE_LIST, INBOX, OTHER_LIST]))
async def test_move_list_bodies(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    places: dict[Known, Any],
    body: Body,
    which: Known,
) -> None:
    url = f"{lists_url(alice)}/{places[which]}"
    await send_json(client, alice.token, "POST", f"{url}/move", body, places)
    await send(client, "GET", url, headers=bearer(alice.token))
    listed = await send(client, "GET", lists_url(alice), headers=bearer(alice.token))
    assert listed.status_code == 200
    assert await bobs_data(client, bob) == places[BOBS_DATA]


@FUZZ
@given(body=task_move_bodies, which=st.sampled_from(MOVED_TASKS))
async def test_move_task_bodies(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    places: dict[Known, Any],
    body: Body,
    which: Known,
) -> None:
    url = f"{alice.tasks_url}/{places[which]}"
    moved = await send_json(client, alice.token, "POST", f"{url}/move", body, places)
    await send(client, "GET", url, headers=bearer(alice.token))
    if moved.status_code == 200:  # the new place reads back in the manual order
        task = moved.json()["data"]
        parent = "none" if task["parent_id"] is None else task["parent_id"]
        query = f"list_id={task['list_id']}&parent_id={parent}&sort=position&order=asc"
        listed = await send(
            client, "GET", f"{alice.tasks_url}?{query}", headers=bearer(alice.token)
        )
        assert task["id"] in [each["id"] for each in listed.json()["data"]], listed.text
    assert await bobs_data(client, bob) == places[BOBS_DATA]


@FUZZ
@given(
    request=st.one_of(
        st.tuples(st.just("POST"), st.just(None), placed_task_bodies),
        st.tuples(st.just("PUT"), st.sampled_from(MOVED_TASKS), placed_task_bodies),
        st.tuples(st.just("PATCH"), st.sampled_from(MOVED_TASKS), placed_patch_bodies),
    )
)
async def test_task_bodies_with_a_place(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    places: dict[Known, Any],
    request: tuple[str, Known | None, Body],
) -> None:
    """Create, replace and update bodies that name a list and a parent: Alice's, Bob's,
    the wrong kind of id, written oddly, out of range, of the wrong type."""
    method, which, body = request
    url = alice.tasks_url if which is None else f"{alice.tasks_url}/{places[which]}"
    written = await send_json(client, alice.token, method, url, body, places)
    if written.status_code in (200, 201):  # what was stored reads back, alone and in the list
        location = written.headers.get("location", url)
        await send(client, "GET", location, headers=bearer(alice.token))
        await send(client, "GET", alice.tasks_url, headers=bearer(alice.token))
    assert await bobs_data(client, bob) == places[BOBS_DATA]


@FUZZ
@given(pairs=place_query_pairs)
async def test_list_queries_by_place_and_order(
    client: httpx.AsyncClient,
    alice: ApiUser,
    places: dict[Known, Any],
    pairs: list[tuple[Any, Any]],
) -> None:
    """``list_id``, ``parent_id`` (``none`` and its odd spellings), the tag filter
    repeated up to 15 times, and the manual and title orders."""
    url = f"{alice.tasks_url}?{query_string(pairs, places)}"
    assume(len(url) <= MAX_URL_LENGTH)
    listed = await send(client, "GET", url, headers=bearer(alice.token))
    assert_field_errors(listed)
    if listed.status_code == 200:  # never one of Bob's tasks
        found = {each["id"] for each in listed.json()["data"]}
        assert places[BOB_TASK] not in found, listed.text


@FUZZ
@given(pairs=page_query_pairs, route=st.sampled_from(PAGED_ROUTES))
async def test_list_and_tag_page_queries(
    client: httpx.AsyncClient,
    alice: ApiUser,
    places: dict[Known, Any],
    pairs: list[tuple[Any, Any]],
    route: str,
) -> None:
    url = f"/api/{alice.id}/{route}?{query_string(pairs, places)}"
    assume(len(url) <= MAX_URL_LENGTH)
    listed = await send(client, "GET", url, headers=bearer(alice.token))
    assert_field_errors(listed)
    if listed.status_code == 200 and route == "tags":  # never one of Bob's tags
        names = [each["name"] for each in listed.json()["data"]]
        assert "secret" not in names, listed.text


@FUZZ
@given(list_id=list_ids, operation=st.sampled_from(LIST_PATH_OPERATIONS))
async def test_list_ids_in_the_path(
    client: httpx.AsyncClient,
    alice: ApiUser,
    places: dict[Known, Any],
    list_id: str | bytes | Known,
    operation: tuple[str, str, bytes | None],
) -> None:
    method, suffix, content = operation
    segment = url_quote(list_id if isinstance(list_id, bytes) else str(resolve(list_id, places)))
    headers = [*bearer(alice.token), *JSON] if content is not None else bearer(alice.token)
    url = f"{lists_url(alice)}/{segment}{suffix}"
    assume(len(url) <= MAX_URL_LENGTH)
    response = await send(client, method, url, content=content, headers=headers)
    assert_field_errors(response)
    if list_id == BOB_LIST and method in {"GET", "PATCH", "DELETE", "POST"}:
        assert response.status_code in (404, 405), f"{method} {url} -> {response.text}"


ODD_FORM_TARGETS: list[tuple[str, str, Known | None, bytes | None]] = [
    ("GET", "{lists}/{value}", ALICE_LIST, None),
    ("PATCH", "{lists}/{value}", ALICE_LIST, b'{"name": "Renamed"}'),
    ("DELETE", "{lists}/{value}", ALICE_LIST, None),
    ("POST", "{lists}/{value}/move", ALICE_LIST, b"{}"),
    ("POST", "{tasks}/{value}/move", PARENT, b"{}"),
    ("GET", "{tasks}?list_id={value}", ALICE_LIST, None),
    ("GET", "{tasks}?parent_id={value}", PARENT, None),
    ("GET", "{lists}?page={value}", None, None),
    ("GET", "{lists}?page_size={value}", None, None),
    ("GET", "{tags}?page={value}", None, None),
    ("GET", "{tags}?page_size={value}", None, None),
]
"""Where an id or a page number goes, and which (``None``: 1)."""


@FUZZ
@given(
    form=st.sampled_from(ODD_INTEGER_FORMS),
    fullwidth=st.booleans(),
    target=st.sampled_from(ODD_FORM_TARGETS),
)
async def test_list_ids_filters_and_pages_in_odd_forms_are_422(
    client: httpx.AsyncClient,
    alice: ApiUser,
    places: dict[Known, Any],
    form: str,
    fullwidth: bool,
    target: tuple[str, str, Known | None, bytes | None],
) -> None:
    """As for task ids: a list id in the path, a ``list_id`` or ``parent_id`` filter,
    or a list or tag ``page`` that is not a positive integer written in digits is 422
    (in the path, 404 at most), however Python would read it."""
    method, path, which, content = target
    text = form.format(1 if which is None else places[which])
    if fullwidth:
        text = text.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    url = path.format(
        tasks=alice.tasks_url,
        lists=lists_url(alice),
        tags=f"/api/{alice.id}/tags",
        value=url_quote(text),
    )
    headers = [*bearer(alice.token), *JSON] if content is not None else bearer(alice.token)
    response = await send(client, method, url, content=content, headers=headers)
    allowed = (422,) if "?" in path else (404, 422)
    assert response.status_code in allowed, f"{method} {url} -> {response.status_code}"
    assert_field_errors(response)


@FUZZ
@given(spelling=st.sampled_from(NONE_SPELLINGS))
async def test_parent_filter_is_none_or_a_task_id(
    client: httpx.AsyncClient, alice: ApiUser, places: dict[Known, Any], spelling: str
) -> None:
    """``parent_id=none`` is the top level; any other spelling of it is 422."""
    url = f"{alice.tasks_url}?parent_id={url_quote(spelling)}"
    response = await send(client, "GET", url, headers=bearer(alice.token))
    assert response.status_code == 422, f"parent_id={spelling!r} -> {response.text}"
    assert_field_errors(response)
    top = await send(
        client, "GET", f"{alice.tasks_url}?parent_id=none", headers=bearer(alice.token)
    )
    assert places[SUBTASK] not in [each["id"] for each in top.json()["data"]], top.text


# --- properties: bearer tokens --------------------------------------------------------------


@FUZZ
@given(header=authorization_headers, route=st.sampled_from(TOKEN_ROUTES))
async def test_bearer_tokens(
    client: httpx.AsyncClient, alice: ApiUser, header: Jwt | bytes, route: str
) -> None:
    known: dict[Known, Any] = {ALICE_ID: alice.id}
    value = b"Bearer " + header.token(known) if isinstance(header, Jwt) else header
    url = route
    if route == "alice's tasks":
        url = alice.tasks_url
    elif route == "the subject's tasks":
        claims = resolve(header.claims, known) if isinstance(header, Jwt) else None
        sub = claims.get("sub") if isinstance(claims, dict) else None
        url = f"/api/{url_quote(sub if isinstance(sub, str) else 'x')}/tasks"
        assume(len(url) <= MAX_URL_LENGTH)
    await send(client, "GET", url, headers=[(b"authorization", value)] if value else [])


@FUZZ
@given(token=session_tokens, route=st.sampled_from(["/api/auth/me", f"/api/{SESSION_USER}/tasks"]))
async def test_session_tokens(
    session_client: tuple[httpx.AsyncClient, str], token: bytes | Known, route: str
) -> None:
    client, stored = session_client
    raw = session_token(stored).encode() if isinstance(token, Known) else token
    await send(client, "GET", route, headers=[(b"authorization", b"Bearer " + raw)])
