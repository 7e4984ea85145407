"""The lean small-request path against a scripted HTTP peer: framing (length, chunked, to
close, HEAD), keep-alive and reuse, stale kept-alive sockets, 1xx answers, compressed
answers, limits, malformed answers, header injection and timeouts. The peer is a real
socket server in a thread that answers each request with the next canned reply."""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from lamina.errors import NotFound, RegistryError, TransportError
from lamina.transports.registry.client import RegistryClient
from lamina.transports.registry.lean import (
    MAX_BODY,
    LeanError,
    LeanPool,
    LeanTimeout,
    Request,
)
from lamina.transports.registry.options import RegistryOptions

# After sending a reply: keep the connection, or close it.
KEEP, CLOSE = "keep", "close"


@dataclass
class Peer:
    """Answers request N (over all connections) with replies[N]; records what it got."""

    replies: list[tuple[bytes, str]]
    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    silent: bool = False  # accept, read, never answer
    # Instead of `replies`: the reply to a request (its head, and its number on its
    # connection), and what to do after it.
    answer: Callable[[bytes, int], tuple[bytes, str]] | None = None

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        buf = b""
        on_connection = 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                self.requests.append(head)
                if self.silent:
                    continue
                if self.answer is not None:
                    reply, after = self.answer(head, on_connection)
                else:
                    reply, after = self.replies[len(self.requests) - 1]
                on_connection += 1
                conn.sendall(reply)
                if after == CLOSE:
                    return


@pytest.fixture
def peer() -> Iterator[Peer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    p = Peer(replies=[], port=listener.getsockname()[1])
    threading.Thread(target=p.serve, args=(listener,), daemon=True).start()
    yield p
    listener.close()


def pool_for(p: Peer, timeout: float = 5.0) -> LeanPool:
    return LeanPool(
        "http", f"127.0.0.1:{p.port}", "127.0.0.1", p.port, timeout, ssl.create_default_context
    )


def ok(body: bytes, *extra: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_length_framed_answers_reuse_one_connection(peer: Peer) -> None:
    peer.replies = [(ok(b"one", "Docker-Content-Digest: a"), KEEP), (ok(b"two"), KEEP)]
    pool = pool_for(peer)
    first = pool.send("GET", "/v2/a", {"Accept": "x"}, "u")
    second = pool.send("GET", "/v2/b", {}, "u")
    assert (first.status, first.read(), second.read()) == (200, b"one", b"two")
    assert first.headers.get("docker-content-digest") == "a"  # case-insensitive
    assert peer.connections == 1
    assert peer.requests[0].startswith(b"GET /v2/a HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nAccept: x\r\n" in peer.requests[0]
    pool.close()


def test_chunked_answer_with_extension_and_trailer(peer: Peer) -> None:
    body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body += b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    peer.replies = [(body, KEEP), (ok(b"next"), KEEP)]
    pool = pool_for(peer)
    assert pool.send("GET", "/", {}, "u").read() == b"hello world"
    assert pool.send("GET", "/", {}, "u").read() == b"next"  # the trailer was consumed
    assert peer.connections == 1


def test_http10_and_connection_close_are_not_reused(peer: Peer) -> None:
    peer.replies = [
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na", KEEP),
        (ok(b"b", "Connection: close"), KEEP),
        (b"HTTP/1.1 200 OK\r\n\r\nto the end", CLOSE),  # no framing: read until closed
        (ok(b"d"), KEEP),
    ]
    pool = pool_for(peer)
    got = [pool.send("GET", "/", {}, "u").read() for _ in range(4)]
    assert got == [b"a", b"b", b"to the end", b"d"]
    assert peer.connections == 4


def test_a_kept_socket_the_server_closed_is_replaced(peer: Peer) -> None:
    # The server closes after the first answer without saying so.
    peer.replies = [(ok(b"a"), CLOSE), (ok(b"b"), KEEP)]
    pool = pool_for(peer)
    assert pool.send("GET", "/", {}, "u").read() == b"a"
    assert pool.send("GET", "/", {}, "u").read() == b"b"
    assert peer.connections == 2


def test_head_reads_no_body_and_1xx_answers_are_skipped(peer: Peer) -> None:
    peer.replies = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nDocker-Content-Digest: d\r\n\r\n", KEEP),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after"), KEEP),
        (b"HTTP/1.1 204 No Content\r\n\r\n", KEEP),
        (ok(b"last"), KEEP),
    ]
    pool = pool_for(peer)
    head = pool.send("HEAD", "/", {}, "u")
    assert (head.status, head.read(), head.headers["Docker-Content-Digest"]) == (200, b"", "d")
    assert pool.send("GET", "/", {}, "u").read() == b"after"
    assert pool.send("DELETE", "/", {}, "u").status == 204
    assert pool.send("GET", "/", {}, "u").read() == b"last"
    assert peer.connections == 1


