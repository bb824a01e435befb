"""The hosted pages (sign-in, account, sign-up, password reset, address confirmation) and the
browser client, served under /ui/.

Server-rendered with Jinja2, no script on the pages and no external asset: every form works
with JavaScript off. A new page is a router module here with a template that extends
`base.html` and uses the macros of `_forms.html`; `install_ui` mounts it.
"""

from __future__ import annotations

from fastapi import FastAPI

from authsvc.config import Registration, Settings
from authsvc.ui import (
    account,
    assets,
    identities,
    login,
    recovery,
    register,
    second_step,
    security,
    verification,
)
from authsvc.ui.rendering import Pages
from authsvc.web.routes import serve_routes


def install_ui(app: FastAPI, settings: Settings) -> None:
    app.state.pages = Pages(settings)
    for router in (
        assets.router,
        login.router,
        second_step.router,
        account.router,
        security.router,
        identities.router,
    ):
        serve_routes(app, router)
    if settings.registration is Registration.open:
        serve_routes(app, register.router)
    if settings.mail_enabled:
        # Without a relay no link can be mailed: the pages answer 404, like the JSON endpoints.
        serve_routes(app, recovery.router)
        serve_routes(app, verification.router)
