"""Rendering a page: the templates, what every page is told, and the headers every page sends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates
from ua_parser import parse as parse_user_agent

from authsvc.config import Registration, Settings
from authsvc.web.csrf import FORM_FIELD, page_token

TEMPLATES = Path(__file__).parent / "templates"
# Not no-referrer, the service's default: under it browsers send `Origin: null` with a form
# post, which the CSRF check must refuse. Same-origin keeps the referrer at home.
SAME_ORIGIN = "same-origin"


def content_security_policy(settings: Settings) -> str:
    """Scripts only from this service (the passkey ceremonies; never inline), styles from this
    service only, forms to this service or an allowed origin (a form's redirect to `next`
    counts as its target), and never inside a frame."""
    form_targets = " ".join(["'self'", *settings.effective_allowed_origins()])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"form-action {form_targets}",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def ago(then: datetime, now: datetime) -> str:
    """ "3 minutes ago": how long since `then`, in the largest whole unit."""
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = int((now - then).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def device_name(user_agent: str | None) -> str:
    """ "Chrome 126 on Linux" for a browser's User-Agent; the string itself for anything else."""
    if not user_agent:
        return "Unknown browser"
    parsed = parse_user_agent(user_agent)
    browser, system = parsed.user_agent, parsed.os
    if browser is None or system is None:
        return user_agent if len(user_agent) <= 80 else user_agent[:79] + "…"
    version = f" {browser.major}" if browser.major else ""
    return f"{browser.family}{version} on {system.family}"


def utc(moment: datetime, *, machine: bool = False) -> str:
    """For people ("2025-01-02 13:45 UTC"), or for a `<time datetime>` ("2025-01-02T13:45Z")."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ" if machine else "%Y-%m-%d %H:%M UTC")


class Pages:
    """The page templates and what every page shares, built once per app."""

    def __init__(self, settings: Settings):
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            # A misspelt variable fails the page (and its test) instead of rendering as nothing.
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        environment.filters["ago"] = ago
        environment.filters["utc"] = utc
        environment.filters["device_name"] = device_name
        self.templates = Jinja2Templates(env=environment)
        self.csp = content_security_policy(settings)
        self.registration_open = settings.registration is Registration.open
        self.mail_enabled = settings.mail_enabled
        # The "Sign in with ..." buttons: (name, label) of every configured provider.
        self.providers = [(p.name, p.label) for p in settings.oauth_providers]

    def render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        referrer_policy: str = SAME_ORIGIN,
        **context: Any,
    ) -> HTMLResponse:
        shared = {
            "csrf_field": FORM_FIELD,
            "csrf_token": page_token(request),
            "registration_open": self.registration_open,
            "mail_enabled": self.mail_enabled,
            "providers": self.providers,
            "errors": {},
            "error": None,
            "notice": None,
        }
        response = self.templates.TemplateResponse(
            request, template, {**shared, **context}, status_code=status, headers=headers
        )
        response.headers["Content-Security-Policy"] = self.csp
        response.headers["Referrer-Policy"] = referrer_policy
        # A page holds a CSRF token and, once signed in, personal data: never cached.
        response.headers["Cache-Control"] = "no-store"
        return response


async def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PagesDep = Annotated[Pages, Depends(get_pages)]
