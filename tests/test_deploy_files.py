"""The deployment files agree with the code: .env.example, docker-compose.yml and the Dockerfile.

`bot.config.SETTINGS` is the one list of settings the code reads, with their defaults. These
tests fail when a setting is added there but not to .env.example or the compose file (or the
other way round), and when the container files lose what makes them safe to run: a non-root
user, the time zone data, the health check, a named volume for the database, and a
dependency layer that is cached separately from the source.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
CONTAINER_DB = "/data/briefbot.sqlite3"
INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}$")


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments ignored; surrounding quotes removed."""
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        assert sep, f".env.example line {number} is not KEY=VALUE: {raw!r}"
        name, value = name.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        assert name not in found, f".env.example sets {name} twice"
        found[name] = value
    return found


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            keyword, _, args = whole.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file((ROOT / ".env.example").read_text("utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def service(compose: dict[str, Any]) -> dict[str, Any]:
    services = compose.get("services") or {}
    assert "bot" in services, "docker-compose.yml has no `bot` service"
    bot: dict[str, Any] = services["bot"]
    return bot


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions((ROOT / "Dockerfile").read_text("utf-8"))


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    """`environment:` as a mapping, whether written as a mapping or as a list of NAME=value."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (str(item).partition("=") for item in env)
        return {name: value for name, _, value in pairs}
    return {str(name): "" if value is None else str(value) for name, value in env.items()}


def env_files(service: dict[str, Any]) -> list[str]:
    raw = service.get("env_file")
    items = raw if isinstance(raw, list) else [raw] if raw else []
    return [str(item["path"] if isinstance(item, dict) else item) for item in items]


# ---------------------------------------------------------------------------------------------
# .env.example


def test_env_example_lists_exactly_the_settings_the_code_reads(env_example: dict[str, str]):
    missing = sorted(set(SETTINGS) - set(env_example))
    unknown = sorted(set(env_example) - set(SETTINGS))
    assert not missing, f".env.example lacks {missing} (bot.config.SETTINGS reads them)"
    assert not unknown, f".env.example sets {unknown}, which bot.config.SETTINGS does not list"


def test_env_example_defaults_are_the_codes_defaults(env_example: dict[str, str]):
    differ = {
        name: (env_example[name], default)
        for name, default in SETTINGS.items()
        if name in env_example and env_example[name] != default
    }
    assert not differ, f".env.example value vs the code's default: {differ}"


def test_env_file_parser_ignores_comments_and_blank_lines():
    parsed = parse_env_file("# a comment\n\nA=1\n  # indented comment\nB=\nC='x y'\n")
    assert parsed == {"A": "1", "B": "", "C": "x y"}


# ---------------------------------------------------------------------------------------------
# docker-compose.yml


def test_compose_reads_dot_env(service: dict[str, Any]):
    assert ".env" in env_files(service)


def test_compose_covers_every_setting(service: dict[str, Any]):
    environment = compose_environment(service)
    covered_by_env_file = ".env" in env_files(service)
    missing = sorted(name for name in SETTINGS if name not in environment)
    assert covered_by_env_file or not missing, f"compose passes no value for {missing}"
    unknown = sorted(set(environment) - set(SETTINGS))
    assert not unknown, f"compose sets {unknown}, which bot.config.SETTINGS does not list"


def test_compose_defaults_are_the_codes_defaults(service: dict[str, Any]):
    """`${NAME:-default}` names its own setting and falls back to the code's default; the
    database is pinned to the volume."""
    problems = []
    for name, value in compose_environment(service).items():
        if name == "BRIEFBOT_DB":
            if value != CONTAINER_DB:
                problems.append(f"BRIEFBOT_DB is {value!r}, not {CONTAINER_DB!r} on the volume")
            continue
        if name not in SETTINGS:
            continue
        match = INTERPOLATION.match(value)
        if match:
            if match["name"] != name:
                problems.append(f"{name} is filled from ${{{match['name']}}}")
            default = match["default"] or ""
        else:
            default = value
        if default != SETTINGS[name]:
            problems.append(f"{name} defaults to {default!r}, the code to {SETTINGS[name]!r}")
    assert not problems, "; ".join(problems)


def test_compose_database_is_on_a_named_volume(compose: dict[str, Any], service: dict[str, Any]):
    named = set((compose.get("volumes") or {}).keys())
    assert named, "docker-compose.yml declares no named volume"
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts[str(volume.get("target"))] = str(volume.get("source"))
        else:
            source, _, rest = str(volume).partition(":")
            mounts[rest.split(":")[0]] = source
    assert mounts.get("/data") in named, f"/data is not a named volume: {mounts}"
    assert Path(CONTAINER_DB).parent == Path("/data")


def test_compose_restarts_and_checks_health(service: dict[str, Any]):
    assert service.get("restart") == "unless-stopped"
    check = service.get("healthcheck") or {}
    test = check.get("test")
    if isinstance(test, str):
        command = shlex.split(test)
    else:
        command = [str(part) for part in test or []]
        if command and command[0] in ("CMD", "CMD-SHELL"):
            command = shlex.split(command[1]) if command[0] == "CMD-SHELL" else command[1:]
    assert command == ["python", "-m", "bot", "health"], f"healthcheck runs {test!r}"
    assert check.get("interval") == "30s"
    assert check.get("timeout") == "10s"
    assert check.get("retries") == 3
    assert check.get("start_period") == "20s"
    assert service.get("stop_grace_period") == "15s"


def test_compose_builds_this_folder(service: dict[str, Any]):
    build = service.get("build")
    context = build.get("context") if isinstance(build, dict) else build
    assert context in (".", "./")


# ---------------------------------------------------------------------------------------------
# Dockerfile


def test_dockerfile_base_and_command(dockerfile: list[tuple[str, str]]):
    assert dockerfile[0] == ("FROM", "python:3.11-slim")
    commands = [args for keyword, args in dockerfile if keyword == "CMD"]
    assert commands and commands[-1] == '["python", "-m", "bot", "run", "--discord"]'
    assert ("STOPSIGNAL", "SIGTERM") in dockerfile
    assert ("WORKDIR", "/app") in dockerfile


def test_dockerfile_runs_as_a_user_that_is_not_root(dockerfile: list[tuple[str, str]]):
    users = [args.split(":")[0].strip() for keyword, args in dockerfile if keyword == "USER"]
    assert users, "the Dockerfile has no USER: the bot would run as root"
    assert users[-1] not in ("root", "0"), f"the last USER is {users[-1]}"
    user_at = max(i for i, (keyword, _) in enumerate(dockerfile) if keyword == "USER")
    cmd_at = max(i for i, (keyword, _) in enumerate(dockerfile) if keyword == "CMD")
    assert user_at < cmd_at


def test_dockerfile_installs_tzdata(dockerfile: list[tuple[str, str]]):
    runs = [args for keyword, args in dockerfile if keyword == "RUN"]
    assert any(re.search(r"apt-get install\b[^&;|]*\btzdata\b", run) for run in runs), runs


def test_dockerfile_puts_the_database_on_the_data_volume(dockerfile: list[tuple[str, str]]):
    envs = " ".join(args for keyword, args in dockerfile if keyword == "ENV")
    assert re.search(rf"\bBRIEFBOT_DB[= ]{re.escape(CONTAINER_DB)}\b", envs), envs


def test_dockerfile_installs_dependencies_before_copying_the_source(
    dockerfile: list[tuple[str, str]],
):
    def first(predicate: Any) -> int:
        return next((i for i, item in enumerate(dockerfile) if predicate(*item)), -1)

    copy_source = first(lambda k, a: k == "COPY" and re.match(r"(--\S+\s+)*(\./)?bot/?\s", a))
    install = first(lambda k, a: k == "RUN" and re.search(r"\bpip install\b", a))
    assert copy_source >= 0, "the Dockerfile never copies bot/"
    assert 0 <= install < copy_source, "dependencies are installed after `COPY bot`"
    before = [a for k, a in dockerfile[:install] if k in ("COPY", "ADD")]
    assert before and all("pyproject.toml" in a for a in before), (
        f"only pyproject.toml (and a stub) should be copied before the dependency layer: {before}"
    )
    assert any(k == "COPY" and re.match(r"(\./)?knowledge/?\s", a) for k, a in dockerfile)


def test_dockerignore_keeps_local_state_and_secrets_out():
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".venv", "data", ".git", ".env", ".pytest_cache", "__pycache__"):
        assert entry in ignored, f".dockerignore does not list {entry}"
