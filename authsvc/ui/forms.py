"""What the pages share when they handle a form: reading it, and where the browser goes next."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse

from authsvc.api.forms import parse_form_fields
from authsvc.errors import BadRequest, UnsupportedMediaType
from authsvc.runtime import Runtime
from authsvc.web.redirects import safe_next

ACCOUNT_PAGE = "/ui/account"
LOGIN_PAGE = "/ui/login"
_FORM = "application/x-www-form-urlencoded"
# A page's form has a handful of fields; more is not a browser submitting it.
_MAX_FIELDS = 16


async def read_form(request: Request) -> dict[str, str]:
    """The submitted form (urlencoded, UTF-8, each field once)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _FORM:
        raise UnsupportedMediaType("Submit the page's form (application/x-www-form-urlencoded).")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("The form body is not valid UTF-8.") from exc
    return parse_form_fields(text, max_fields=_MAX_FIELDS)


def next_target(runtime: Runtime, value: str | None) -> str | None:
    """`value` when it is safe to send the browser there (see web/redirects.py)."""
    return safe_next(value, runtime.settings.effective_allowed_origins())


def see_other(path: str, **query: str | None) -> RedirectResponse:
    """303 to `path` with the query parameters that have a value: the answer to a form post."""
    present = {name: value for name, value in query.items() if value is not None}
    return RedirectResponse(f"{path}?{urlencode(present)}" if present else path, status_code=303)


def to_login(next_path: str | None = None, notice: str | None = None) -> RedirectResponse:
    return see_other(LOGIN_PAGE, next=next_path, notice=notice)
