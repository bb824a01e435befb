"""The relay named by AUTHSVC_SMTP_URL, for real: STARTTLS and TLS with credentials, a plain
relay, retries of a refused send, and refusals of what would send anything in clear."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from authsvc.config import Settings, describe_validation_error
from tests.helpers.defaults import TEST_SECRET
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.mail import Mode, body_text, mail_server, mail_settled
from tests.helpers.processes import free_port


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_mail_goes_over_tls_with_credentials(
    mode: Mode,
    tmp_path: Path,
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
) -> None:
    make_user(email="alice@example.com")
    with mail_server(mode, certificates=tmp_path) as relay:
        settings = make_settings(**relay.settings(credentials=True))
        async with client_factory(settings) as client:
            assert (
                await client.post("/password/forgot", json={"login": "alice"})
            ).status_code == 202
            [message] = relay.inbox.wait_for(1)
    assert "/ui/reset?token=" in body_text(message)


async def test_a_relay_without_starttls_gets_nothing_and_the_operator_is_told(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """smtp:// means STARTTLS, required: never a reset link in clear by accident."""
    make_user(email="alice@example.com")
    with mail_server("starttls-not-offered") as relay:
        settings = make_settings(**relay.settings())
        with caplog.at_level(logging.INFO, logger="authsvc.mail"):
            async with client_factory(settings) as client:
                answer = await client.post("/password/forgot", json={"login": "alice"})
                assert answer.status_code == 202
                await mail_settled(client)
                metrics = (await client.get("/metrics")).text
        assert relay.inbox.messages == []
    assert 'authsvc_mails_total{outcome="failed"} 1.0' in metrics
    assert 'authsvc_mails_total{outcome="retried"} 0.0' in metrics  # permanent: not retried
    [error] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "SMTPNotSupportedError" in error.getMessage()
    assert "alice@example.com" not in caplog.text and "token=" not in caplog.text


async def test_a_send_the_relay_refuses_for_now_is_retried(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_user(email="alice@example.com")
    with mail_server() as relay:
        relay.inbox.refusals = ["451 4.3.0 try again later", "421 4.3.2 not now"]
        settings = make_settings(**relay.settings())
        with caplog.at_level(logging.WARNING, logger="authsvc.mail"):
            async with client_factory(settings) as client:
                answer = await client.post("/password/forgot", json={"login": "alice"})
                assert answer.status_code == 202
                [message] = relay.inbox.wait_for(1)
                await mail_settled(client)
                metrics = (await client.get("/metrics")).text
    assert message["To"] == "alice@example.com"
    assert 'authsvc_mails_total{outcome="retried"} 2.0' in metrics
    assert 'authsvc_mails_total{outcome="sent"} 1.0' in metrics
    retries = [
        record.getMessage() for record in caplog.records if "retrying" in record.getMessage()
    ]
    assert len(retries) == 2 and "451" in retries[0]


async def test_a_permanent_refusal_is_given_up_at_once(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user(email="alice@example.com")
    with mail_server() as relay:
        relay.inbox.refusals = ["550 5.1.1 no such mailbox"]
        settings = make_settings(**relay.settings())
        async with client_factory(settings) as client:
            answer = await client.post("/password/forgot", json={"login": "alice"})
            assert answer.status_code == 202
            await mail_settled(client)
            metrics = (await client.get("/metrics")).text
        assert relay.inbox.messages == []
    assert 'authsvc_mails_total{outcome="failed"} 1.0' in metrics
    assert 'authsvc_mails_total{outcome="retried"} 0.0' in metrics


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"smtp_url": "http://mail.example.com"}, "AUTHSVC_SMTP_URL: must start with smtp://"),
        (
            {"smtp_url": "smtp+plain://user:pw@mail.example.com"},
            "AUTHSVC_SMTP_URL: smtp+plain:// would send the credentials unencrypted",
        ),
        ({"smtp_url": "smtp://user@mail.example.com"}, "give both a user and a password"),
        ({"smtp_url": "smtp://mail.example.com:99999"}, "the port must be a number"),
        ({"smtp_url": "smtp://mail.example.com"}, "AUTHSVC_SMTP_URL needs AUTHSVC_MAIL_FROM"),
        (
            {"smtp_url": "smtp://mail.example.com", "mail_from": "not an address"},
            "AUTHSVC_MAIL_FROM: not a valid sender address",
        ),
        ({"require_verified_email": True}, "AUTHSVC_REQUIRE_VERIFIED_EMAIL=true needs"),
        ({"public_url": "ftp://example.com"}, "AUTHSVC_PUBLIC_URL: must be an http(s) URL"),
    ],
    ids=[
        "scheme",
        "plain-credentials",
        "user-only",
        "port",
        "no-sender",
        "bad-sender",
        "require-without-mail",
        "public-url",
    ],
)
def test_mail_settings_are_refused_with_a_message_that_names_them(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, key_encryption_secret=TEST_SECRET, **values)
    described = describe_validation_error(raised.value)
    assert message in described
    # The relay's password never appears in what is printed.
    assert "pw@" not in described


def test_the_relay_password_stays_secret_in_the_settings() -> None:
    settings = Settings(
        _env_file=None,
        key_encryption_secret=TEST_SECRET,
        smtp_url="smtps://mailer:hunter2-relay@mail.example.com",
        mail_from="Example <noreply@example.com>",
    )
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.smtp_relay())
    relay = settings.smtp_relay()
    assert (relay.host, relay.port, relay.security) == ("mail.example.com", 465, "tls")
    assert (relay.username, relay.password) == ("mailer", "hunter2-relay")
    assert settings.mail_from == "Example <noreply@example.com>"


async def test_a_relay_that_is_down_costs_the_requester_nothing(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    """Nothing listens: the usual 202 at once; the sends are retried, then given up."""
    make_user(email="alice@example.com")
    settings = make_settings(
        smtp_url=f"smtp+plain://127.0.0.1:{free_port()}",
        mail_from="noreply@example.com",
        mail_send_attempts=3,
        mail_retry_seconds=0.1,
    )
    async with client_factory(settings) as client:
        answer = await client.post("/password/forgot", json={"login": "alice"})
        assert answer.status_code == 202 and answer.json()["status"] == "accepted"
        await mail_settled(client)
        metrics = (await client.get("/metrics")).text
    assert 'authsvc_mails_total{outcome="retried"} 2.0' in metrics
    assert 'authsvc_mails_total{outcome="failed"} 1.0' in metrics
