"""Delivering one message on one channel: a signed JSON webhook, an e-mail, a Telegram message.

Each ``deliver_*`` sends once and raises ``DeliveryFailed`` saying whether trying again may help
(a timeout, a refused connection, 5xx or 429: yes; a 4xx, a bad address: no). Retries, backoff
and the record of what was sent live in ``dashboards.notify.service``.

The webhook body is the message as JSON; ``X-IOC-Signature: sha256=<hex>`` is the HMAC-SHA256 of
the exact body bytes with the route's secret, ``X-IOC-Delivery`` a stable id of this
notification (the same on a retry, so a receiver can drop a repeat), ``X-IOC-Timestamp`` when
it was sent (a receiver may refuse old ones against replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

import httpx

from dashboards.notify.config import EmailRoute, TelegramRoute, WebhookRoute


@dataclass(frozen=True, kw_only=True)
class Message:
    """One notification, rendered: what every channel needs."""

    delivery_id: str
    subject: str
    text: str  # all languages of the route, one after the other
    payload: dict  # the machine-readable form (webhook body)


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, retriable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retriable = retriable


def sign(secret: bytes, body: bytes) -> str:
    """The value of ``X-IOC-Signature`` for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def deliver_webhook(route: WebhookRoute, message: Message, client: httpx.Client) -> None:
    body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-IOC-Signature": sign(route.secret.get_secret_value().encode(), body),
        "X-IOC-Delivery": message.delivery_id,
        "X-IOC-Timestamp": str(int(time.time())),
    }
    _post(client, route.url, content=body, headers=headers, timeout=route.timeout_s, what="webhook")


def deliver_telegram(route: TelegramRoute, message: Message, client: httpx.Client) -> None:
    url = f"{route.api_base.rstrip('/')}/bot{route.bot_token.get_secret_value()}/sendMessage"
    response = _post(client, url, json={"chat_id": route.chat_id, "text": message.text[:4096],
                                        "disable_web_page_preview": True},
                     timeout=route.timeout_s, what="telegram", redact=route.bot_token.get_secret_value())
    try:
        ok = response.json().get("ok") is True
    except ValueError:
        ok = False
    if not ok:
        raise DeliveryFailed(f"telegram answered without ok: {response.text[:200]}", retriable=False)


def deliver_email(route: EmailRoute, message: Message) -> None:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = route.sender
    mail["To"] = ", ".join(route.to)
    # Stable per notification: mail systems and clients fold a retried copy into one.
    mail["Message-ID"] = make_msgid(idstring=message.delivery_id, domain=route.sender.split("@", 1)[1])
    mail["X-IOC-Delivery"] = message.delivery_id
    mail.set_content(message.text)
    try:
        with smtplib.SMTP(route.smtp_host, route.smtp_port, timeout=route.timeout_s) as smtp:
            if route.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if route.username and route.password is not None:
                smtp.login(route.username, route.password.get_secret_value())
            smtp.send_message(mail)
    except smtplib.SMTPResponseException as exc:
        # 4xx: the server asks to try later; 5xx: it refuses this message for good.
        raise DeliveryFailed(f"smtp {route.smtp_host}:{route.smtp_port} answered {exc.smtp_code} {exc.smtp_error!r}",
                             retriable=400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryFailed(f"smtp refused the recipients {sorted(exc.recipients)}", retriable=False) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"smtp {route.smtp_host}:{route.smtp_port}: {exc}", retriable=True) from None


def _post(client: httpx.Client, url: str, *, timeout: float, what: str, redact: str | None = None, **kwargs) -> httpx.Response:
    shown = url.replace(redact, "***") if redact else url
    try:
        response = client.post(url, timeout=timeout, **kwargs)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{what} {shown}: {type(exc).__name__}: {exc}".replace(redact or "\0", "***"), retriable=True) from None
    if response.status_code >= 500 or response.status_code == 429:
        raise DeliveryFailed(f"{what} {shown} answered {response.status_code}", retriable=True)
    if response.status_code >= 300:
        raise DeliveryFailed(f"{what} {shown} answered {response.status_code}: {response.text[:200]}", retriable=False)
    return response
