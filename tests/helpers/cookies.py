"""Reading the cookies a response sets: names, attributes, and the tokens they carry."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

ACCESS = "authsvc_at"
REFRESH = "authsvc_rt"
CSRF = "authsvc_csrf"


@dataclass(frozen=True)
class SetCookie:
    """One Set-Cookie header: attribute names lower-cased, a flag's value empty."""

    name: str
    value: str
    attributes: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> SetCookie:
        first, *rest = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        attributes = {}
        for part in rest:
            key, _, attr_value = part.partition("=")
            attributes[key.lower()] = attr_value
        return cls(name, value.strip('"'), attributes)

    def has(self, flag: str) -> bool:
        return flag.lower() in self.attributes


def set_cookies(response: httpx.Response) -> list[SetCookie]:
    return [SetCookie.parse(header) for header in response.headers.get_list("set-cookie")]


def refresh_cookies(response: httpx.Response, name: str = REFRESH) -> list[SetCookie]:
    return [cookie for cookie in set_cookies(response) if cookie.name == name]


def refresh_token_of(response: httpx.Response, name: str = REFRESH) -> str:
    values = {cookie.value for cookie in refresh_cookies(response, name)}
    assert len(values) == 1, values
    return values.pop()


def access_token_of(response: httpx.Response, name: str = ACCESS) -> str:
    values = [cookie.value for cookie in set_cookies(response) if cookie.name == name]
    assert len(values) == 1, values
    return values[0]


def access_set_cookie(response: httpx.Response) -> str:
    """The access cookie's Set-Cookie header; the refresh cookies follow it."""
    headers = response.headers.get_list("set-cookie")
    return next(header for header in headers if not header.split("=")[0].endswith("_rt"))


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str]]:
    """Name, value and the attributes that have a value, the flags spelled "True" or "False"."""
    cookie = SetCookie.parse(header)
    attributes = {key: value for key, value in cookie.attributes.items() if value}
    for flag in ("httponly", "secure"):
        attributes[flag] = str(cookie.has(flag))
    return cookie.name, cookie.value, attributes
