"""The reference for the middleware stack's cost: one FastAPI route and nothing else.

Served by benchmarks/session_vs_healthz.py with the uvicorn settings `authsvc serve` uses.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
