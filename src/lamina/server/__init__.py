"""The lamina registry: the OCI distribution-spec v1.1 API on aiohttp, over `lamina.content`
(blob bytes) and a metadata store (SQLite), runnable as many stateless processes."""

from lamina.server.app import create_app, make_context
from lamina.server.config import ServerConfig, load_config
from lamina.server.serve import run

__all__ = ["ServerConfig", "create_app", "load_config", "make_context", "run"]
