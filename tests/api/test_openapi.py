"""The committed OpenAPI document is what the app serves."""

from __future__ import annotations

import json

from authsvc.app import create_app
from authsvc.config import Settings
from tests.helpers.paths import REPO_ROOT

COMMITTED = REPO_ROOT / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    served = create_app(Settings.model_construct()).openapi()
    committed = json.loads(COMMITTED.read_text())
    assert served == committed, "the API changed: run `make openapi` and commit the result"
