"""The HTTP API over the scheduler service: FastAPI app, API keys, and an in-loop uvicorn server.

::

    app = create_app(service, config=config, metrics=Metrics())
    async with ApiServer(app, host="127.0.0.1", port=8080) as server:
        ...  # server.url
"""

from __future__ import annotations

__all__ = [
    "ApiKeys",
    "ApiServer",
    "api_key_path",
    "bind_socket",
    "create_app",
    "local_api_key",
    "resolve_api_keys",
]

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .auth import ApiKeys, api_key_path, local_api_key, resolve_api_keys
    from .server import ApiServer, bind_socket

#: loaded on first use: the CLI and the remote console (which need only ``scheduler_core.wire``)
#: must not pay FastAPI's import time
_LAZY = {
    "create_app": ".app",
    "ApiKeys": ".auth",
    "api_key_path": ".auth",
    "local_api_key": ".auth",
    "resolve_api_keys": ".auth",
    "ApiServer": ".server",
    "bind_socket": ".server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
