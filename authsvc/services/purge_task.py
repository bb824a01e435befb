"""The optional periodic purge that runs inside every instance (AUTHSVC_PURGE_INTERVAL_SECONDS)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from authsvc.runtime import Runtime
from authsvc.services.purge import Purged, purge

logger = logging.getLogger("authsvc")


def purge_once(runtime: Runtime) -> Purged:
    settings = runtime.settings
    with runtime.session_factory() as db:
        purged = purge(
            db,
            now=runtime.clock.now(),
            session_retention=timedelta(seconds=settings.session_retention_seconds),
            audit_retention=timedelta(days=settings.audit_retention_days),
        )
        db.commit()
    if purged.sessions or purged.audit_events:
        logger.info("purged %d sessions and %d audit events", purged.sessions, purged.audit_events)
    return purged


async def _purge_safely(runtime: Runtime) -> None:
    try:
        await run_in_threadpool(purge_once, runtime)
    except DBAPIError as exc:
        # A database hiccup must not stop the loop or the service; the next round retries.
        logger.warning("purge failed: %s", type(exc.orig).__name__)


async def _loop(runtime: Runtime, interval: int) -> None:
    while True:
        await asyncio.sleep(interval)
        await _purge_safely(runtime)


async def start_purge_task(runtime: Runtime) -> asyncio.Task[None] | None:
    """Purge once now (so a restart catches up), then every interval; None when turned off."""
    interval = runtime.settings.purge_interval_seconds
    if interval == 0:
        return None
    await _purge_safely(runtime)
    return asyncio.create_task(_loop(runtime, interval), name="authsvc-purge")


async def stop_purge_task(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
