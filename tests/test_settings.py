"""The one settings object: every YEARWHEEL_* variable typed and checked, with messages
that name the variable and say what to set; secrets never shown."""

from __future__ import annotations

import pytest

from yearwheel.settings import SettingsInvalid, load

SECRET = "x" * 40


def test_defaults_and_values(monkeypatch, tmp_path):
    for var in ("YEARWHEEL_DATABASE_URL", "YEARWHEEL_LINK_SECRET", "YEARWHEEL_INTAKE_URL", "PREFECT_API_URL"):
        monkeypatch.delenv(var, raising=False)
    s = load()
    assert s.database().startswith("sqlite:///") and s.database().endswith("yearwheel.db")
    assert s.link_days == 60 and s.secret_bytes() is None
    monkeypatch.setenv("YEARWHEEL_LINK_DAYS", "30")
    monkeypatch.setenv("YEARWHEEL_REPORT_DIR", str(tmp_path))
    monkeypatch.setenv("YEARWHEEL_REPORT_URL", "https://reports.example.gov.cn/yw/")
    s = load()
    assert s.link_days == 30
    assert s.report_location("p", 2023) == (tmp_path / "p-2023.html", "https://reports.example.gov.cn/yw/p-2023.html")


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"YEARWHEEL_LINK_DAYS": "sixty"}, "YEARWHEEL_LINK_DAYS"),
        ({"YEARWHEEL_LINK_DAYS": "0"}, "YEARWHEEL_LINK_DAYS"),
        ({"YEARWHEEL_LINK_SECRET": "short", "YEARWHEEL_INTAKE_URL": "https://x.example"}, "at least 32 bytes"),
        ({"YEARWHEEL_LINK_SECRET": SECRET}, "YEARWHEEL_INTAKE_URL is not set"),
        ({"YEARWHEEL_INTAKE_URL": "https://x.example"}, "YEARWHEEL_LINK_SECRET is not set"),
        ({"YEARWHEEL_INTAKE_URL": "x.example", "YEARWHEEL_LINK_SECRET": SECRET}, "http:// or https://"),
        ({"YEARWHEEL_COORDINATOR_TOKEN": "t" * 30}, "yearwheel users token"),  # the shared token is gone
        ({"YEARWHEEL_LOG_LEVEL": "LOUD"}, "YEARWHEEL_LOG_LEVEL"),
    ],
)
def test_a_wrong_variable_is_named_with_what_to_set(monkeypatch, env, said):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsInvalid) as info:
        load()
    assert said in str(info.value)
    assert SECRET not in str(info.value)


def test_secrets_never_show(monkeypatch):
    monkeypatch.setenv("YEARWHEEL_LINK_SECRET", SECRET)
    monkeypatch.setenv("YEARWHEEL_INTAKE_URL", "https://intake.example.gov.cn")
    s = load()
    assert SECRET not in repr(s) and SECRET not in str(s.model_dump())
    assert s.secret_bytes() == SECRET.encode()


def test_the_cli_says_which_variable_is_wrong(cli, monkeypatch):
    monkeypatch.setenv("YEARWHEEL_LINK_DAYS", "many")
    r = cli("status", "jilin-quality-2022-2024", "--year", "2023")
    assert r.exit_code == 1 and "YEARWHEEL_LINK_DAYS" in r.stderr and "Traceback" not in r.stderr
