"""Settings from the environment: defaults, the token and its secrecy, and bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_DB, DEFAULT_KNOWLEDGE, Secret, Settings
from bot.errors import ConfigError

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"


def test_defaults_from_an_empty_environment():
    settings = Settings.from_env({})
    assert settings.db_path == DEFAULT_DB == Path("data/briefbot.sqlite3")
    assert settings.knowledge_dir == DEFAULT_KNOWLEDGE == Path("knowledge")
    assert settings.token is None
    assert settings.dev_guild is None
    assert settings.api_base is None
    assert settings.gateway_url is None


def test_blank_values_mean_the_defaults():
    settings = Settings.from_env(
        {
            "BRIEFBOT_DB": "  ",
            "BRIEFBOT_KNOWLEDGE": "",
            "DISCORD_TOKEN": " ",
            "BRIEFBOT_DEV_GUILD": "",
        }
    )
    assert settings == Settings.from_env({})


def test_values_are_read(tmp_path):
    settings = Settings.from_env(
        {
            "BRIEFBOT_DB": str(tmp_path / "x.sqlite3"),
            "BRIEFBOT_KNOWLEDGE": str(tmp_path / "pack"),
            "BRIEFBOT_DEV_GUILD": " 123456789012345678 ",
            "DISCORD_API_BASE": "http://127.0.0.1:8080/api/",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:8081",
        }
    )
    assert settings.db_path == tmp_path / "x.sqlite3"
    assert settings.knowledge_dir == tmp_path / "pack"
    assert settings.dev_guild == 123456789012345678
    assert settings.api_base == "http://127.0.0.1:8080/api"
    assert settings.gateway_url == "ws://127.0.0.1:8081"


def test_token_from_the_environment():
    settings = Settings.from_env({"DISCORD_TOKEN": f"  {TOKEN}\n"})
    assert settings.token is not None
    assert settings.token.reveal() == TOKEN


def test_token_file_is_read_and_stripped(tmp_path):
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n", encoding="utf-8")
    settings = Settings.from_env({"DISCORD_TOKEN_FILE": str(path)})
    assert settings.token is not None
    assert settings.token.reveal() == TOKEN


def test_token_and_token_file_together_are_refused(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISCORD_TOKEN": TOKEN, "DISCORD_TOKEN_FILE": str(path)})
    assert "DISCORD_TOKEN" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("content", [None, "", "  \n"])
def test_unreadable_or_empty_token_file_is_refused(tmp_path, content):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISCORD_TOKEN_FILE": str(path)})
    assert "DISCORD_TOKEN_FILE" in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("token", ["short", "has a space in it but is long enough"])
def test_malformed_token_is_refused_without_echoing_it(token):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISCORD_TOKEN": token})
    assert token not in str(caught.value)


@pytest.mark.parametrize("value", ["abc", "-5", "0", "12.5", "1e9", str(2**64), "123 456"])
def test_bad_dev_guild_is_refused_naming_the_setting(value):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"BRIEFBOT_DEV_GUILD": value})
    assert "BRIEFBOT_DEV_GUILD" in str(caught.value)


def test_superscript_dev_guild_is_a_config_error():
    with pytest.raises(ConfigError):
        Settings.from_env({"BRIEFBOT_DEV_GUILD": "²"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DISCORD_API_BASE", "ftp://x"),
        ("DISCORD_API_BASE", "discord.com"),
        ("DISCORD_GATEWAY_URL", "https://gateway"),
    ],
)
def test_bad_urls_are_refused_naming_the_setting(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_token_never_shows_in_repr_or_str(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN, encoding="utf-8")
    for env in ({"DISCORD_TOKEN": TOKEN}, {"DISCORD_TOKEN_FILE": str(path)}):
        settings = Settings.from_env(env)
        assert settings.token is not None
        assert settings.token.reveal() == TOKEN
        for shown in (
            repr(settings),
            str(settings),
            f"{settings}",
            str(settings.token),
            repr(settings.token),
            f"{settings.token}",
            f"{settings.token!r}",
        ):
            assert TOKEN not in shown
            assert TOKEN[:12] not in shown


def test_secret_truthiness():
    assert Secret(TOKEN)
    assert not Secret("")


def test_shard_and_log_settings_are_validated() -> None:
    from bot.config import Settings as S

    parsed = S.from_env({"BRIEFBOT_SHARD_COUNT": "4", "BRIEFBOT_SHARD_IDS": "0-1,3"})
    assert (parsed.shard_count, parsed.shard_ids) == (4, (0, 1, 3))
    assert S.from_env({"BRIEFBOT_SHARD_COUNT": "2"}).shard_ids == (0, 1)
    assert S.from_env({"BRIEFBOT_LOG_FORMAT": "JSON", "BRIEFBOT_LOG_LEVEL": "debug"}).log_level == (
        "DEBUG"
    )
    for env, name in (
        ({"BRIEFBOT_SHARD_IDS": "0"}, "BRIEFBOT_SHARD_COUNT"),
        ({"BRIEFBOT_SHARD_COUNT": "two"}, "BRIEFBOT_SHARD_COUNT"),
        ({"BRIEFBOT_SHARD_COUNT": "2", "BRIEFBOT_SHARD_IDS": "0-5"}, "BRIEFBOT_SHARD_IDS"),
        ({"BRIEFBOT_SHARD_COUNT": "2", "BRIEFBOT_SHARD_IDS": "a"}, "BRIEFBOT_SHARD_IDS"),
        ({"BRIEFBOT_LOG_FORMAT": "xml"}, "BRIEFBOT_LOG_FORMAT"),
        ({"BRIEFBOT_LOG_LEVEL": "LOUD"}, "BRIEFBOT_LOG_LEVEL"),
    ):
        with pytest.raises(ConfigError, match=name):
            S.from_env(env)


def test_health_and_stats_commands(tmp_path, monkeypatch, capsys) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("BRIEFBOT_DB", str(tmp_path / "db.sqlite3"))
    assert main(["health"]) == 1
    assert "no database" in capsys.readouterr().err
    assert main(["stats"]) == 0
    assert "Sections: 10" in capsys.readouterr().out
    assert main(["health"]) == 0
    assert capsys.readouterr().out.startswith("ok: schema")
    assert main(["stats", "--json"]) == 0
    report = __import__("json").loads(capsys.readouterr().out)
    assert report["sections"] == 10 and report["daily_posts"]["sent"] == 0


def test_server_limits_and_ask_retention_default_and_are_read() -> None:
    defaults = Settings.from_env({})
    assert defaults.edit_rate == (30, 600.0)
    assert defaults.max_guild_topics == 500
    assert defaults.ask_retention_days == 90
    settings = Settings.from_env(
        {
            "BRIEFBOT_EDIT_RATE": " 5/90s ",
            "BRIEFBOT_MAX_GUILD_TOPICS": "20",
            "BRIEFBOT_ASK_RETENTION_DAYS": "7",
        }
    )
    assert (settings.edit_rate, settings.max_guild_topics, settings.ask_retention_days) == (
        (5, 90.0),
        20,
        7,
    )
    assert Settings.from_env({"BRIEFBOT_EDIT_RATE": "100/1h"}).edit_rate == (100, 3600.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BRIEFBOT_EDIT_RATE", "30"),
        ("BRIEFBOT_EDIT_RATE", "30/10"),
        ("BRIEFBOT_EDIT_RATE", "0/10m"),
        ("BRIEFBOT_EDIT_RATE", "x/10m"),
        ("BRIEFBOT_EDIT_RATE", "30/10d"),
        ("BRIEFBOT_MAX_GUILD_TOPICS", "0"),
        ("BRIEFBOT_MAX_GUILD_TOPICS", "-5"),
        ("BRIEFBOT_ASK_RETENTION_DAYS", "ninety"),
        ("BRIEFBOT_ASK_RETENTION_DAYS", "0"),
    ],
)
def test_bad_limits_are_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("value", "reading"),
    [("", False), ("false", False), ("No", False), ("0", False), ("true", True), (" TRUE ", True)],
)
def test_message_content_is_a_yes_or_no(value: str, reading: bool) -> None:
    settings = Settings.from_env({"BRIEFBOT_MESSAGE_CONTENT": value})
    assert settings.message_content is reading


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_a_bad_message_content_value_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="BRIEFBOT_MESSAGE_CONTENT must be true or false"):
        Settings.from_env({"BRIEFBOT_MESSAGE_CONTENT": value})


# -- the database: a SQLite file or a PostgreSQL URL ------------------------------------------

PG_URL = "postgresql://briefbot:s3cret-pw@db.internal:5432/briefbot"


def test_a_postgresql_url_selects_postgresql_and_its_password_never_shows():
    settings = Settings.from_env({"BRIEFBOT_DB": PG_URL})
    assert settings.database == PG_URL
    assert settings.database_shown == "postgresql://briefbot:***@db.internal:5432/briefbot"
    assert settings.database_password is None
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in str(settings.db_url)


def test_a_sqlite_path_stays_sqlite():
    settings = Settings.from_env({"BRIEFBOT_DB": "data/other.sqlite3"})
    assert settings.db_url is None
    assert settings.database == settings.database_shown == "data/other.sqlite3"


def test_the_postgresql_password_comes_from_its_file(tmp_path):
    secret = tmp_path / "db_password"
    secret.write_text("from-a-file\n", encoding="utf-8")
    settings = Settings.from_env(
        {
            "BRIEFBOT_DB": "postgres://briefbot@postgres:5432/briefbot",
            "BRIEFBOT_DB_PASSWORD_FILE": str(secret),
        }
    )
    assert settings.database_password == "from-a-file"
    assert "from-a-file" not in repr(settings)


def test_a_unix_socket_url_is_accepted():
    url = "postgresql://briefbot@/briefbot?host=/var/run/postgresql"
    assert Settings.from_env({"BRIEFBOT_DB": url}).database == url


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BRIEFBOT_DB": "mysql://u@h/db"}, "not a mysql:// URL"),
        ({"BRIEFBOT_DB": "postgresql://u@host:5432/"}, "must name the server and the database"),
        ({"BRIEFBOT_DB": "postgresql:///briefbot"}, "must name the server and the database"),
        ({"BRIEFBOT_DB": "postgresql://u:pw@host:port/db"}, "not a valid PostgreSQL URL"),
        (
            {"BRIEFBOT_DB": PG_URL, "BRIEFBOT_DB_PASSWORD_FILE": "/run/secrets/x"},
            "keep the password in one place",
        ),
        (
            {"BRIEFBOT_DB": "data/x.sqlite3", "BRIEFBOT_DB_PASSWORD_FILE": "/run/secrets/x"},
            "BRIEFBOT_DB is a SQLite file path",
        ),
    ],
)
def test_a_bad_database_setting_names_the_problem(env, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.from_env(env)
    assert "s3cret-pw" not in str(caught.value)
    assert "pw@" not in str(caught.value)


def test_an_unreadable_or_empty_password_file_is_named(tmp_path):
    url = "postgresql://briefbot@postgres:5432/briefbot"
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="cannot be read"):
        Settings.from_env({"BRIEFBOT_DB": url, "BRIEFBOT_DB_PASSWORD_FILE": str(missing)})
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is empty"):
        Settings.from_env({"BRIEFBOT_DB": url, "BRIEFBOT_DB_PASSWORD_FILE": str(empty)})


def test_the_scheme_is_read_whatever_its_case():
    url = "PostgreSQL://briefbot@db.internal:5432/briefbot"
    settings = Settings.from_env({"BRIEFBOT_DB": url})
    assert settings.db_url is not None and settings.database == url
    from bot.store.backends import is_postgres

    assert is_postgres(settings.database)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://bot:pa#ss@db/briefbot", "percent-encode it"),
        ("postgresql://bot:pa/ss@db/briefbot", "percent-encode it"),
        ("postgresql://bot:pw@[::1/briefbot", "host or port cannot be read"),
        ("postgresql://bot@[::1/briefbot", "host or port cannot be read"),
        ("postgresql://bot@db/briefbot?password=hunter2", "password in its query"),
        ("postgresql://bot@db/briefbot?sslmode=require&PassFile=/x", "password in its query"),
    ],
)
def test_a_url_that_would_be_misread_or_show_its_password_is_refused(url, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.from_env({"BRIEFBOT_DB": url})
    for secret in ("pa#ss", "pa/ss", "hunter2", "pw@"):
        assert secret not in str(caught.value)


def test_a_password_with_reserved_characters_percent_encoded_is_hidden_everywhere():
    settings = Settings.from_env({"BRIEFBOT_DB": "postgresql://bot:pa%23ss%2F1@db:5432/briefbot"})
    assert settings.database_shown == "postgresql://bot:***@db:5432/briefbot"
    assert set(settings.secrets) == {"pa%23ss%2F1", "pa#ss/1"}
