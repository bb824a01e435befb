"""The per-call checks are served by quick routes ahead of their documented FastAPI routes: the
same answers, the same metrics labels, the same refusals of other methods, and nothing served
that the OpenAPI document does not describe."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from authsvc.config import Settings
from authsvc.web.routes import serve_quick_routes
from tests.helpers.fixture_types import ClientFactory, MakeUser
from tests.helpers.login import bearer_token
from tests.helpers.metrics import scrape, value

HISTOGRAM = "authsvc_http_request_duration_seconds_count"


@pytest.mark.parametrize("path", ["/session", "/verify", "/verify/orders/7"])
async def test_a_check_answers_head_405_as_its_documented_route_does(
    client_factory: ClientFactory, settings: Settings, path: str
) -> None:
    async with client_factory(settings, browser=False) as client:
        response = await client.head(path)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


async def test_the_checks_are_counted_under_their_route_templates(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        bearer = {"Authorization": f"Bearer {await bearer_token(client)}"}
        assert (await client.get("/session", headers=bearer)).status_code == 200
        assert (await client.get("/verify", headers=bearer)).status_code == 204
        forwarded = await client.get("/verify/orders/7", headers=bearer)
        assert forwarded.status_code == 204
        assert forwarded.headers["x-auth-session"]
        assert (await client.get("/verify/orders/8")).status_code == 401
        page = await scrape(client)
    assert value(page, HISTOGRAM, method="GET", route="/session", status="200") == 1
    assert value(page, HISTOGRAM, method="GET", route="/verify", status="204") == 1
    forwarded_route = "/verify/{forwarded_path:path}"
    assert value(page, HISTOGRAM, method="GET", route=forwarded_route, status="204") == 1
    assert value(page, HISTOGRAM, method="GET", route=forwarded_route, status="401") == 1


async def test_the_checks_stay_in_the_openapi_document(
    client_factory: ClientFactory, settings: Settings
) -> None:
    async with client_factory(settings, browser=False) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert "get" in paths["/session"]
    assert set(paths["/verify"]) == {"get"}
    assert paths["/session"]["get"]["security"] == [{"cookieAuth": []}, {"bearerAuth": []}]


async def test_a_quick_route_needs_a_documented_route_of_its_path() -> None:
    app = FastAPI()
    probes = APIRouter()

    @probes.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def undocumented(request: Request) -> Response:
        return Response(status_code=204)

    app.include_router(probes)
    with pytest.raises(ValueError, match="GET /undocumented has no documented route"):
        serve_quick_routes(app, {"/undocumented": undocumented}, behind=probes)
