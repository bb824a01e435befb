"""deploy/kubernetes/forward-auth: each gateway asks GET /verify and passes on its identity."""

from __future__ import annotations

from typing import Any

import httpx
import kubernetes_validate
import yaml

from authsvc.api.forward_auth import ROLES_HEADER, SESSION_HEADER, USER_HEADER
from tests.helpers.fixture_types import MakeUser
from tests.helpers.headers import bearer
from tests.helpers.kubernetes import KUBERNETES_VERSION, MANIFESTS
from tests.helpers.login import bearer_token

EXAMPLES = MANIFESTS / "forward-auth"
IDENTITY = [USER_HEADER, SESSION_HEADER, ROLES_HEADER]
# The Service of deploy/kubernetes/base in the production overlay's namespace.
SERVICE_HOST = "authsvc.authsvc.svc.cluster.local"
SERVICE_PORT = 8000
VERIFY_URL = f"http://{SERVICE_HOST}:{SERVICE_PORT}/verify"
# What /verify reads: the rest of the client's request stays away from authsvc.
CREDENTIALS = {"cookie", "authorization"}


def load(name: str) -> list[dict[str, Any]]:
    return [item for item in yaml.safe_load_all((EXAMPLES / name).read_text()) if item]


def named(items: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [i for i in items if i["kind"] == kind and i["metadata"]["name"] == name]
    return found


def lowered(names: list[str]) -> list[str]:
    return [name.lower() for name in names]


def test_the_service_the_examples_name_is_the_one_deployed() -> None:
    service = yaml.safe_load((MANIFESTS / "base" / "service.yaml").read_text())
    production = yaml.safe_load(
        (MANIFESTS / "overlays" / "production" / "kustomization.yaml").read_text()
    )
    host = f"{service['metadata']['name']}.{production['namespace']}.svc.cluster.local"
    assert (host, service["spec"]["ports"][0]["port"]) == (SERVICE_HOST, SERVICE_PORT)
    assert sorted(path.name for path in EXAMPLES.iterdir()) == [
        "envoy-gateway.yaml", "ingress-nginx.yaml", "istio-meshconfig.yaml", "istio.yaml",
        "traefik.yaml",
    ]  # fmt: skip


def test_ingress_nginx_asks_verify_and_sets_the_identity_headers() -> None:
    items = load("ingress-nginx.yaml")
    for item in items:
        kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
    annotations = named(items, "Ingress", "orders")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-url"] == VERIFY_URL
    headers = annotations["nginx.ingress.kubernetes.io/auth-response-headers"].split(",")
    assert headers == IDENTITY
    closed = named(items, "Ingress", "authsvc-metrics-closed")
    [path] = closed["spec"]["rules"][0]["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/metrics", "Exact")


def test_traefik_asks_verify_and_copies_the_identity_headers() -> None:
    items = load("traefik.yaml")
    forward = named(items, "Middleware", "authsvc")["spec"]["forwardAuth"]
    assert forward["address"] == VERIFY_URL
    assert forward["authResponseHeaders"] == IDENTITY
    assert set(lowered(forward["authRequestHeaders"])) == CREDENTIALS
    route = named(items, "IngressRoute", "orders")["spec"]["routes"][0]
    assert route["middlewares"] == [{"name": "authsvc"}]
    public = named(items, "IngressRoute", "authsvc")["spec"]["routes"][0]["match"]
    assert "!Path(`/metrics`)" in public


def test_envoy_gateway_asks_verify_and_sets_the_identity_headers() -> None:
    items = load("envoy-gateway.yaml")
    auth = named(items, "SecurityPolicy", "orders-authsvc")["spec"]["extAuth"]
    assert auth["http"]["backendRefs"] == [
        {"name": "authsvc", "namespace": "authsvc", "port": SERVICE_PORT}
    ]
    assert auth["http"]["path"] == "/verify"
    assert auth["http"]["headersToBackend"] == lowered(IDENTITY)
    assert set(auth["headersToExtAuth"]) == CREDENTIALS
    grant = named(items, "ReferenceGrant", "orders-to-authsvc")["spec"]
    assert grant["to"] == [{"group": "", "kind": "Service", "name": "authsvc"}]


def test_istio_asks_verify_and_sets_the_identity_headers() -> None:
    [mesh] = load("istio-meshconfig.yaml")
    [provider] = mesh["meshConfig"]["extensionProviders"]
    http = provider["envoyExtAuthzHttp"]
    assert (http["service"], http["port"], http["pathPrefix"]) == (
        SERVICE_HOST, SERVICE_PORT, "/verify",
    )  # fmt: skip
    assert http["headersToUpstreamOnAllow"] == lowered(IDENTITY)
    assert set(http["includeRequestHeadersInCheck"]) == CREDENTIALS
    policy = named(load("istio.yaml"), "AuthorizationPolicy", "orders-authsvc")["spec"]
    assert (policy["action"], policy["provider"]) == ("CUSTOM", {"name": provider["name"]})


async def test_verify_answers_every_identity_header_so_each_gateway_overrides_the_clients(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Envoy and Traefik replace a client's header only with one that authsvc answers: all
    three come back on every 204, even an empty roles list, at /verify and under it (where
    Envoy's path prefix sends the check)."""
    user_id = make_user()
    token = await bearer_token(client)
    forged = {USER_HEADER: "someone-else", ROLES_HEADER: "admin", **bearer(token)}
    for path in ("/verify", "/verify/orders/7"):
        response = await client.get(path, headers=forged)
        assert response.status_code == 204
        assert [response.headers.get(name) for name in (USER_HEADER, ROLES_HEADER)] == [
            user_id,
            "",
        ]
        assert response.headers[SESSION_HEADER]
