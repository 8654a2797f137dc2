"""Every setting Yearwheel reads from its environment, in one typed object.

``load()`` reads the ``YEARWHEEL_*`` variables once per entry point (a command, a flow
run, the web service), checks them and says what to set when one is wrong. This is the
only module that reads ``os.environ``: the domain and the notifications get what they need
passed in (a database URL, a calendar folder, the environment for the contacts file's
``{env: NAME}`` secrets). Secrets are ``SecretStr``: they never show in a repr or a log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "YEARWHEEL_"
MIN_SECRET_BYTES = 32
MAKE_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


class SettingsInvalid(ValueError):
    """One or more variables are wrong; the message has a line per variable."""


class Settings(BaseSettings):
    """What the deployment decides. Every field is ``YEARWHEEL_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True, case_sensitive=False)

    database_url: str | None = Field(
        None,
        description="the ledger: sqlite:///path/ledger.db or postgresql+psycopg://user:password@host/db "
        "(default: sqlite:///./yearwheel.db in the working directory)",
    )
    calendar_dir: Path | None = Field(
        None, description="the calendar folder (default: ./calendar if it holds calendars, else the checkout's calendar/)"
    )
    contacts: Path | None = Field(None, description="the contacts file; without one nothing can be delivered")
    intake_url: str | None = Field(None, description="where `yearwheel intake serve` is reachable by bureaus (http or https)")
    link_secret: SecretStr | None = Field(None, description=f"signs the intake links, at least {MIN_SECRET_BYTES} bytes")
    link_days: int = Field(60, ge=1, le=3650, description="days after a task's due date its link still works")
    coordinator_token: SecretStr | None = Field(
        None, description="no longer used: each coordinator has their own token (`yearwheel users token`)"
    )
    attachment_dir: Path = Field(Path("attachments"), description="where the intake keeps evidence files")
    report_dir: Path = Field(Path("reports-out"), description="where the flows write the HTML year reports")
    report_url: str | None = Field(None, description="the address that serves report_dir (else file:// links)")
    trusted_proxies: str | None = Field(
        None,
        description="comma-separated addresses of the reverse proxies in front of the web service (e.g. 127.0.0.1): "
        "from them the client is the last address of X-Forwarded-For and the scheme X-Forwarded-Proto",
    )
    web_url: str | None = Field(
        None, description="where coordinators reach the console (`yearwheel intake serve`): the report and Prefect link to it"
    )
    log_level: str | None = Field(None, description="show the engine's log on the terminal at this level (DEBUG, INFO, WARNING)")
    prefect_api_url: str | None = Field(
        None,
        validation_alias="PREFECT_API_URL",
        description="a Prefect server: commands then run as flow runs (Prefect's own variable)",
    )

    @field_validator("link_secret")
    @classmethod
    def _long_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_BYTES} bytes (got {len(v.get_secret_value().encode())}); "
                f"make one with: {MAKE_SECRET}"
            )
        return v

    @field_validator("coordinator_token")
    @classmethod
    def _no_shared_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            raise ValueError(
                "is no longer used: the coordinator API now takes each user's own token, so the audit trail names "
                "who acted. Unset it, create a user (`yearwheel users add NAME --role coordinator --programme ID`) "
                "and a token for scripts (`yearwheel users token NAME`)"
            )
        return v

    @field_validator("intake_url", "report_url", "web_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// address, got {v!r}")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str | None) -> str | None:
        if v is not None and v.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {v!r}")
        return v.upper() if v else v

    @model_validator(mode="after")
    def _links_need_both(self) -> Settings:
        if (self.intake_url is None) != (self.link_secret is None):
            missing = "YEARWHEEL_INTAKE_URL" if self.intake_url is None else "YEARWHEEL_LINK_SECRET"
            raise ValueError(f"intake links need both YEARWHEEL_INTAKE_URL and YEARWHEEL_LINK_SECRET; {missing} is not set")
        return self

    # ----- what the parts of the application are given

    def database(self) -> str:
        return self.database_url or f"sqlite:///{Path.cwd() / 'yearwheel.db'}"

    def secret_bytes(self) -> bytes | None:
        return self.link_secret.get_secret_value().encode() if self.link_secret else None

    def report_location(self, programme: str, year: int) -> tuple[Path, str]:
        """Where a programme year's HTML report goes, and the link to it."""
        path = self.report_dir.absolute() / f"{programme}-{year}.html"
        return path, (self.report_url.rstrip("/") + "/" + path.name) if self.report_url else path.as_uri()


def log_level() -> str:
    """``$YEARWHEEL_LOG_LEVEL`` read on its own (cheap, before the rest is checked: it is
    wanted even when another variable is wrong); "" when unset or unknown."""
    level = (os.environ.get(PREFIX + "LOG_LEVEL") or "").upper()
    return level if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else ""


def environ() -> Mapping[str, str]:
    """The process environment — for the contacts file's ``{env: NAME}`` secret references."""
    return os.environ


def load(overrides: Mapping[str, Any] | None = None) -> Settings:
    """The settings as the environment gives them now (``overrides``: values set by an entry
    point, e.g. a command-line option). Raises SettingsInvalid saying what to set."""
    try:
        return Settings(**dict(overrides or {}))
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"])
            var = (PREFIX + field).upper() if field and field != "prefect_api_url" else "PREFECT_API_URL" if field else "settings"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{var if field else ''}{': ' if field else ''}{msg}")
        raise SettingsInvalid("; ".join(lines)) from None
