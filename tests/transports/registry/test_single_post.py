"""Small blobs in one `POST ?digest=`, and the fallbacks when a registry does not do that."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import pytest

from lamina.digest import Digest
from lamina.errors import ErrorCode, RegistryError
from lamina.oci import Descriptor
from lamina.transports.registry import RegistryDestination, RegistryOptions, RegistryReference

DATA = b"small blob bytes"
DESC = Descriptor(
    media_type="application/octet-stream",
    digest=Digest.parse("sha256:" + hashlib.sha256(DATA).hexdigest()),
    size=len(DATA),
)


@dataclass
class FakeResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)

    def drain_conn(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


@dataclass
class FakeClient:
    """Answers each request with the next scripted response (or raises it)."""

    script: list[FakeResponse | Exception]
    calls: list[tuple[str, str, bytes | None]] = field(default_factory=list)
    single_post_uploads: bool | None = None

    def request(self, method: str, path: str, **kw: Any) -> FakeResponse:
        body = kw.get("body")
        self.calls.append((method, path, body if isinstance(body, bytes) else None))
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        pass


def _put(client: FakeClient) -> None:
    ref = RegistryReference.parse("//127.0.0.1:1/r/x:1", RegistryOptions())
    dest = RegistryDestination(ref, client)  # type: ignore[arg-type]
    dest.put_blob(io.BytesIO(DATA), DESC)


def test_one_post_when_the_registry_stores_it() -> None:
    client = FakeClient([FakeResponse(201)])
    _put(client)
    assert [c[0] for c in client.calls] == ["POST"]
    assert (
        client.calls[0][2] == DATA
        and f"digest={DESC.digest}".replace(":", "%3A") in (client.calls[0][1])
    )
    assert client.single_post_uploads is True


@pytest.mark.parametrize(("range_header", "put_body"), [("0-0", DATA), (f"0-{len(DATA) - 1}", b"")])
def test_a_session_instead_gets_the_bytes_in_its_put(range_header: str, put_body: bytes) -> None:
    client = FakeClient(
        [
            FakeResponse(202, {"Location": "/v2/r/x/blobs/uploads/u1", "Range": range_header}),
            FakeResponse(201),
        ]
    )
    _put(client)
    assert [(c[0], c[2]) for c in client.calls] == [("POST", DATA), ("PUT", put_body)]
    assert client.single_post_uploads is False
    # From then on: the plain two-step upload.
    client.script = [FakeResponse(202, {"Location": "/v2/r/x/blobs/uploads/u2"}), FakeResponse(201)]
    client.calls.clear()
    _put(client)
    assert [(c[0], c[2]) for c in client.calls] == [("POST", None), ("PUT", DATA)]


def test_a_refused_single_post_falls_back() -> None:
    refused = RegistryError("no", code=ErrorCode.UNSUPPORTED)
    client = FakeClient(
        [refused, FakeResponse(202, {"Location": "/v2/r/x/blobs/uploads/u1"}), FakeResponse(201)]
    )
    _put(client)
    assert [c[0] for c in client.calls] == ["POST", "POST", "PUT"]
    assert client.calls[2][2] == DATA
    assert client.single_post_uploads is False


def test_retryable_errors_are_not_hidden() -> None:
    client = FakeClient([RegistryError("busy", retryable=True)])
    with pytest.raises(RegistryError):
        _put(client)