def test_repeated_fields_folded_lines_and_gzip(peer: Peer) -> None:
    packed = gzip.compress(b'{"tags":[]}')
    peer.replies = [
        (ok(b"x", "Link: <a>", "link: <b>", "X-Long: one", " two"), KEEP),
        (ok(packed, "Content-Encoding: gzip"), KEEP),
    ]
    pool = pool_for(peer)
    first = pool.send("GET", "/", {}, "u")
    assert first.headers.get("LINK") == "<a>, <b>"
    assert first.headers.getlist("link") == ["<a>", "<b>"]
    assert first.headers.get("x-long") == "one two"
    assert "x-missing" not in first.headers and first.headers.get("x-missing", "-") == "-"
    assert pool.send("GET", "/", {}, "u").read() == b'{"tags":[]}'


def test_an_answer_over_the_limit_is_refused(peer: Peer) -> None:
    peer.replies = [(f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode(), KEEP)]
    with pytest.raises(RegistryError, match="larger than"):
        pool_for(peer).send("GET", "/", {}, "http://h/x")


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/2 200\r\n\r\n",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        "HTTP/1.1 2\u00b2 OK\r\n\r\n".encode("latin-1"),  # a digit to str.isdigit()
        "HTTP/1.1 200 OK\r\nContent-Length: \u00b2\r\n\r\n".encode("latin-1"),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n",
    ],
)
def test_malformed_answers_are_connection_errors(peer: Peer, reply: bytes) -> None:
    peer.replies = [(reply, CLOSE)]
    with pytest.raises(LeanError):
        pool_for(peer).send("GET", "/", {}, "u")


def test_the_client_maps_a_malformed_answer_to_one_clear_line(peer: Peer) -> None:
    peer.replies = [(b"junk\r\n\r\n", CLOSE)] * 3
    options = RegistryOptions(retry_times=2, retry_delay=0.01)
    client = RegistryClient(f"127.0.0.1:{peer.port}", options)
    client._base = f"http://127.0.0.1:{peer.port}"  # (no ping: the peer is not a registry)
    with pytest.raises(TransportError) as caught:
        client.request("GET", "/v2/r/tags/list", scopes=[], what="listing tags", small=True)
    assert caught.value.message.startswith(
        f"listing tags: connection to registry 127.0.0.1:{peer.port}"
    )
    assert "malformed status line" in caught.value.message
    assert len(peer.requests) == 3  # retried, then given up
    client.close()


def test_a_header_with_a_line_break_is_never_sent(peer: Peer) -> None:
    with pytest.raises(RegistryError, match="line break"):
        pool_for(peer).send("GET", "/", {"Authorization": "Bearer x\r\nX-Evil: 1"}, "u")
    assert peer.connections == 0


def test_a_silent_server_times_out(peer: Peer) -> None:
    peer.silent = True
    with pytest.raises(LeanTimeout):
        pool_for(peer, timeout=0.3).send("GET", "/", {}, "u")


