"""`python -m lamina.server serve [...]`: the registry without the lamina CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lamina.errors import LaminaError
from lamina.server.config import access_log_overrides, load_config
from lamina.server.serve import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lamina.server")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the registry")
    p.add_argument("--config", type=Path)
    p.add_argument("--addr")
    p.add_argument("--storage", type=Path)
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    p.add_argument("--htpasswd", type=Path)
    p.add_argument("--workers", type=int)
    p.add_argument("--read-only", action="store_true", default=None)
    p.add_argument("--upload-expiry", type=float, help="seconds")
    p.add_argument("--auth-token-access", type=Path)
    p.add_argument("--auth-token-key", type=Path)
    p.add_argument("--auth-token-realm")
    p.add_argument("--auth-token-service")
    p.add_argument("--auth-token-issuer")
    p.add_argument("--auth-token-expiry", type=float, help="seconds")
    p.add_argument("--access-log", type=Path, help="JSON lines to FILE ('-' for stderr)")
    p.add_argument("--shutdown-timeout", type=float, help="seconds")
    p.add_argument("--gc-grace", type=float, help="seconds")
    p.add_argument("--header-timeout", type=float, help="seconds (http.timeouts.header)")
    p.add_argument("--body-timeout", type=float, help="seconds (http.timeouts.body)")
    p.add_argument("--max-connections", type=int, help="per worker (http.maxconnections)")
    args = parser.parse_args(argv)
    try:
        config = load_config(
            args.config,
            addr=args.addr,
            storage=args.storage,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            htpasswd=args.htpasswd,
            workers=args.workers,
            read_only=args.read_only,
            upload_expiry=args.upload_expiry,
            token_access=args.auth_token_access,
            token_key=args.auth_token_key,
            token_realm=args.auth_token_realm,
            token_service=args.auth_token_service,
            token_issuer=args.auth_token_issuer,
            token_expiry=args.auth_token_expiry,
            shutdown_timeout=args.shutdown_timeout,
            gc_grace=args.gc_grace,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            max_connections=args.max_connections,
            **access_log_overrides(args.access_log),
        )
        run(config)
    except LaminaError as exc:
        print(f"error[{exc.code}]: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
