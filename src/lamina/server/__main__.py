"""`python -m lamina.server serve [...]`: the registry without the lamina CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lamina.errors import LaminaError
from lamina.server.config import load_config
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
        )
        run(config)
    except LaminaError as exc:
        print(f"error[{exc.code}]: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
