#!/usr/bin/env python3
"""Test-only HTTP adapter: serves ClickHouse's HTTP interface over an in-process chdb session.

chdb (`chdb-core` on PyPI) embeds the current ClickHouse engine but has no network listener. This
adapter lets clients of the ClickHouse HTTP interface (the official Rust `clickhouse` crate among
them) talk to that engine as to a server, so the project's ClickHouse store can be tested against
ClickHouse 26.x. It is a test tool: no authentication is checked and every query runs on one
chdb session, serialised by a lock.

What it serves (the conventions of ClickHouse's HTTP handler):
- `GET /ping`, `GET /` without a query, `GET /replicas_status`: `Ok.\\n`.
- Queries by GET or POST (Content-Length or chunked bodies, keep-alive): the text is the `query`
  URL parameter followed by the body, or the fields of a `multipart/form-data` body (`query`,
  `param_*`: how the `clickhouse` crate sends server-side parameters since 0.15.3).
  `INSERT ... FORMAT F` followed by data (the whole body when the URL's query ends with the format
  name, else what follows the name) goes to chdb's inserter; any other statement runs as a query,
  its result in `default_format` (TabSeparated by default) unless the statement has a FORMAT clause.
- `database`, `default_format` (or the headers X-ClickHouse-Database, X-ClickHouse-Format),
  `query_id`; `param_NAME` binds `{NAME:Type}` placeholders; every other URL parameter that is not
  one of ClickHouse's own handler parameters is a setting applied to that query alone, then reset
  (unknown settings fail as on a server, code 115).
- `decompress=1`: the body is a sequence of ClickHouse compressed blocks (CityHash128 checksum,
  method byte, sizes, LZ4 or uncompressed data), checked and decompressed. `compress=1`: the
  response body is sent in the same framing, in blocks of at most 1 MiB.
- `Content-Encoding` of the request (gzip, deflate, lz4) and `Accept-Encoding` of the response
  (gzip, deflate, lz4 frames) under `enable_http_compression`, whose default is the engine's (1, as
  on servers since 25.10).
- Errors: the status ClickHouse gives the error code (500 unless it is a client's error), the
  header `X-ClickHouse-Exception-Code` and the body `Code: N. DB::Exception: ...`.
- Headers of a server: X-ClickHouse-Summary, X-ClickHouse-Format, X-ClickHouse-Query-Id,
  X-ClickHouse-Timezone, X-ClickHouse-Server-Display-Name.

Unlike a server: one session serves every request (`session_id` is ignored, and a `SET` sent as a
query stays in force); GET is not read-only; a result is computed whole before it is sent (no
progress headers, no error in the middle of a stream); an insert's body is read whole before it is
inserted; external tables, sessions and the zstd, br and xz encodings are not supported; and
chdb's defaults of a few settings differ from a server's (`date_time_input_format` is
`best_effort`).

    python3 chdb_http.py --path DATA_DIR --port PORT [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import re
import struct
import sys
import threading
import urllib.parse
import uuid
import zlib
from dataclasses import dataclass, field

import lz4.block
import lz4.frame
from chdb import session as chdb_session
from clickhouse_cityhash.cityhash import CityHash128

# --- ClickHouse error codes used by the adapter itself ---------------------------------------

CHECKSUM_DOESNT_MATCH = 40
NOT_IMPLEMENTED = 48
SYNTAX_ERROR = 62
UNKNOWN_COMPRESSION_METHOD = 89
TOO_LARGE_SIZE_COMPRESSED = 270
CANNOT_DECOMPRESS = 271
UNKNOWN_SETTING = 115
STD_EXCEPTION = 1001

# The status ClickHouse's HTTP handler gives an error code (the rest answer 500), as in its
# exceptionCodeToHTTPStatus.
BAD_REQUEST_CODES = {
    6, 15, 25, 26, 27, 36, 38, 41, 44, 53, 62, 72, 117, 167, 168, 321, 376, 427,
    # The adapter's own: checksum, compression method and corrupt blocks.
    40, 89, 270, 271,
}
NOT_FOUND_CODES = {46, 47, 50, 56, 60, 63, 73, 81, 115, 336}
ERROR_STATUS = {194: 401, 192: 403, 193: 403, 497: 403, 516: 403, 48: 501, 159: 408, 381: 411}


def http_status(code: int) -> int:
    """The HTTP status of a response carrying error `code`."""
    if code in BAD_REQUEST_CODES:
        return 400
    if code in NOT_FOUND_CODES:
        return 404
    return ERROR_STATUS.get(code, 500)


# URL parameters that ClickHouse's HTTP handler reads itself: they are not settings.
RESERVED_PARAMS = {
    "query", "compress", "decompress", "user", "password", "quota_key", "query_id", "stacktrace",
    "role", "buffer_size", "wait_end_of_query", "session_id", "session_timeout", "session_check",
    "client_protocol_version", "close_session", "database", "default_format",
}

SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
CODE_IN_MESSAGE = re.compile(r"Code: (\d+)\. ")


class ClickHouseError(Exception):
    """An error answered the way ClickHouse answers it: a code and a `DB::Exception` message."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def from_engine(cls, error: Exception) -> "ClickHouseError":
        """Wraps an error raised by chdb, keeping the `Code: N. DB::Exception: ...` it carries."""
        text = str(error)
        match = CODE_IN_MESSAGE.search(text)
        if match is None:
            return cls(STD_EXCEPTION, f"std::exception: {text}")
        return cls(int(match.group(1)), text[match.end():].removeprefix("DB::Exception: "))

    def body(self, version: str) -> bytes:
        """The response body ClickHouse sends for this error."""
        message = self.message.strip()
        if "(version " not in message:
            message = f"{message} (version {version} (chdb))"
        return f"Code: {self.code}. DB::Exception: {message}\n".encode()


