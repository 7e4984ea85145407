"""A tiny Docker token server (RS256 JWTs with an x5c chain) for Distribution's `auth.token`.

It grants every requested scope to `user:password` (GET with Basic) or to a known refresh
token (POST grant_type=refresh_token), and refuses everything else with 401.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt

SERVICE = "lamina-test-registry"
ISSUER = "lamina-test-issuer"


class TokenServer:
    def __init__(self, directory: Path, user: str, password: str, refresh_token: str) -> None:
        self.key = directory / "token.key"
        self.cert = directory / "token.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             str(self.key), "-out", str(self.cert), "-days", "2", "-subj", "/CN=token"],
            check=True, capture_output=True,
        )  # fmt: skip
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        self._x5c = base64.b64encode(der).decode()
        self._pem = self.key.read_bytes()
        self.requests: list[tuple[str, list[str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                q = parse_qs(urlsplit(self.path).query)
                auth = self.headers.get("Authorization", "")
                ok = auth == "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                server.reply(self, q.get("scope", []), ok, "GET")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                ok = form.get("grant_type") == ["refresh_token"] and form.get("refresh_token") == [
                    refresh_token
                ]
                server.reply(self, form.get("scope", []), ok, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply(self, h: BaseHTTPRequestHandler, scopes: list[str], ok: bool, method: str) -> None:
        self.requests.append((method, scopes))
        if not ok:
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
            h.send_response(401)
        else:
            access = []
            for scope in scopes:
                kind, name, actions = scope.split(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "sub": "tester",
                "aud": SERVICE,
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": uuid.uuid4().hex,
                "access": access,
            }
            token = jwt.encode(claims, self._pem, algorithm="RS256", headers={"x5c": [self._x5c]})
            body = json.dumps({"token": token, "expires_in": 300}).encode()
            h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
