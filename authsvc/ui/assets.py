"""GET /ui/authsvc.js (the browser client), /ui/passkeys.js (the pages' WebAuthn) and
/ui/authsvc.css (the pages' style sheet)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
# Revalidated on every use: the names carry no version, and an upgrade must reach browsers.
_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/authsvc.js")
async def browser_client() -> FileResponse:
    return FileResponse(
        STATIC / "authsvc.js", media_type="text/javascript; charset=utf-8", headers=_CACHE
    )


@router.get("/passkeys.js")
async def passkey_ceremonies() -> FileResponse:
    return FileResponse(
        STATIC / "passkeys.js", media_type="text/javascript; charset=utf-8", headers=_CACHE
    )


@router.get("/authsvc.css")
async def style_sheet() -> FileResponse:
    return FileResponse(
        STATIC / "authsvc.css", media_type="text/css; charset=utf-8", headers=_CACHE
    )
