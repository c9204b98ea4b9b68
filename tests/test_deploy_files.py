"""The deployment files agree with the code: .env.example, docker-compose.yml, the Dockerfile,
and the lock files that every install reads.

`bot.config.SETTINGS` is the one list of settings the code reads, with their defaults. These
tests fail when a setting is added there but not to .env.example or to either bot of the
compose file (or the other way round), and when the container files lose what makes them safe
to run: a non-root user, the time zone data, the health check, a named volume for the database,
and a dependency layer that is cached separately from the source. The compose tests also hold
its two profiles to what the README promises: `docker compose up -d` runs the SQLite bot alone,
`docker compose --profile postgres up -d` the PostgreSQL bot alone, after a PostgreSQL server
that has a named volume, a health check and a password that is a secret file. The lock tests
fail when pyproject.toml asks for a package (or a version) that requirements/*.lock does not
pin with a hash (the image's lock includes the `postgres` extra: one image runs on both), when
the image's runtime lock and the test lock that CI installs disagree, and when the Makefile,
the Dockerfile or .ci/run install anything other than the locks.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
import yaml

# packaging comes with pytest (and is pinned in the test lock through it).
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from bot.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_LOCK = "requirements/runtime.lock"
TEST_LOCK = "requirements/test.lock"
BUILD_IN = "requirements/build.in"
CONTAINER_DB = "/data/briefbot.sqlite3"
# The compose file's services: the bot on SQLite (`docker compose up -d`), the bot on
# PostgreSQL and its server (`docker compose --profile postgres up -d`).
SQLITE_BOT = "bot"
POSTGRES_BOT = "bot-postgres"
POSTGRES = "postgres"
BOTS = (SQLITE_BOT, POSTGRES_BOT)
# Settings each bot fixes itself rather than taking from .env: where its database is.
DATABASE_SETTINGS = {
    SQLITE_BOT: {"BRIEFBOT_DB": CONTAINER_DB, "BRIEFBOT_DB_PASSWORD_FILE": ""},
    POSTGRES_BOT: {"BRIEFBOT_DB": None, "BRIEFBOT_DB_PASSWORD_FILE": None},  # tested below
}
# Variables .env.example may set beside SETTINGS: Compose's own, which Compose reads from .env.
COMPOSE_VARIABLES = {"COMPOSE_PROFILES"}
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
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose.get("services") or {}
    for name in (*BOTS, POSTGRES):
        assert name in found, f"docker-compose.yml has no `{name}` service"
    return found


@pytest.fixture(scope="module", params=BOTS)
def service(request: pytest.FixtureRequest, services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each bot service in turn: what holds for the bot holds on both databases."""
    bot: dict[str, Any] = services[request.param]
    return bot


