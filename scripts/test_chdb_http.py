"""Tests of the chdb HTTP adapter (scripts/chdb_http.py) over real HTTP, as a ClickHouse client
sees it. The compressed-block framing is built here from ClickHouse's format (checked against the
bytes that the official Rust crate's own test expects), not taken from the adapter.

Uses the adapter at $DNMA_CHDB_URL when set, else starts one with scripts/chdb.sh (port
$DNMA_CHDB_TEST_PORT, default 18139). Run with the venv's Python, which has lz4 and cityhash:

    "$HOME/.cache/dnma-tools/chdb-venv/bin/python" -m pytest scripts/test_chdb_http.py
"""

import datetime
import gzip
import http.client
import json
import os
import struct
import threading
import subprocess
import tempfile
import urllib.parse
import uuid

import lz4.block
import lz4.frame
import pytest
from clickhouse_cityhash.cityhash import CityHash128

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def server():
    """(host, port) of a running adapter."""
    url = os.environ.get("DNMA_CHDB_URL")
    if url:
        parts = urllib.parse.urlsplit(url)
        yield parts.hostname, parts.port
        return
    port = int(os.environ.get("DNMA_CHDB_TEST_PORT", "18139"))
    with tempfile.TemporaryDirectory() as directory:
        started = subprocess.run(
            [os.path.join(HERE, "chdb.sh"), directory, str(port)],
            check=True, capture_output=True, text=True,
        )
        assert started.stdout.strip() == f"http://127.0.0.1:{port}"
        try:
            yield "127.0.0.1", port
        finally:
            with open(os.path.join(directory, "pid")) as pid:
                os.kill(int(pid.read()), 15)


class Answer:
    """One HTTP answer."""

    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()


def call(server, params=None, body=None, headers=None, method=None, connection=None):
    """Sends one request; `params` go in the URL."""
    conn = connection or http.client.HTTPConnection(*server, timeout=60)
    path = "/" + ("?" + urllib.parse.urlencode(params) if params else "")
    conn.request(method or ("POST" if body is not None else "GET"), path, body=body, headers=headers or {})
    answer = Answer(conn.getresponse())
    if connection is None:
        conn.close()
    return answer


def sql(server, query, **params):
    """Runs `query` (in the body) with URL parameters `params`; asserts success."""
    answer = call(server, params, query.encode())
    assert answer.status == 200, answer.body
    return answer.body


# --- ClickHouse compressed blocks, from the format --------------------------------------------
# A block is: 16-byte checksum, then the header (method byte, u32 LE size of header + data,
# u32 LE decompressed size) and the data. The checksum is CityHash128 v1.0.2 of header + data,
# written as its two 64-bit halves, low half first (ClickHouse's `std::pair<UInt64, UInt64>`).

def checksum(block: bytes) -> bytes:
    value = CityHash128(block)
    return struct.pack("<QQ", value >> 64, value & (2**64 - 1))


def lz4_block(data: bytes) -> bytes:
    compressed = lz4.block.compress(data, store_size=False)
    block = struct.pack("<BII", 0x82, 9 + len(compressed), len(data)) + compressed
    return checksum(block) + block


def read_blocks(data: bytes) -> bytes:
    """Decompresses a sequence of blocks, checking every checksum."""
    out, offset = b"", 0
    while offset < len(data):
        method, size, decompressed = struct.unpack_from("<BII", data, offset + 16)
        block = data[offset + 16:offset + 16 + size]
        assert len(block) == size, "truncated block"
        assert checksum(block) == data[offset:offset + 16], "checksum mismatch"
        assert method == 0x82, f"method {method:#x}"
        out += lz4.block.decompress(block[9:], uncompressed_size=decompressed)
        offset += 16 + size
    return out


def test_framing_matches_clickhouse_bytes():
    # The vector of the `clickhouse` crate's `it_compresses` test (bytes produced by ClickHouse).
    source = bytes([1, 0, 2, 255, 255, 255, 255, 0, 1, 1, 1, 115, 6, 83, 116, 114, 105, 110, 103, 3, 97, 98, 99])
    expected = bytes([
        245, 5, 222, 235, 225, 158, 59, 108, 225, 31, 65, 215, 66, 66, 36, 92, 130, 34, 0, 0, 0,
        23, 0, 0, 0, 240, 8, 1, 0, 2, 255, 255, 255, 255, 0, 1, 1, 1, 115, 6, 83, 116, 114, 105,
        110, 103, 3, 97, 98, 99,
    ])
    assert lz4_block(source) == expected
    assert read_blocks(expected) == source


