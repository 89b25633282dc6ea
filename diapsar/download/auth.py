"""Credentials (legacy ``email password`` file, ``~/.netrc``, environment) and the CDSE token.

Secrets never reach output: ``Credentials`` hides its password in ``repr``, every secret seen is registered
so that ``redact`` can scrub it from any message, and a logging filter applies ``redact`` to log records.
"""

from __future__ import annotations

import logging
import netrc
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, DownloadError
from .http import Authorizer, HttpClient, error_detail, host_of

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()

CDSE_CLIENT_ID = "cdse-public"
NETRC_MACHINES = {
    "cdse": ("identity.dataspace.copernicus.eu", "dataspace.copernicus.eu", "catalogue.dataspace.copernicus.eu"),
    "resto": ("peps.cnes.fr",),
    "geodes": ("geodes-portal.cnes.fr", "geodes.cnes.fr"),
}
ENV_VARS = {  # (user, password) variables, first found wins
    "cdse": (("CDSE_USERNAME", "CDSE_PASSWORD"), ("DIAPSAR_USERNAME", "DIAPSAR_PASSWORD")),
    "resto": (("PEPS_USERNAME", "PEPS_PASSWORD"), ("DIAPSAR_USERNAME", "DIAPSAR_PASSWORD")),
    "geodes": (("GEODES_USERNAME", "GEODES_API_KEY"), ("DIAPSAR_USERNAME", "DIAPSAR_PASSWORD")),
}


def register_secret(value: str | None) -> None:
    if value and len(value) >= 3:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for s in secrets:
        text = text.replace(s, "***")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = None
        return True


def install_log_redaction(logger: logging.Logger) -> None:
    for h in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter())


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str = ""

    def __post_init__(self):
        register_secret(self.password)

    def __repr__(self) -> str:  # never show the password
        return f"Credentials(username={self.username!r}, password='***', source={self.source!r})"

    __str__ = __repr__


def read_auth_file(path: str | os.PathLike) -> Credentials:
    """The original peps_download account file: ``email password`` on the first line.

    The original split on exactly one space; here the user name ends at the first run of blanks and the
    password is the rest of the line (so a password may hold spaces); quotes are not interpreted.
    """
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"auth file {p} not found (expected one line: 'email password')") from None
    except OSError as exc:
        raise ConfigError(f"cannot read auth file {p}: {exc.strerror}") from None
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    parts = line.split(None, 1)
    if len(parts) == 1 and parts[0]:
        # one field: an API key (GEODES) without a user name
        register_secret(parts[0])
        return Credentials("", parts[0], f"file {p}")
    if len(parts) != 2:
        raise ConfigError(f"auth file {p} must hold one line 'email password'")
    return Credentials(parts[0], parts[1].strip(), f"file {p}")


def _netrc_path() -> Path:
    env = os.environ.get("NETRC")
    return Path(env).expanduser() if env else Path.home() / ".netrc"


def from_netrc(machines) -> Credentials | None:
    path = _netrc_path()
    if not path.is_file():
        return None
    try:
        rc = netrc.netrc(str(path))
    except (netrc.NetrcParseError, OSError) as exc:
        raise ConfigError(f"cannot parse {path}: line {getattr(exc, 'lineno', '?')}") from None
    for m in machines:
        entry = rc.authenticators(m)
        if entry:
            login, _account, password = entry
            if password:
                return Credentials(login or "", password, f"netrc {path} machine {m}")
    return None


def from_env(pairs) -> Credentials | None:
    for user_var, pass_var in pairs:
        pw = os.environ.get(pass_var)
        if pw:
            return Credentials(os.environ.get(user_var, ""), pw, f"environment {pass_var}")
    return None


def find_credentials(service: str, auth_file: str | None = None) -> Credentials | None:
    """Credentials for ``service`` (cdse, resto, geodes): the auth file, else environment, else ``~/.netrc``."""
    if auth_file:
        return read_auth_file(auth_file)
    return from_env(ENV_VARS.get(service, ())) or from_netrc(NETRC_MACHINES.get(service, ()))


class BasicAuthorizer(Authorizer):
    def __init__(self, creds: Credentials):
        import base64

        token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        register_secret(token)
        self._header = {"Authorization": f"Basic {token}"}

    def headers(self) -> dict[str, str]:
        return dict(self._header)


class ApiKeyAuthorizer(Authorizer):
    def __init__(self, creds: Credentials, header: str = "X-API-Key"):
        self._header = {header: creds.password}

    def headers(self) -> dict[str, str]:
        return dict(self._header)


class CdseToken(Authorizer):
    """Keycloak password grant done once, then refresh-token grants before expiry; thread-safe.

    CDSE allows 100 concurrently active logins and each password grant opens one, so a new password grant
    happens only when the refresh token itself has expired or been refused.
    """

    def __init__(self, client: HttpClient, token_url: str, creds: Credentials, totp: str | None = None,
                 margin_s: float = 30.0):
        self.client = client
        self.token_url = token_url
        self.creds = creds
        self.totp = totp
        self.margin_s = margin_s
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self._access_until = 0.0
        self._refresh_until = 0.0
        self.password_grants = 0

    def _post(self, form: dict) -> dict:
        resp = self.client.request("POST", self.token_url, data=form, what="login")
        if resp.status_code in (400, 401):
            raise DownloadError(f"login refused by {host_of(self.token_url)}: "
                                f"{error_detail(resp) or f'HTTP {resp.status_code}'}")
        if resp.status_code != 200:
            raise DownloadError(f"login failed at {host_of(self.token_url)}: HTTP {resp.status_code}")
        try:
            body = resp.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise DownloadError(f"login answer from {host_of(self.token_url)} holds no access token") from None
        register_secret(token)
        register_secret(body.get("refresh_token"))
        now = time.monotonic()
        expires = float(body.get("expires_in", 600))
        self._access = token
        self._access_until = now + expires - min(self.margin_s, expires / 4.0)
        self._refresh = body.get("refresh_token")
        rexp = float(body.get("refresh_expires_in", 0) or 0)
        self._refresh_until = now + rexp - min(self.margin_s, rexp / 4.0) if self._refresh else 0.0
        return body

    def _login(self) -> None:
        if not self.creds.username:
            raise DownloadError("CDSE login needs a user name (auth file 'email password')")
        form = {"grant_type": "password", "username": self.creds.username, "password": self.creds.password,
                "client_id": CDSE_CLIENT_ID}
        if self.totp:
            form["totp"] = self.totp
        self.password_grants += 1
        self._post(form)

    def token(self) -> str:
        with self._lock:
            now = time.monotonic()
            if self._access and now < self._access_until:
                return self._access
            if self._refresh and now < self._refresh_until:
                try:
                    self._post({"grant_type": "refresh_token", "refresh_token": self._refresh,
                                "client_id": CDSE_CLIENT_ID})
                    return self._access  # type: ignore[return-value]
                except DownloadError:
                    self._refresh = None
            self._login()
            return self._access  # type: ignore[return-value]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def invalidate(self) -> bool:
        with self._lock:
            self._access = None
            self._access_until = 0.0
        return True