@pytest.fixture(scope="module")
def postgres(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return services[POSTGRES]


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


def service_name(services: dict[str, dict[str, Any]], service: dict[str, Any]) -> str:
    return next(name for name, candidate in services.items() if candidate is service)


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source, for the short (`source:target[:mode]`) and the long syntax."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts[str(volume.get("target"))] = str(volume.get("source"))
        else:
            source, _, rest = str(volume).partition(":")
            mounts[rest.split(":")[0]] = source
    return mounts


def healthcheck_command(service: dict[str, Any]) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        return shlex.split(test)
    command = [str(part) for part in test or []]
    if command and command[0] in ("CMD", "CMD-SHELL"):
        command = shlex.split(command[1]) if command[0] == "CMD-SHELL" else command[1:]
    return command


def secret_names(service: dict[str, Any]) -> set[str]:
    return {
        str(item["source"] if isinstance(item, dict) else item)
        for item in service.get("secrets") or []
    }


def enabled(services: dict[str, dict[str, Any]], profiles: list[str]) -> set[str]:
    """The services Compose starts under these active profiles: those without `profiles:`
    always, the others when one of theirs is active."""
    return {
        name
        for name, service in services.items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


# ---------------------------------------------------------------------------------------------
# .env.example


def test_env_example_lists_exactly_the_settings_the_code_reads(env_example: dict[str, str]):
    missing = sorted(set(SETTINGS) - set(env_example))
    unknown = sorted(set(env_example) - set(SETTINGS) - COMPOSE_VARIABLES)
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
    """Each bot lists every setting (not only through `env_file`), so that its database
    settings are its own and the others fall back to the code's defaults."""
    environment = compose_environment(service)
    missing = sorted(name for name in SETTINGS if name not in environment)
    assert not missing, f"compose passes no value for {missing}"
    unknown = sorted(set(environment) - set(SETTINGS))
    assert not unknown, f"compose sets {unknown}, which bot.config.SETTINGS does not list"


def test_compose_defaults_are_the_codes_defaults(
    services: dict[str, dict[str, Any]], service: dict[str, Any]
):
    """`${NAME:-default}` names its own setting and falls back to the code's default; the
    database is the bot's own, never taken from .env (whose BRIEFBOT_DB is for running outside
    Docker): the SQLite bot's is pinned to the volume."""
    problems = []
    pinned = DATABASE_SETTINGS[service_name(services, service)]
    for name, value in compose_environment(service).items():
        if name in pinned:
            if "$" in value:
                problems.append(f"{name} is {value!r}, taken from the environment")
            elif pinned[name] is not None and value != pinned[name]:
                problems.append(f"{name} is {value!r}, not {pinned[name]!r}")
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
    mounts = volume_mounts(service)
    assert mounts.get("/data") in named, f"/data is not a named volume: {mounts}"
    assert Path(CONTAINER_DB).parent == Path("/data")


def test_compose_restarts_and_checks_health(service: dict[str, Any]):
    assert service.get("restart") == "unless-stopped"
    check = service.get("healthcheck") or {}
    command = healthcheck_command(service)
    assert command == ["python", "-m", "bot", "health"], f"healthcheck runs {check.get('test')!r}"
    assert check.get("interval") == "30s"
    assert check.get("timeout") == "10s"
    assert check.get("retries") == 3
    assert check.get("start_period") == "20s"
    assert service.get("stop_grace_period") == "15s"


def test_compose_builds_this_folder(service: dict[str, Any]):
    build = service.get("build")
    context = build.get("context") if isinstance(build, dict) else build
    assert context in (".", "./")


def test_compose_runs_no_bot_the_tests_do_not_know(services: dict[str, dict[str, Any]]):
    """Every service that runs Briefbot's image is one of BOTS, so every test above covers it."""
    bots = {
        name
        for name, service in services.items()
        if service.get("build") or str(service.get("image", "")).startswith("briefbot")
    }
    assert bots == set(BOTS), f"services running Briefbot: {sorted(bots)}"


def test_compose_profiles_run_one_bot_at_a_time(
    services: dict[str, dict[str, Any]], env_example: dict[str, str]
):
    """`docker compose up -d` (the profiles in .env, COMPOSE_PROFILES) runs the SQLite bot, and
    `--profile postgres` (which replaces COMPOSE_PROFILES) the PostgreSQL bot and its server:
    never both bots on one token."""
    default = [p for p in env_example.get("COMPOSE_PROFILES", "").split(",") if p.strip()]
    assert enabled(services, default) & set(BOTS) == {SQLITE_BOT}, default
    assert enabled(services, ["postgres"]) & set(BOTS) == {POSTGRES_BOT}
    assert POSTGRES in enabled(services, ["postgres"])
    assert POSTGRES not in enabled(services, default), "the SQLite setup starts PostgreSQL"
    for name in BOTS:
        assert services[name].get("profiles"), f"{name} has no profile: it starts under every one"
    for profile in {p for s in services.values() for p in s.get("profiles") or []}:
        both = enabled(services, [profile]) & set(BOTS)
        assert len(both) <= 1, f"--profile {profile} starts {sorted(both)}"


def test_compose_profile_check_can_fail():
    """The rule `enabled` applies is Compose's: a service without profiles always starts."""
    services = {"bot": {}, "bot-postgres": {"profiles": ["postgres"]}}
    assert enabled(services, ["postgres"]) == {"bot", "bot-postgres"}
    assert enabled(services, []) == {"bot"}


def test_compose_postgres_bot_uses_the_postgres_service(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], postgres: dict[str, Any]
):
    """The PostgreSQL bot's BRIEFBOT_DB names the compose server, its user and its database,
    with no password in it: the password is the server's secret file, mounted into both."""
    environment = compose_environment(services[POSTGRES_BOT])
    server = compose_environment(postgres)
    url = urlsplit(environment["BRIEFBOT_DB"])
    assert url.scheme in ("postgresql", "postgres"), url.geturl()
    assert url.hostname == POSTGRES and url.port in (None, 5432), url.geturl()
    assert url.password is None, "BRIEFBOT_DB holds the password"
    assert url.username == server.get("POSTGRES_USER"), (url.username, server)
    assert url.path.strip("/") == server.get("POSTGRES_DB"), (url.path, server)

    password_file = PurePosixPath(environment["BRIEFBOT_DB_PASSWORD_FILE"])
    assert password_file.parent == PurePosixPath("/run/secrets"), password_file
    secret = password_file.name
    assert secret in secret_names(services[POSTGRES_BOT]), "the bot does not mount the secret"
    assert secret in secret_names(postgres), "the server does not mount the secret"
    assert server.get("POSTGRES_PASSWORD_FILE") == str(password_file), server
    assert "POSTGRES_PASSWORD" not in server, "the server's password is written in the file"
    declared = (compose.get("secrets") or {}).get(secret) or {}
    assert "file" in declared, f"the secret {secret} is not a file: {declared}"


def test_compose_postgres_bot_waits_for_a_healthy_server(services: dict[str, dict[str, Any]]):
    depends = services[POSTGRES_BOT].get("depends_on") or {}
    assert isinstance(depends, dict), f"depends_on without a condition: {depends}"
    assert (depends.get(POSTGRES) or {}).get("condition") == "service_healthy", depends


def test_compose_postgres_server(compose: dict[str, Any], postgres: dict[str, Any]):
    """The official image at one major version, its data on a named volume, a health check
    that asks the server itself, and no port published on the host."""
    image = str(postgres.get("image"))
    assert re.fullmatch(r"postgres:\d+(-[a-z0-9]+)?", image), f"{image} is not one major version"
    named = set((compose.get("volumes") or {}).keys())
    mounts = volume_mounts(postgres)
    assert mounts.get("/var/lib/postgresql/data") in named, f"no named data volume: {mounts}"
    assert mounts.get("/var/lib/postgresql/data") != volume_mounts(
        compose["services"][SQLITE_BOT]
    ).get("/data"), "PostgreSQL shares the bot's volume"
    command = healthcheck_command(postgres)
    assert command[:1] == ["pg_isready"], f"the server's healthcheck runs {command}"
    assert postgres.get("restart") == "unless-stopped"
    assert not postgres.get("ports"), "PostgreSQL is published on the host"


def test_compose_secret_files_stay_out_of_the_image(compose: dict[str, Any]):
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for name, secret in (compose.get("secrets") or {}).items():
        path = PurePosixPath(str(secret.get("file", "")))
        parts = [part for part in path.parts if part != "."]
        assert parts and parts[0] in ignored, f"secret {name} ({path}) is in the build context"


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
    assert any(RUNTIME_LOCK in a for a in before), f"{RUNTIME_LOCK} is not copied: {before}"
    assert all(RUNTIME_LOCK in a or "pyproject.toml" in a for a in before), (
        f"only the runtime lock should be copied before the dependency layer: {before}"
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


# ---------------------------------------------------------------------------------------------
# The locks: requirements/runtime.lock (the image) and requirements/test.lock (make install, CI)

# The platforms the locks are installed on: the image (python:3.11-slim) and CI. The locks are
# universal (macOS and Windows too); these are the ones the tests below hold them to.
TARGETS = [
    {
        "python_version": "3.11",
        "python_full_version": "3.11.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
    }
    for machine in ("x86_64", "aarch64")
]
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]*?))?\s*$"
)