# --- RowBinary, from the format -----------------------------------------------------------------

def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def rb_string(s: str) -> bytes:
    raw = s.encode()
    return leb128(len(raw)) + raw


EPOCH = datetime.date(1970, 1, 1)


def rows(n):
    for i in range(n):
        yield {
            "id": i,
            "delta": -i * 7 if i % 2 else i * 13,
            "name": f"école-{i}" + "x" * (i % 11),
            "day": (datetime.date(2026, 1, 1) + datetime.timedelta(days=i % 400)).isoformat(),
            "referrer": None if i % 3 == 0 else f"https://ent.example/{i % 50}",
            "flag": i % 256,
        }


def row_binary(row) -> bytes:
    day = (datetime.date.fromisoformat(row["day"]) - EPOCH).days
    referrer = b"\x01" if row["referrer"] is None else b"\x00" + rb_string(row["referrer"])
    return (struct.pack("<Qq", row["id"], row["delta"]) + rb_string(row["name"]) + struct.pack("<H", day)
            + referrer + struct.pack("<B", row["flag"]))


COLUMNS = "id UInt64, delta Int64, name String, day Date, referrer Nullable(String), flag UInt8"


def fresh_table(server, columns=COLUMNS):
    name = "t_" + uuid.uuid4().hex[:12]
    sql(server, f"CREATE TABLE {name} ({columns}) ENGINE = MergeTree ORDER BY tuple()")
    return name


# --- the tests ------------------------------------------------------------------------------------

def test_ping(server):
    conn = http.client.HTTPConnection(*server, timeout=10)
    conn.request("GET", "/ping")
    answer = Answer(conn.getresponse())
    assert (answer.status, answer.body) == (200, b"Ok.\n")
    answer = call(server)
    assert (answer.status, answer.body) == (200, b"Ok.\n")


def test_version_is_current_clickhouse(server):
    major = int(sql(server, "SELECT version()").split(b".")[0])
    assert major >= 26


def test_insert_row_binary_compressed_then_select(server):
    table = fresh_table(server)
    data = [row_binary(r) for r in rows(5000)]
    payload = b"".join(data)
    # Two blocks, split mid-row: a block boundary is not a row boundary.
    body = lz4_block(payload[:40_001]) + lz4_block(payload[40_001:])
    answer = call(server, {"query": f"INSERT INTO {table} FORMAT RowBinary", "decompress": "1"}, body)
    assert answer.status == 200, answer.body
    assert json.loads(answer.headers["X-ClickHouse-Summary"])["written_rows"] == "5000"

    lines = sql(server, f"SELECT * FROM {table} ORDER BY id", default_format="JSONEachRow",
                output_format_json_quote_64bit_integers="0").decode().splitlines()
    assert [json.loads(line) for line in lines] == list(rows(5000))

    answer = call(server, {"query": f"SELECT * FROM {table} ORDER BY id", "default_format": "RowBinary",
                           "compress": "1"})
    assert answer.status == 200, answer.body
    assert answer.headers["X-ClickHouse-Format"] == "RowBinary"
    assert "Content-Encoding" not in answer.headers
    assert read_blocks(answer.body) == payload


def test_insert_row_binary_with_names_and_types(server):
    table = fresh_table(server)
    header = leb128(2) + rb_string("id") + rb_string("name") + rb_string("UInt64") + rb_string("String")
    body = header + struct.pack("<Q", 10) + rb_string("a") + struct.pack("<Q", 32) + rb_string(" b")
    answer = call(server, {"query": f"INSERT INTO {table} (id, name) FORMAT RowBinaryWithNamesAndTypes"}, body)
    assert answer.status == 200, answer.body
    # The first data byte is 0x0A (10): the body is data byte for byte, nothing is skipped.
    assert sql(server, f"SELECT id, name FROM {table} ORDER BY id") == b"10\ta\n32\t b\n"


