"""Secrets of a storage URL never leave the process: the password of a URL, in the user part
(``postgresql://user:password@host/db``, a raw ``@`` in it included) or in the query
(``?password=...``), is masked wherever a URL or a message about it is shown.

Prefer no password in the URL at all: libpq (PostgreSQL) reads it from ``PGPASSFILE`` (default
``~/.pgpass``) or ``PGPASSWORD`` when the URL has none (docs/inputs.md).
"""

from __future__ import annotations

import re

#: Query parameters that carry a secret (libpq: password, sslpassword; others by name).
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:password|passwd|pwd|sslpassword|secret|token|api_?key|access_?key)=)([^&;#]*)"
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$", re.DOTALL)
#: What replaces a secret.
MASK = "***"


def _userinfo_end(rest: str) -> int:
    """Index of the ``@`` that ends the user part of a URL after ``scheme://`` (-1: none).

    The last ``@`` before the query (a raw ``@`` may sit in the password); without one there,
    the last ``@`` of all unless it sits inside a query parameter (a raw ``?`` in a password).
    """
    stop = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, stop)
    if at >= 0:
        return at
    at = rest.rfind("@")
    return at if at >= 0 and "=" not in rest[:at] else -1


def secrets_of(url: str) -> list[str]:
    """The secret parts of a URL (its password, secret query values), longest first."""
    m = _SCHEME.match(url)
    if not m:
        return []
    rest = m.group(2)
    found = [v for _, v in _SECRET_PARAM.findall(rest) if v]
    at = _userinfo_end(rest)
    if at >= 0 and ":" in rest[:at]:
        found.append(rest[:at].split(":", 1)[1])
    return sorted({s for s in found if s}, key=len, reverse=True)


def has_secret(url: str) -> bool:
    """Whether a URL carries a password or another secret."""
    return bool(secrets_of(url))


def mask_url(url: str) -> str:
    """The URL with its password and secret query values replaced by ``***``
    (``postgresql://user:***@host/db?sslmode=require&password=***``); a path is unchanged."""
    m = _SCHEME.match(url)
    if not m:
        return url
    scheme, rest = m.groups()
    at = _userinfo_end(rest)
    if at >= 0 and ":" in rest[:at]:
        rest = rest[:at].split(":", 1)[0] + ":" + MASK + rest[at:]
    rest = _SECRET_PARAM.sub(lambda p: p.group(1) + MASK, rest)
    return scheme + rest


def scrub(text: str, url: str) -> str:
    """``text`` (an error message, a log line) with every secret of ``url`` replaced by ``***``,
    the whole URL first (so its masked form is shown)."""
    if url and url in text:
        text = text.replace(url, mask_url(url))
    for secret in secrets_of(url):
        text = text.replace(secret, MASK)
    return text


__all__ = ["MASK", "has_secret", "mask_url", "scrub", "secrets_of"]