class Pin(NamedTuple):
    name: str
    version: Version
    marker: Marker | None
    hashes: frozenset[str]

    def applies(self, environment: dict[str, str]) -> bool:
        return self.marker is None or self.marker.evaluate(environment)


def parse_lock(text: str) -> list[Pin]:
    """The entries of a hashed requirements file: `name==version ; marker` and its hashes.
    Anything else (a range, a URL, an editable, an option line) fails the parse."""
    pins: list[Pin] = []
    pending = ""
    entries: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        entries.append(pending + line)
        pending = ""
    if pending.strip():
        entries.append(pending)
    for entry in entries:
        hashes = frozenset(HASH.findall(entry))
        requirement = HASH.sub("", entry).strip()
        match = PIN.match(requirement)
        assert match, f"not an exact pin: {requirement!r}"
        marker = match["marker"]
        pins.append(
            Pin(
                canonicalize_name(match["name"]),
                Version(match["version"]),
                Marker(marker) if marker else None,
                hashes,
            )
        )
    return pins


def lock_pins(path: str) -> dict[str, list[Pin]]:
    found: dict[str, list[Pin]] = {}
    for pin in parse_lock((ROOT / path).read_text("utf-8")):
        found.setdefault(pin.name, []).append(pin)
    return found


def makefile_variables(text: str) -> dict[str, str]:
    variables: dict[str, str] = {}
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?::=|\?=|=)\s*(.*)$", line)
        if match:
            variables[match[1]] = match[2].strip()
    return variables