def test_corrupt_block_is_refused(server):
    table = fresh_table(server)
    block = bytearray(lz4_block(row_binary(next(rows(1)))))
    block[-1] ^= 0xFF
    answer = call(server, {"query": f"INSERT INTO {table} FORMAT RowBinary", "decompress": "1"}, bytes(block))
    assert answer.status == 400
    assert answer.headers["X-ClickHouse-Exception-Code"] == "40"
    assert answer.body.startswith(b"Code: 40. DB::Exception: Checksum doesn't match")
    assert sql(server, f"SELECT count() FROM {table}") == b"0\n"


def test_errors_answer_like_clickhouse(server):
    answer = call(server, {"query": "SELECT throwIf(number = 0, 'boom') FROM numbers(1)"})
    assert answer.status == 500
    assert answer.headers["X-ClickHouse-Exception-Code"] == "395"
    assert answer.body.startswith(b"Code: 395. DB::Exception: boom")
    assert answer.body.endswith(b")\n")

    answer = call(server, {"query": "SELECT * FROM no_such_table"})
    assert (answer.status, answer.headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    assert answer.body.startswith(b"Code: 60. DB::Exception: ")

    answer = call(server, {"query": "SELEC 1"})
    assert (answer.status, answer.headers["X-ClickHouse-Exception-Code"]) == (400, "62")

    table = fresh_table(server)
    answer = call(server, {"query": f"INSERT INTO {table} FORMAT RowBinary"}, b"\x01\x02\x03")
    assert (answer.status, answer.headers["X-ClickHouse-Exception-Code"]) == (500, "33")
    assert answer.body.startswith(b"Code: 33. DB::Exception: Cannot read all data")

    # Compressed errors with compress=1, as ClickHouse sends them.
    answer = call(server, {"query": "SELECT * FROM no_such_table", "compress": "1"})
    assert read_blocks(answer.body).startswith(b"Code: 60. DB::Exception: ")


def test_settings_from_the_url(server):
    assert sql(server, "SELECT getSetting('max_threads')", max_threads="3") == b"3\n"
    assert sql(server, "SELECT getSetting('max_threads')") != b"3\n"
    big = "SELECT toUInt64(18446744073709551615) AS v"
    assert sql(server, big, default_format="JSONEachRow", output_format_json_quote_64bit_integers="1") == \
        b'{"v":"18446744073709551615"}\n'
    assert sql(server, big, default_format="JSONEachRow", output_format_json_quote_64bit_integers="0") == \
        b'{"v":18446744073709551615}\n'

    table = fresh_table(server, "t DateTime('UTC')")
    iso = b"2026-12-04T10:11:12Z\n"
    refused = call(server, {"query": f"INSERT INTO {table} FORMAT TabSeparated",
                            "date_time_input_format": "basic"}, iso)
    assert refused.status != 200 and refused.body.startswith(b"Code: "), refused.body
    accepted = call(server, {"query": f"INSERT INTO {table} FORMAT TabSeparated",
                             "date_time_input_format": "best_effort"}, iso)
    assert accepted.status == 200, accepted.body
    assert sql(server, f"SELECT t FROM {table}") == b"2026-12-04 10:11:12\n"

    unknown = call(server, {"query": "SELECT 1", "no_such_setting": "1"})
    assert (unknown.status, unknown.headers["X-ClickHouse-Exception-Code"]) == (404, "115")

    # Parameters the server reads itself are no settings.
    answer = call(server, {"query": "SELECT 1", "wait_end_of_query": "1", "buffer_size": "1000",
                           "query_id": "my-query", "session_id": "s", "user": "default", "password": ""})
    assert (answer.status, answer.body, answer.headers["X-ClickHouse-Query-Id"]) == (200, b"1\n", "my-query")


def test_query_parameters_url_and_multipart(server):
    assert sql(server, "SELECT {a:UInt32} + 1, {s:String}", param_a="41", param_s="it's") == b"42\tit\\'s\n"
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\n"
            "SELECT {n:UInt8} * 2 AS v\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"param_n\"\r\n\r\n21\r\n"
            f"--{boundary}--\r\n").encode()
    answer = call(server, {"default_format": "JSONEachRow"}, body,
                  {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert (answer.status, answer.body) == (200, b'{"v":42}\n')


def test_query_param_and_body_are_concatenated(server):
    answer = call(server, {"query": "SELECT"}, b" 1 + 1")
    assert (answer.status, answer.body) == (200, b"2\n")
    table = fresh_table(server, "a UInt8, b String")
    answer = call(server, {}, f'INSERT INTO {table} FORMAT JSONEachRow\n{{"a":1,"b":"x"}}\n'.encode())
    assert answer.status == 200, answer.body
    binary = fresh_table(server, "a UInt64, b String")
    body = f"INSERT INTO {binary} FORMAT RowBinary \n".encode() + struct.pack("<Q", 0xE9FF) + rb_string("é")
    answer = call(server, {}, body)
    assert answer.status == 200, answer.body
    assert sql(server, f"SELECT a, b FROM {binary}") == f"{0xE9FF}\té\n".encode()
    answer = call(server, {"query": f"INSERT INTO {table} VALUES"}, b"(2, 'y')")
    assert answer.status == 200, answer.body
    assert sql(server, f"SELECT a, b FROM {table} ORDER BY a FORMAT CSV") == b'1,"x"\n2,"y"\n'
    answer = call(server, {"query": f"SELECT a FROM {table} ORDER BY a FORMAT JSONEachRow", "default_format": "CSV"})
    assert answer.headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert answer.body == b'{"a":1}\n{"a":2}\n'


def test_chunked_body_and_keep_alive(server):
    table = fresh_table(server)
    conn = http.client.HTTPConnection(*server, timeout=60)
    payload = b"".join(row_binary(r) for r in rows(300))
    chunks = [payload[i:i + 777] for i in range(0, len(payload), 777)]
    path = "/?" + urllib.parse.urlencode({"query": f"INSERT INTO {table} FORMAT RowBinary"})
    conn.request("POST", path, body=iter(chunks), encode_chunked=True)
    answer = Answer(conn.getresponse())
    assert answer.status == 200, answer.body
    # The same connection serves the next requests.
    for _ in range(3):
        assert call(server, {"query": f"SELECT count() FROM {table}"}, connection=conn).body == b"300\n"
    conn.close()


def test_http_content_encodings(server):
    query = {"query": "SELECT number FROM numbers(1000)"}
    expected = b"".join(b"%d\n" % i for i in range(1000))
    answer = call(server, query, headers={"Accept-Encoding": "gzip"})
    assert answer.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(answer.body) == expected
    answer = call(server, query, headers={"Accept-Encoding": "lz4"})
    assert answer.headers["Content-Encoding"] == "lz4"
    assert lz4.frame.decompress(answer.body) == expected
    answer = call(server, {**query, "enable_http_compression": "0"}, headers={"Accept-Encoding": "lz4"})
    assert "Content-Encoding" not in answer.headers and answer.body == expected
    answer = call(server, {}, gzip.compress(b"SELECT 40 + 2"), {"Content-Encoding": "gzip"})
    assert answer.body == b"42\n"


def test_database_parameter(server):
    database = "d_" + uuid.uuid4().hex[:8]
    sql(server, f"CREATE DATABASE {database}")
    sql(server, "CREATE TABLE t (a UInt8) ENGINE = MergeTree ORDER BY a", database=database)
    sql(server, "INSERT INTO t VALUES (7)", database=database)
    assert sql(server, "SELECT currentDatabase(), a FROM t", database=database) == f"{database}\t7\n".encode()
    assert sql(server, "SELECT currentDatabase()") == b"default\n"
    answer = call(server, {"query": "SELECT currentDatabase()"}, headers={"X-ClickHouse-Database": database,
                                                                       "X-ClickHouse-Format": "JSONEachRow"})
    assert answer.body == f'{{"currentDatabase()":"{database}"}}\n'.encode()
    sql(server, f"DROP DATABASE {database}")


def test_concurrent_clients(server):
    table = fresh_table(server)
    errors = []

    def client(k):
        try:
            conn = http.client.HTTPConnection(*server, timeout=60)
            for j in range(20):
                payload = b"".join(row_binary(r) for r in rows(50))
                body = lz4_block(payload)
                query = {"query": f"INSERT INTO {table} FORMAT RowBinary", "decompress": "1"}
                assert call(server, query, body, connection=conn).status == 200
                answer = call(server, {"query": f"SELECT count() >= {50 * (j + 1)} FROM {table}",
                                       "max_threads": str(1 + k % 3)}, connection=conn)
                assert answer.body == b"1\n", answer.body
            conn.close()
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sql(server, f"SELECT count(), uniqExact(id) FROM {table}") == b"8000\t50\n"