# --- ClickHouse compressed blocks (`compress=1` / `decompress=1`) --------------------------

METHOD_NONE = 0x02
METHOD_LZ4 = 0x82
BLOCK_HEADER = 9
CHECKSUM_SIZE = 16
MAX_COMPRESSED_SIZE = 1 << 30
RESPONSE_BLOCK_SIZE = 1 << 20


def block_checksum(block: bytes | memoryview) -> bytes:
    """CityHash128 (v1.0.2) of a block's header and data, as ClickHouse writes it (low half first)."""
    value = CityHash128(bytes(block))
    return struct.pack("<QQ", value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF)


def compress_blocks(data: bytes, block_size: int = RESPONSE_BLOCK_SIZE) -> bytes:
    """Frames `data` as ClickHouse LZ4 compressed blocks of at most `block_size` bytes each."""
    out = bytearray()
    for start in range(0, len(data), block_size):
        chunk = data[start:start + block_size]
        compressed = lz4.block.compress(chunk, store_size=False)
        block = struct.pack("<BII", METHOD_LZ4, BLOCK_HEADER + len(compressed), len(chunk)) + compressed
        out += block_checksum(block)
        out += block
    return bytes(out)


def decompress_blocks(data: bytes | memoryview):
    """Yields the decompressed contents of a sequence of ClickHouse compressed blocks."""
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        if len(view) - offset < CHECKSUM_SIZE + BLOCK_HEADER:
            raise ClickHouseError(CANNOT_DECOMPRESS, "Cannot decompress: truncated block header")
        header = view[offset + CHECKSUM_SIZE:offset + CHECKSUM_SIZE + BLOCK_HEADER]
        method, compressed_size, size = struct.unpack("<BII", header)
        if compressed_size > MAX_COMPRESSED_SIZE or compressed_size < BLOCK_HEADER:
            raise ClickHouseError(TOO_LARGE_SIZE_COMPRESSED, f"Bad compressed block size {compressed_size}")
        end = offset + CHECKSUM_SIZE + compressed_size
        if end > len(view):
            raise ClickHouseError(CANNOT_DECOMPRESS, "Cannot decompress: truncated block")
        block = view[offset + CHECKSUM_SIZE:end]
        expected = bytes(view[offset:offset + CHECKSUM_SIZE])
        actual = block_checksum(block)
        if actual != expected:
            raise ClickHouseError(
                CHECKSUM_DOESNT_MATCH,
                f"Checksum doesn't match: corrupted data. Reference: {expected.hex()}. Actual: {actual.hex()}.",
            )
        payload = block[BLOCK_HEADER:]
        if method == METHOD_LZ4:
            try:
                chunk = lz4.block.decompress(payload, uncompressed_size=size)
            except lz4.block.LZ4BlockError as error:
                raise ClickHouseError(CANNOT_DECOMPRESS, f"Cannot decompress LZ4 block: {error}") from None
        elif method == METHOD_NONE:
            chunk = bytes(payload)
        else:
            raise ClickHouseError(UNKNOWN_COMPRESSION_METHOD, f"Unknown compression method: {method:#04x}")
        if len(chunk) != size:
            raise ClickHouseError(CANNOT_DECOMPRESS, f"Block decompressed to {len(chunk)} bytes, header said {size}")
        yield chunk
        offset = end