def test_a_refused_connection_is_a_lean_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        pool = LeanPool(
            "http", f"127.0.0.1:{port}", "127.0.0.1", port, 2.0, ssl.create_default_context
        )
        with pytest.raises(LeanError, match="failed to establish"):
            pool.send("GET", "/", {}, "u")


def test_threads_waiting_for_a_failed_ping_share_its_error() -> None:
    """A registry that is down is pinged (with retries) once by the threads that wait for
    the same client, not once per thread."""
    import time

    from lamina.threads import map_in_threads

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # refused
        client = RegistryClient(
            f"127.0.0.1:{port}", RegistryOptions(retry_times=2, retry_delay=0.2)
        )
        errors: list[str] = []

        def ask(_: int) -> None:
            try:
                client.request("GET", "/v2/r/tags/list", scopes=[], what="listing", small=True)
            except TransportError as err:
                errors.append(err.message)

        start = time.monotonic()
        map_in_threads(ask, list(range(8)), 8)
        elapsed = time.monotonic() - start
    assert len(errors) == 8 and "Connection refused" in errors[0]
    assert elapsed < 1.5  # one ping's backoff (0.2 + 0.4 s), not eight (4.8 s)
    client.close()


def test_pipelined_requests_share_a_connection_and_keep_their_order(peer: Peer) -> None:
    peer.replies = [(ok(f"answer {i}".encode()), KEEP) for i in range(40)]
    requests: list[Request] = [("GET", f"/v2/r/manifests/{i}", {}, "u") for i in range(40)]
    answers = pool_for(peer).send_all(requests, window=8)
    assert [a.read() for a in answers] == [f"answer {i}".encode() for i in range(40)]
    assert peer.connections == 1
    assert [r.split(b" ")[1] for r in peer.requests] == [
        f"/v2/r/manifests/{i}".encode() for i in range(40)
    ]


@pytest.mark.parametrize("how", ["silently", "saying so"])
def test_a_pipeline_the_server_closes_goes_on_on_a_new_connection(peer: Peer, how: str) -> None:
    """The server answers three requests per connection, then closes it (with requests
    of the pipeline unread: its kernel may then reset the connection, and an answer sent
    may be lost). Every request is answered once, in order, on as many connections."""

    def answer(head: bytes, n: int) -> tuple[bytes, str]:
        name = head.split(b" ")[1].rsplit(b"/", 1)[1]
        close = b"Connection: close\r\n" if how == "saying so" and n == 2 else b""
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nDocker-Content-Digest: d%s\r\n"
        return reply % name + close + b"\r\n", CLOSE if n == 2 else KEEP

    peer.answer = answer
    requests: list[Request] = [("HEAD", f"/m/{i}", {}, "u") for i in range(10)]
    answers = pool_for(peer).send_all(requests, window=4)
    assert [a.headers.get("docker-content-digest") for a in answers] == [f"d{i}" for i in range(10)]
    assert peer.connections >= 4


def test_request_all_redoes_alone_what_the_pipeline_did_not_settle(peer: Peer) -> None:
    peer.replies = [
        (ok(b"a"), KEEP),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", KEEP),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", KEEP),
        (ok(b"c"), KEEP),
        (ok(b"b, alone"), KEEP),  # the 500 again, alone: answered this time
    ]
    options = RegistryOptions(retry_times=1, retry_delay=0.01)
    client = RegistryClient(f"127.0.0.1:{peer.port}", options)
    client._base = f"http://127.0.0.1:{peer.port}"  # (no ping: the peer is not a registry)
    calls: list[tuple[str, list[str], str]] = [
        ("/a", [], "a"),
        ("/b", [], "b"),
        ("/missing", [], "missing"),
        ("/c", [], "c"),
    ]
    peer.replies.insert(5, (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", KEEP))
    got = client.request_all("GET", calls)
    assert [g.read() for g in got if not isinstance(g, Exception)] == [b"a", b"b, alone", b"c"]
    missing = got[2]
    assert isinstance(missing, NotFound) and missing.message.startswith("missing: registry")
    client.close()
