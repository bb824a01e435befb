"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from authsvc.api.deps import RuntimeDep
from authsvc.api.schemas import HealthResponse, ReadinessResponse
from authsvc.storage.engine import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="The process is alive")
async def healthz() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessResponse,
    responses={503: {"model": ReadinessResponse}},
    summary="The database answers and a signing key is active",
)
def readyz(runtime: RuntimeDep) -> JSONResponse:
    database = ping(runtime.engine)
    signing_key = runtime.keys.ring.signer is not None
    ready = database and signing_key
    body = ReadinessResponse(
        status="ready" if ready else "not_ready", database=database, signing_key=signing_key
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