# --- HTTP content encodings -------------------------------------------------------------------

def decode_content(data: bytes, encoding: str) -> bytes:
    """Undoes a request's `Content-Encoding`."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return data
        if encoding == "gzip":
            return gzip.decompress(data)
        if encoding == "deflate":
            return zlib.decompress(data)
        if encoding == "lz4":
            return lz4.frame.decompress(data)
    except (OSError, zlib.error, RuntimeError, EOFError) as error:
        raise ClickHouseError(CANNOT_DECOMPRESS, f"Cannot decode {encoding} body: {error}") from None
    raise ClickHouseError(UNKNOWN_COMPRESSION_METHOD, f"Unknown HTTP compression method: {encoding}")


def choose_encoding(accept: str) -> str | None:
    """The response encoding taken from `Accept-Encoding`, among those the adapter can produce."""
    offered = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for encoding in ("gzip", "deflate", "lz4"):
        if encoding in offered:
            return encoding
    return None


def encode_content(data: bytes, encoding: str, level: int = 3) -> bytes:
    """Applies a response's `Content-Encoding` (`level`: `http_zlib_compression_level`)."""
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=level)
    if encoding == "deflate":
        return zlib.compress(data, level)
    return lz4.frame.compress(data)


def parse_multipart(body: bytes, content_type_header: str) -> dict[str, str]:
    """The fields of a `multipart/form-data` body. Files (external tables) are not supported."""
    match = re.search(r'boundary="?([^";]+)"?', content_type_header)
    if match is None:
        raise ClickHouseError(STD_EXCEPTION, "multipart/form-data without a boundary")
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, str] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, separator, value = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            raise ClickHouseError(STD_EXCEPTION, "malformed multipart/form-data part")
        disposition = next((line for line in head.decode("latin-1").split("\r\n")
                            if line.lower().startswith("content-disposition:")), "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        if name is None:
            raise ClickHouseError(STD_EXCEPTION, "multipart/form-data part without a name")
        if re.search(r"\bfilename=", disposition):
            raise ClickHouseError(NOT_IMPLEMENTED, "external tables (multipart files) are not supported by the chdb adapter")
        fields[name.group(1)] = value.removesuffix(b"\r\n").decode()
    return fields


# --- SQL scanning ------------------------------------------------------------------------------

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def words(sql: str):
    """Yields (upper-cased word, start, end, paren depth) for the words of `sql` outside string
    literals, quoted identifiers and comments. A generator, so that a caller can stop before the
    data of an INSERT."""
    i, depth, n = 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            i += 1
            while i < n and sql[i] != c:
                i += 2 if sql[i] == "\\" else 1
            i += 1
        elif sql.startswith("--", i) or sql.startswith("# ", i) or sql.startswith("#!", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c == "(":
            depth += 1
            i += 1
        elif c == ")":
            depth -= 1
            i += 1
        elif c.isascii() and (c.isalpha() or c == "_"):
            match = WORD.match(sql, i)
            yield match.group().upper(), match.start(), match.end(), depth
            i = match.end()
        else:
            i += 1


@dataclass
class Statement:
    """What the adapter needs to know of a statement."""

    kind: str
    """First keyword, upper-cased (`INSERT`, `SELECT`...)."""
    format: str | None = None
    """Name in the top-level FORMAT clause, as spelt (format names are case-sensitive)."""
    format_start: int = 0
    """Offset of the FORMAT keyword."""
    format_end: int = 0
    """Offset just past the format name."""


def scan(sql: str) -> Statement:
    """Finds the kind of a statement and its FORMAT clause, stopping at an INSERT's data."""
    tokens = words(sql)
    first = next(tokens, None)
    statement = Statement(kind=first[0] if first else "")
    keyword_start = None
    for word, start, end, depth in tokens:
        if keyword_start is not None:
            statement.format, statement.format_start, statement.format_end = sql[start:end], keyword_start, end
            if statement.kind == "INSERT":
                break
            keyword_start = None
        elif depth == 0 and word == "FORMAT":
            keyword_start = start
        elif statement.kind == "INSERT" and depth == 0 and word in ("VALUES", "SELECT", "WITH"):
            break
    return statement


def insert_data_start(sql: str, format_end: int) -> int:
    """Where an INSERT's inline data starts after its format name: past spaces and tabs, and one
    line break, as ClickHouse's parser does."""
    i = format_end
    while i < len(sql) and sql[i] in " \t\f":
        i += 1
    if sql.startswith("\r", i):
        i += 1
    if sql.startswith("\n", i):
        i += 1
    return i


# --- the engine ---------------------------------------------------------------------------------

CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
}


def content_type(fmt: str) -> str:
    """The `Content-Type` ClickHouse gives a response in format `fmt`."""
    if fmt in CONTENT_TYPES:
        return CONTENT_TYPES[fmt]
    if fmt.startswith("TabSeparated") or fmt.startswith("TSV"):
        return "text/tab-separated-values; charset=UTF-8"
    if fmt.startswith("JSON"):
        return "application/json; charset=UTF-8"
    if fmt in ("Pretty", "PrettyCompact", "Vertical", "Markdown", "Null"):
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"


@dataclass
class Outcome:
    """A statement's result."""

    body: bytes = b""
    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    elapsed: float = 0.0
    result_rows: int = 0

    def summary(self) -> str:
        """The `X-ClickHouse-Summary` header: a JSON object whose values are strings."""
        return json.dumps({
            "read_rows": str(self.read_rows),
            "read_bytes": str(self.read_bytes),
            "written_rows": str(self.written_rows),
            "written_bytes": str(self.written_bytes),
            "total_rows_to_read": str(self.read_rows),
            "result_rows": str(self.result_rows if self.result_rows else self.written_rows),
            "result_bytes": str(len(self.body) if self.body else self.written_bytes),
            "elapsed_ns": str(int(self.elapsed * 1e9)),
        }, separators=(",", ":"))


@dataclass
class Request:
    """A query as the HTTP handler understood it."""

    sql: str
    default_format: str = "TabSeparated"
    database: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    insert_data: list[bytes] | None = None
    """For `INSERT ... FORMAT F` with data: the chunks of data (already decompressed)."""


def utf8(sql: bytes) -> str:
    """A statement's text; ClickHouse queries are UTF-8."""
    try:
        return sql.decode()
    except UnicodeDecodeError:
        raise ClickHouseError(SYNTAX_ERROR, "Syntax error: the query is not valid UTF-8") from None


def quote(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    """A ClickHouse quoted identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class Engine:
    """One chdb session with its data in a directory; every call is serialised by a lock."""

    def __init__(self, path: str):
        self.session = chdb_session.Session(path)
        self.lock = threading.Lock()
        row = self.session.query("SELECT version(), timezone(), currentDatabase()", "TabSeparated")
        self.version, self.timezone, self.default_database = row.bytes().decode().rstrip("\n").split("\t")
        # ClickHouse 25.10+ compresses responses by default (`enable_http_compression` = 1) when
        # the client accepts an encoding; the engine's own default is taken as the server's.
        row = self.session.query("SELECT getSetting('enable_http_compression')::String", "TabSeparated")
        self.http_compression = row.bytes().decode().strip() in ("1", "true")

    def _run(self, sql: str, fmt: str = "TabSeparated", params: dict | None = None):
        try:
            return self.session.query(sql, fmt, params=params or None)
        except Exception as error:  # chdb raises ChdbError or RuntimeError
            raise ClickHouseError.from_engine(error) from None

    def execute(self, request: Request) -> Outcome:
        """Runs a request's statement with its settings and database, then restores the session."""
        for name in request.settings:
            if not SETTING_NAME.match(name):
                raise ClickHouseError(UNKNOWN_SETTING, f"Unknown setting '{name}'")
        with self.lock:
            applied: list[str] = []
            try:
                for name, value in request.settings.items():
                    self._run(f"SET {name} = {quote(value)}")
                    applied.append(name)
                if request.database:
                    self._run(f"USE {quote_identifier(request.database)}")
                return self._execute(request)
            finally:
                for name in applied:
                    self._run(f"SET {name} = DEFAULT")
                if request.database:
                    self._run(f"USE {quote_identifier(self.default_database)}")

    def _execute(self, request: Request) -> Outcome:
        if request.insert_data is not None:
            return self._insert(request)
        result = self._run(request.sql, request.default_format, request.params)
        body = result.bytes()
        return Outcome(
            body=body,
            read_rows=result.rows_read(),
            read_bytes=result.bytes_read(),
            written_rows=result.rows_written(),
            written_bytes=result.bytes_written(),
            elapsed=result.elapsed(),
            result_rows=result.rows_read() if body else 0,
        )

    def _insert(self, request: Request) -> Outcome:
        statement = scan(request.sql)
        # chdb's inserter takes the statement without its FORMAT clause, and the format apart.
        head = request.sql[:statement.format_start].rstrip()
        try:
            inserter = self.session.send_insert(head, statement.format)
        except Exception as error:
            raise ClickHouseError.from_engine(error) from None
        try:
            for chunk in request.insert_data:
                if chunk:
                    inserter.append(chunk)
            result = inserter.finish()
        except Exception as error:
            inserter.cancel()
            raise ClickHouseError.from_engine(error) from None
        return Outcome(
            written_rows=result.rows_written,
            written_bytes=result.bytes_written,
            elapsed=result.elapsed,
        )


# --- the HTTP handler -----------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    """Serves one HTTP connection (keep-alive) in ClickHouse's conventions."""

    protocol_version = "HTTP/1.1"
    server_version = "ClickHouse-chdb-adapter"
    engine: Engine  # set on the class by `serve`

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClickHouseError(CANNOT_DECOMPRESS, "Connection closed inside a chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        url = urllib.parse.urlsplit(self.path)
        pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        params = dict(pairs)
        query_id = params.get("query_id") or str(uuid.uuid4())
        compress = params.get("compress") == "1"
        try:
            raw = self._read_body()
        except (ClickHouseError, ValueError) as error:
            self.close_connection = True
            self._send_error(error if isinstance(error, ClickHouseError) else ClickHouseError(CANNOT_DECOMPRESS, str(error)), compress, query_id)
            return
        if url.path in ("/ping", "/replicas_status") or (url.path == "/" and "query" not in params and not raw):
            self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        if url.path != "/":
            self._send(404, f"There is no handle {url.path}\n".encode(), {"Content-Type": "text/plain; charset=UTF-8"})
            return
        try:
            request = self._parse(params, raw)
            if self.server.verbose:
                print(f"query {query_id}: {request.sql!r} settings={request.settings} params={request.params}", file=sys.stderr, flush=True)
            outcome = self.engine.execute(request)
        except ClickHouseError as error:
            self._send_error(error, compress, query_id)
            return
        except Exception as error:  # a fault of the adapter: still an answer, never a dropped connection
            self._send_error(ClickHouseError(STD_EXCEPTION, f"chdb adapter: {error!r}"), compress, query_id)
            return
        statement_format = None if request.insert_data is not None else scan(request.sql).format
        fmt = statement_format or request.default_format
        body = outcome.body
        headers = {
            "Content-Type": content_type(fmt),
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Summary": outcome.summary(),
        }
        headers.update(self._server_headers(query_id))
        if compress:
            body = compress_blocks(body)
        elif request.settings.get("enable_http_compression", "1" if self.engine.http_compression else "0") in ("1", "true"):
            encoding = choose_encoding(self.headers.get("Accept-Encoding", ""))
            if encoding:
                level = request.settings.get("http_zlib_compression_level", "3")
                body = encode_content(body, encoding, int(level) if level.isdigit() else 3)
                headers["Content-Encoding"] = encoding
        self._send(200, body, headers)

    def _parse(self, params: dict[str, str], raw: bytes) -> Request:
        data = decode_content(raw, self.headers.get("Content-Encoding", ""))
        content_type_header = self.headers.get("Content-Type", "")
        if content_type_header.lower().startswith("multipart/form-data"):
            # Query parameters (and the query) sent as form fields, as the crate does since 0.15.3.
            fields = parse_multipart(data, content_type_header)
            params = dict(params)
            params["query"] = params.get("query", "") + fields.pop("query", "")
            params.update(fields)
            data = b""
        if params.get("decompress") == "1" and data:
            chunks = list(decompress_blocks(data))
        else:
            chunks = [data] if data else []
        request = Request(
            sql="",
            default_format=self.headers.get("X-ClickHouse-Format") or params.get("default_format") or "TabSeparated",
            database=self.headers.get("X-ClickHouse-Database") or params.get("database") or None,
            settings={k: v for k, v in params.items() if k not in RESERVED_PARAMS and not k.startswith("param_")},
            params={k[len("param_"):]: v for k, v in params.items() if k.startswith("param_")},
        )
        param_sql = params.get("query", "")
        head = scan(param_sql)
        if head.kind == "INSERT" and head.format and not param_sql[head.format_end:].strip():
            # `INSERT ... FORMAT F` in the URL: the body is the data, byte for byte.
            request.sql = param_sql
            request.insert_data = chunks
            return request
        # The statement may be followed by binary data: scan the bytes as Latin-1 (one character a
        # byte, so offsets are byte offsets), decode the statement itself as UTF-8.
        full = param_sql.encode() + b"".join(chunks)
        if not full.strip():
            raise ClickHouseError(SYNTAX_ERROR, "Empty query")
        statement = scan(full.decode("latin-1"))
        if statement.kind == "INSERT" and statement.format:
            request.sql = utf8(full[:statement.format_end])
            request.insert_data = [full[insert_data_start(full.decode("latin-1"), statement.format_end):]]
        else:
            request.sql = utf8(full)
        return request

    def _server_headers(self, query_id: str) -> dict[str, str]:
        return {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self.engine.timezone,
            "X-ClickHouse-Server-Display-Name": "chdb",
        }

    def _send_error(self, error: ClickHouseError, compress: bool, query_id: str):
        body = error.body(self.engine.version)
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(error.code),
        }
        headers.update(self._server_headers(query_id))
        if compress:
            body = compress_blocks(body)
        self._send(http_status(error.code), body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        else:
            self.send_header("Keep-Alive", "timeout=10")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    """A threading HTTP server whose handler threads do not keep the process alive."""

    daemon_threads = True
    verbose = False


def serve(path: str, host: str, port: int, verbose: bool = False) -> None:
    """Opens the chdb session in `path` and serves it on `host:port` until killed."""
    Handler.engine = Engine(path)
    server = Server((host, port), Handler)
    server.verbose = verbose
    print(f"chdb {Handler.engine.version} served on http://{host}:{port} (data in {path})", file=sys.stderr, flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="directory of the chdb session's data")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()
    serve(args.path, args.host, args.port, args.verbose)


if __name__ == "__main__":
    main()