def makefile_expand(value: str, variables: dict[str, str]) -> str:
    for _ in range(10):
        expanded = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: variables[m[1]], value)
        if expanded == value:
            return expanded
        value = expanded
    raise AssertionError(f"Makefile variables expand forever: {value}")


def makefile_rules(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """target -> (prerequisites, recipe lines), variables expanded, continuations joined."""
    variables = makefile_variables(text)
    rules: dict[str, tuple[list[str], list[str]]] = {}
    current: list[str] | None = None
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if line.startswith("\t") and current is not None:
            current.append(makefile_expand(line.strip(), variables))
            continue
        match = re.match(r"^([^\s#=:][^=:]*):(?!=)(.*)$", line)
        if match:
            prerequisites = makefile_expand(match[2], variables).replace("|", " ").split()
            current = []
            for target in makefile_expand(match[1], variables).split():
                rules[target] = (prerequisites, current)
        elif line.strip() and not line.startswith("#"):
            current = None
    return rules


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


@pytest.fixture(scope="module")
def runtime_lock() -> dict[str, list[Pin]]:
    return lock_pins(RUNTIME_LOCK)


@pytest.fixture(scope="module")
def test_lock() -> dict[str, list[Pin]]:
    return lock_pins(TEST_LOCK)


@pytest.fixture(scope="module")
def make_rules() -> dict[str, tuple[list[str], list[str]]]:
    return makefile_rules((ROOT / "Makefile").read_text("utf-8"))


def unpinned(requirements: list[str], lock: dict[str, list[Pin]]) -> list[str]:
    """The requirements that the lock does not satisfy on every target platform."""
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        for environment in TARGETS:
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            pins = [
                pin
                for pin in lock.get(canonicalize_name(requirement.name), [])
                if pin.applies(environment)
            ]
            if len(pins) != 1:
                problems.append(f"{text}: {len(pins)} pins on {environment['platform_machine']}")
            elif not requirement.specifier.contains(pins[0].version, prereleases=True):
                problems.append(f"{text}: the lock pins {pins[0].version}")
    return sorted(set(problems))


def test_lock_parser_reads_pins_markers_and_hashes():
    text = (
        "# header\n"
        "Foo.Bar==1.2 ; python_full_version >= '3.13' \\\n"
        "    --hash=sha256:" + "a" * 64 + " \\\n"
        "    --hash=sha256:" + "b" * 64 + "\n"
        "    # via baz\n"
        "qux==2.0 \\\n    --hash=sha256:" + "c" * 64 + "\n"
    )
    first, second = parse_lock(text)
    assert first.name == "foo-bar" and first.version == Version("1.2")
    assert first.hashes == {"a" * 64, "b" * 64}
    assert not first.applies(TARGETS[0])
    assert second.applies(TARGETS[1]) and second.hashes == {"c" * 64}
    with pytest.raises(AssertionError):
        parse_lock("foo>=1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n")


@pytest.mark.parametrize("path", [RUNTIME_LOCK, TEST_LOCK])
def test_every_locked_package_is_an_exact_version_with_hashes(path: str):
    pins = lock_pins(path)
    assert pins, f"{path} pins nothing"
    without = sorted(name for name, entries in pins.items() if any(not p.hashes for p in entries))
    assert not without, f"{path}: no hash for {without} (pip --require-hashes would refuse it)"
    assert "briefbot" not in pins, f"{path} pins the project itself"
    header = (ROOT / path).read_text("utf-8").splitlines()[:3]
    assert any("make lock" in line for line in header), f"{path} does not say `make lock`"


def runtime_requirements(pyproject: dict[str, Any]) -> list[str]:
    """What the image installs: the dependencies, and the `postgres` extra (the driver)."""
    project = pyproject["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["postgres"]]


def test_runtime_lock_pins_every_dependency(
    pyproject: dict[str, Any], runtime_lock: dict[str, list[Pin]]
):
    problems = unpinned(runtime_requirements(pyproject), runtime_lock)
    assert not problems, f"{RUNTIME_LOCK} is out of date (run `make lock`): {problems}"


def test_the_image_has_the_postgresql_driver(runtime_lock: dict[str, list[Pin]]):
    pins = runtime_lock.get("asyncpg") or []
    assert pins, f"{RUNTIME_LOCK} lacks asyncpg: the image could not run on PostgreSQL"
    assert all(pin.hashes for pin in pins), pins


def test_test_lock_pins_every_dependency_test_extra_and_build_requirement(
    pyproject: dict[str, Any], test_lock: dict[str, list[Pin]]
):
    wanted = [
        *runtime_requirements(pyproject),
        *pyproject["project"]["optional-dependencies"]["test"],
        *pyproject["build-system"]["requires"],
        "pip",
    ]
    problems = unpinned(wanted, test_lock)
    assert not problems, f"{TEST_LOCK} is out of date (run `make lock`): {problems}"


def test_build_in_lists_the_build_backend(pyproject: dict[str, Any]):
    """`make install` builds the project with the locked setuptools (--no-build-isolation), so
    requirements/build.in, from which the lock takes it, must ask for what pyproject.toml does."""
    listed = {
        str(Requirement(line))
        for raw in (ROOT / BUILD_IN).read_text("utf-8").splitlines()
        if (line := raw.split("#", 1)[0].strip())
    }
    missing = [
        r for r in pyproject["build-system"]["requires"] if str(Requirement(r)) not in listed
    ]
    assert not missing, f"{BUILD_IN} lacks {missing} from [build-system] requires"


def test_the_image_runs_the_versions_that_ci_tests(
    pyproject: dict[str, Any],
    runtime_lock: dict[str, list[Pin]],
    test_lock: dict[str, list[Pin]],
):
    differ = []
    for name, pins in runtime_lock.items():
        for environment in TARGETS:
            ours = [p for p in pins if p.applies(environment)]
            theirs = [p for p in test_lock.get(name, []) if p.applies(environment)]
            if [(p.version, p.hashes) for p in ours] != [(p.version, p.hashes) for p in theirs]:
                differ.append(name)
    assert not differ, f"{RUNTIME_LOCK} and {TEST_LOCK} differ on {sorted(set(differ))}"
    runtime = {canonicalize_name(Requirement(r).name) for r in runtime_requirements(pyproject)}
    test_only = {
        canonicalize_name(Requirement(r).name)
        for r in [
            *pyproject["project"]["optional-dependencies"]["test"],
            *pyproject["build-system"]["requires"],
        ]
    } - runtime
    leaked = sorted(test_only & set(runtime_lock))
    assert not leaked, f"{RUNTIME_LOCK} (the image) holds test or build tools: {leaked}"


def test_make_install_installs_from_the_test_lock(make_rules: dict[str, Any]):
    stamps = [t for t, (_, recipe) in make_rules.items() if any("pip install" in r for r in recipe)]
    install_prerequisites, _ = make_rules["install"]
    assert len(install_prerequisites) == 1, install_prerequisites
    stamp = install_prerequisites[0]
    prerequisites, recipe = make_rules[stamp]
    assert TEST_LOCK in prerequisites and "pyproject.toml" in prerequisites, prerequisites
    installs = [line for line in recipe if re.search(r"\bpip install\b", line)]
    from_lock = [line for line in installs if f"-r {TEST_LOCK}" in line]
    assert from_lock and all("--require-hashes" in line for line in from_lock), installs
    for line in installs:
        if line in from_lock:
            continue
        # The project itself: its dependencies came from the lock, its build backend too.
        words = line.split()
        assert "--no-deps" in words and "--no-build-isolation" in words, line
        assert words[-1] == "." or words[-2:] == ["-e", "."], line
    assert any(re.search(r"\bpip check\b", line) for line in recipe), recipe
    assert installs.index(from_lock[0]) == 0, "the lock is installed before the project"
    others = [t for t in stamps if t not in (stamp, "lock")]
    assert not others, f"targets that install outside the lock: {others}"
    for target in ("run", "lint", "bench"):
        assert "install" in make_rules[target][0], f"`make {target}` does not install first"
    assert "lint" in make_rules["test"][0]


def test_make_lock_writes_both_locks_with_hashes(
    make_rules: dict[str, Any], pyproject: dict[str, Any]
):
    _, recipe = make_rules["lock"]
    compiles = [line for line in recipe if "compile" in line]
    outputs = {
        m[1] for line in compiles if (m := re.search(r"(?:-o|--output-file)[ =](\S+)", line))
    }
    assert outputs == {RUNTIME_LOCK, TEST_LOCK}, compiles
    minimum = re.search(r">=\s*(\d+\.\d+)", pyproject["project"]["requires-python"])
    assert minimum
    for line in compiles:
        assert "--generate-hashes" in line and "--universal" in line, line
        assert f"--python-version {minimum[1]}" in line, line
        assert "pyproject.toml" in line.split(), line
    runtime_compile = next(line for line in compiles if TEST_LOCK not in line)
    assert "--extra postgres" in runtime_compile, runtime_compile
    test_compile = next(line for line in compiles if TEST_LOCK in line)
    assert "--extra test" in test_compile and BUILD_IN in test_compile, test_compile
    assert "--extra postgres" in test_compile, test_compile
    assert f"--constraints {RUNTIME_LOCK}" in test_compile, test_compile


def test_dockerfile_installs_only_the_runtime_lock(dockerfile: list[tuple[str, str]]):
    copied = {}
    for keyword, args in dockerfile:
        if keyword == "COPY" and RUNTIME_LOCK in args:
            copied[args.split()[-1]] = RUNTIME_LOCK
    assert copied, f"the Dockerfile never copies {RUNTIME_LOCK}"
    installs = [a for k, a in dockerfile if k == "RUN" and re.search(r"\bpip install\b", a)]
    assert len(installs) == 1, installs
    words = installs[0].split()
    assert "--require-hashes" in words and "--only-binary" in words, installs[0]
    assert words[words.index("-r") + 1] in copied, installs[0]


def test_ci_installs_through_make():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert "make test" in lines, lines
    stray = [line for line in lines if re.search(r"\b(pip|uv) (pip )?install\b", line)]
    assert not stray, f".ci/run installs outside the lock: {stray}"
