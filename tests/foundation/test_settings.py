from __future__ import annotations

from pathlib import Path

import pytest

from ivr.settings import SettingsError, load_settings, render_greeting
from tests.plugins.secret_values import fresh_secrets, write_secrets_file


def test_defaults_are_china_three_rings() -> None:
    s = load_settings(env={})
    assert (s.ring.on_seconds, s.ring.off_seconds, s.ring.count) == (1.0, 4.0, 3)
    assert s.ring.limit_seconds == 15.0
    assert s.database.url.startswith("sqlite+aiosqlite://")


def test_file_and_env_override(tmp_path: Path) -> None:
    f = tmp_path / "hotline.toml"
    f.write_text('[hotline]\nname = "某某供水"\n[ring]\ncount = 4\n', encoding="utf-8")
    s = load_settings(f, env={"HOTLINE_RING_COUNT": "5", "HOTLINE_AGI_PORT": "4600", "OTHER": "x"})
    assert s.hotline.name == "某某供水"
    assert s.ring.count == 5
    assert s.agi.port == 4600
    assert s.source == str(f)


def test_bad_value_names_file_line_and_key(tmp_path: Path) -> None:
    f = tmp_path / "hotline.toml"
    f.write_text('[hotline]\nname = "x"\n\n[ring]\non_seconds = 1\ncount = 0\n', encoding="utf-8")
    with pytest.raises(SettingsError) as ei:
        load_settings(f, env={})
    assert f"{f}:6: ring.count:" in str(ei.value)
    assert "greater than or equal to 1" in str(ei.value)


def test_unknown_key_and_section(tmp_path: Path) -> None:
    f = tmp_path / "hotline.toml"
    f.write_text('[ring]\ncuont = 3\n[nosuch]\na = 1\n', encoding="utf-8")
    with pytest.raises(SettingsError) as ei:
        load_settings(f, env={})
    msg = str(ei.value)
    assert f"{f}:2: ring.cuont: unknown setting" in msg
    assert f"{f}:3: nosuch: unknown section" in msg


def test_bad_env_override_names_variable() -> None:
    with pytest.raises(SettingsError) as ei:
        load_settings(env={"HOTLINE_CONSOLE_PORT": "eighty"})
    assert "environment variable HOTLINE_CONSOLE_PORT: console.port:" in str(ei.value)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[ring\ncount = 3\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"bad\.toml: not valid TOML: .*line 1"):
        load_settings(f, env={})
    with pytest.raises(SettingsError, match="settings file not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_bad_greeting_template_and_db_url(tmp_path: Path) -> None:
    f = tmp_path / "h.toml"
    f.write_text('[hotline]\ngreeting = "您好{who}"\n[database]\nurl = "mysql://x"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as ei:
        load_settings(f, env={})
    assert f"{f}:2: hotline.greeting:" in str(ei.value)
    assert f"{f}:4: database.url:" in str(ei.value)


def test_greeting_with_and_without_apology() -> None:
    s = load_settings(env={})
    plain = render_greeting(s, "1001", waited_too_long=False)
    assert plain.startswith("您好") and "1001" in plain and s.hotline.name in plain
    sorry = render_greeting(s, "1001", waited_too_long=True)
    assert sorry.startswith("对不起，让您久等了") and sorry.endswith(plain)


# --- secrets: no defaults, the secrets file, the environment -------------------------------------------------


def test_secrets_have_no_defaults_and_settings_load_without_them(tmp_path: Path) -> None:
    s = load_settings(env={"HOTLINE_SECRETS_FILE": str(tmp_path / "none.toml")})
    assert (s.console.secret, s.asterisk.phone_secret, s.asterisk.ari_password) == ("", "", "")
    assert s.secret_origins == {}


def test_secrets_file_wins_over_the_settings_file_and_the_environment_over_both(tmp_path: Path) -> None:
    values = fresh_secrets()
    conf = tmp_path / "hotline.toml"
    conf.write_text('[console]\nport = 8099\nsecret = "from-the-settings-file-but-overridden"\n', encoding="utf-8")
    secrets_file = write_secrets_file(tmp_path / "var" / "secrets.toml", values)
    s = load_settings(conf, env={})
    assert s.secrets_file == secrets_file  # relative to the settings file's directory
    assert (s.console.secret, s.asterisk.phone_secret, s.asterisk.ari_password) == (
        values["console.secret"], values["asterisk.phone_secret"], values["asterisk.ari_password"])
    assert s.console.port == 8099
    assert s.secret_origins["console.secret"].startswith(f"{secrets_file}:")
    env = load_settings(conf, env={"HOTLINE_ASTERISK_ARI_PASSWORD": values["console.secret"][::-1]})
    assert env.asterisk.ari_password == values["console.secret"][::-1]
    assert env.secret_origins["asterisk.ari_password"] == "environment variable HOTLINE_ASTERISK_ARI_PASSWORD"
    assert env.console.secret == values["console.secret"]
    skipped = load_settings(conf, env={}, read_secrets=False)
    assert skipped.console.secret == "from-the-settings-file-but-overridden"
    assert skipped.secret_origins == {"console.secret": f"{conf}:3"}


def test_secrets_file_location_from_settings_or_environment(tmp_path: Path) -> None:
    values = fresh_secrets()
    elsewhere = write_secrets_file(tmp_path / "private" / "hotline-secrets.toml", values)
    conf = tmp_path / "hotline.toml"
    conf.write_text('[secrets]\nfile = "private/hotline-secrets.toml"\n', encoding="utf-8")
    assert load_settings(conf, env={}).console.secret == values["console.secret"]
    by_env = load_settings(env={"HOTLINE_SECRETS_FILE": str(elsewhere)})
    assert by_env.asterisk.phone_secret == values["asterisk.phone_secret"]


def test_secrets_file_holds_only_secrets_and_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "secrets.toml"
    f.write_text('[console]\nsecret = "x"\nport = 1\n', encoding="utf-8")
    with pytest.raises(SettingsError) as ei:
        load_settings(env={"HOTLINE_SECRETS_FILE": str(f)})
    assert f"{f}:3: console.port: not a secret" in str(ei.value)
    f.write_text('[asterisk]\nphone_secret = 7\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=rf"{f}:2: asterisk.phone_secret: must be a string"):
        load_settings(env={"HOTLINE_SECRETS_FILE": str(f)})
    f.write_text('[console\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML.*--force"):
        load_settings(env={"HOTLINE_SECRETS_FILE": str(f)})


def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    values = fresh_secrets()
    s = load_settings(env={"HOTLINE_SECRETS_FILE": str(write_secrets_file(tmp_path / "s.toml", values))})
    text = repr(s) + str(s)
    assert not any(v in text for v in values.values())
