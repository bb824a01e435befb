"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from authsvc.api.deps import RuntimeDep
from authsvc.api.schemas import ErrorResponse
from authsvc.errors import NotFound

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, 404: {"model": ErrorResponse}},
    summary="Prometheus metrics of this instance (404 when AUTHSVC_METRICS_ENABLED=false)",
)
def metrics(runtime: RuntimeDep) -> Response:
    # A plain `def`: the scrape reads the key table, which must not block the event loop.
    if not runtime.settings.metrics_enabled:
        raise NotFound()
    return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
