"""Log set-up: one JSON object per line on stderr, each carrying the request id if there is one."""

from __future__ import annotations

import logging
import random
import re
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from authsvc.config import LogFormat

# Set per request by the RequestObserver; threadpool calls inherit it (anyio copies contexts).
request_id_var: ContextVar[str | None] = ContextVar("authsvc_request_id", default=None)

# What we accept from a client or proxy; anything else is replaced, so a log line cannot be
# forged or bloated through this header.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def accept_request_id(presented: str | None) -> str:
    if presented is not None and _REQUEST_ID.fullmatch(presented):
        return presented
    # 32 hex digits, as a uuid4 would give. A request id labels log lines and is no secret (a
    # client may choose its own), so it comes from the process's seeded generator, reseeded in
    # every forked worker: reading the system's entropy per request cost a fifth of a /healthz.
    return f"{random.getrandbits(128):032x}"


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        # uvicorn's copy of the message with terminal colour codes; noise in a JSON line.
        record.__dict__.pop("color_message", None)
        return True


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Replace the root handlers; called by `authsvc serve` and by each worker's app factory."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if log_format is LogFormat.json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
