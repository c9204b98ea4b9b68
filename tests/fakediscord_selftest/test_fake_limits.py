"""The limits table's validators: a payload just at each limit passes, one over is refused with
the field named (pure functions, no server)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.fakediscord.limits import (
    choices_errors,
    command_errors,
    components_errors,
    error_paths,
    message_errors,
    modal_errors,
)


def paths(errors: Mapping[str, Any]) -> set[str]:
    """Dotted paths of every error, e.g. ``{"embeds.0.title"}``."""
    return {line.split(":")[0] for line in error_paths(errors)}


def embed(**fields: Any) -> dict[str, Any]:
    return {"type": "rich", **fields}


def button(custom_id: str = "b", label: str = "ok") -> dict[str, Any]:
    return {"type": 2, "style": 1, "custom_id": custom_id, "label": label}


def select(options: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    if options is None:
        options = [{"label": "A", "value": "a"}]
    return {"type": 3, "custom_id": "s", "options": options, **fields}


def row(*children: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(children)}


def text_input(**fields: Any) -> dict[str, Any]:
    return {"type": 4, "custom_id": "t", "style": 1, "label": "Label", **fields}


def modal(*inputs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"title": "Form", "custom_id": "m", "components": list(inputs), **fields}


def slash(**fields: Any) -> dict[str, Any]:
    return {"type": 1, "name": "ask", "description": "Ask", **fields}


def option(**fields: Any) -> dict[str, Any]:
    return {"type": 3, "name": "topic", "description": "A topic", **fields}


def command_of_size(n: int) -> dict[str, Any]:
    """A valid slash command whose names, descriptions and choices add up to ``n`` characters."""
    options: list[dict[str, Any]] = []
    total = 100  # the command's name and description below
    while total < n:
        opt = option(name=f"o{len(options)}", description="d" * 98, choices=[])
        total += 100
        while total < n and len(opt["choices"]) < 25:
            name_len = min(100, n - total)
            value_len = min(100, n - total - name_len)
            opt["choices"].append({"name": "n" * name_len, "value": "v" * value_len})
            total += name_len + value_len
        options.append(opt)
    return slash(name="a", description="d" * 99, options=options)


# (name, build(n) -> the validator's errors, the limit n, the field named when over)
Case = tuple[str, Callable[[int], dict[str, Any]], int, str]
CASES: list[Case] = [
    ("content", lambda n: message_errors({"content": "x" * n}), 2000, "content"),
    ("nonce", lambda n: message_errors({"content": "x", "nonce": "n" * n}), 25, "nonce"),
    ("embeds", lambda n: message_errors({"embeds": [embed(title="t")] * n}), 10, "embeds"),
    ("title", lambda n: message_errors({"embeds": [embed(title="t" * n)]}), 256, "embeds.0.title"),
    (
        "description",
        lambda n: message_errors({"embeds": [embed(description="d" * n)]}),
        4096,
        "embeds.0.description",
    ),
    (
        "fields",
        lambda n: message_errors({"embeds": [embed(fields=[{"name": "n", "value": "v"}] * n)]}),
        25,
        "embeds.0.fields",
    ),
    (
        "field name",
        lambda n: message_errors({"embeds": [embed(fields=[{"name": "n" * n, "value": "v"}])]}),
        256,
        "embeds.0.fields.0.name",
    ),
    (
        "field value",
        lambda n: message_errors({"embeds": [embed(fields=[{"name": "n", "value": "v" * n}])]}),
        1024,
        "embeds.0.fields.0.value",
    ),
    (
        "footer",
        lambda n: message_errors({"embeds": [embed(footer={"text": "f" * n})]}),
        2048,
        "embeds.0.footer.text",
    ),
    (
        "author",
        lambda n: message_errors({"embeds": [embed(author={"name": "a" * n})]}),
        256,
        "embeds.0.author.name",
    ),
    (
        "all embeds together",
        lambda n: message_errors(
            {"embeds": [embed(description="d" * 4000), embed(description="d" * (n - 4000))]}
        ),
        6000,
        "embeds",
    ),
    ("action rows", lambda n: components_errors([row(button(f"b{i}")) for i in range(n)]), 5, ""),
    (
        "buttons in a row",
        lambda n: components_errors([row(*(button(f"b{i}") for i in range(n)))]),
        5,
        "0.components",
    ),
    (
        "custom_id",
        lambda n: components_errors([row(button("c" * n))]),
        100,
        "0.components.0.custom_id",
    ),
    (
        "button label",
        lambda n: components_errors([row(button(label="l" * n))]),
        80,
        "0.components.0.label",
    ),
    (
        "select options",
        lambda n: components_errors(
            [row(select([{"label": f"o{i}", "value": f"v{i}"} for i in range(n)]))]
        ),
        25,
        "0.components.0.options",
    ),
    (
        "option label",
        lambda n: components_errors([row(select([{"label": "l" * n, "value": "v"}]))]),
        100,
        "0.components.0.options.0.label",
    ),
    (
        "option value",
        lambda n: components_errors([row(select([{"label": "l", "value": "v" * n}]))]),
        100,
        "0.components.0.options.0.value",
    ),
    (
        "option description",
        lambda n: components_errors(
            [row(select([{"label": "l", "value": "v", "description": "d" * n}]))]
        ),
        100,
        "0.components.0.options.0.description",
    ),
    (
        "select placeholder",
        lambda n: components_errors([row(select(placeholder="p" * n))]),
        150,
        "0.components.0.placeholder",
    ),
    (
        "select max_values",
        lambda n: components_errors([row(select(max_values=n))]),
        25,
        "0.components.0.max_values",
    ),
    ("modal title", lambda n: modal_errors(modal(row(text_input()), title="t" * n)), 45, "title"),
    (
        "modal custom_id",
        lambda n: modal_errors(modal(row(text_input()), custom_id="m" * n)),
        100,
        "custom_id",
    ),
    (
        "modal inputs",
        lambda n: modal_errors(modal(*(row(text_input(custom_id=f"t{i}")) for i in range(n)))),
        5,
        "components",
    ),
    (
        "input label (action row)",
        lambda n: modal_errors(modal(row(text_input(label="l" * n)))),
        45,
        "components.0.components.0.label",
    ),
    (
        "label (type 18)",
        lambda n: modal_errors(
            modal({"type": 18, "label": "l" * n, "component": text_input(label=None)})
        ),
        45,
        "components.0.label",
    ),
    (
        "label description (type 18)",
        lambda n: modal_errors(
            modal({"type": 18, "label": "L", "description": "d" * n, "component": text_input()})
        ),
        100,
        "components.0.description",
    ),
    (
        "input placeholder",
        lambda n: modal_errors(modal(row(text_input(placeholder="p" * n)))),
        100,
        "components.0.components.0.placeholder",
    ),
    (
        "input min_length",
        lambda n: modal_errors(modal(row(text_input(min_length=n)))),
        4000,
        "components.0.components.0.min_length",
    ),
    (
        "input max_length",
        lambda n: modal_errors(modal(row(text_input(max_length=n)))),
        4000,
        "components.0.components.0.max_length",
    ),
    (
        "prefilled value",
        lambda n: modal_errors(modal(row(text_input(value="v" * n)))),
        4000,
        "components.0.components.0.value",
    ),
    (
        "prefilled value within its max_length",
        lambda n: modal_errors(modal(row(text_input(max_length=300, value="v" * n)))),
        300,
        "components.0.components.0.value",
    ),
    (
        "autocomplete choices",
        lambda n: choices_errors([{"name": f"c{i}", "value": str(i)} for i in range(n)]),
        25,
        "",
    ),
    ("choice name", lambda n: choices_errors([{"name": "n" * n, "value": "v"}]), 100, "0.name"),
    ("choice value", lambda n: choices_errors([{"name": "n", "value": "v" * n}]), 100, "0.value"),
    ("command name", lambda n: command_errors([slash(name="a" * n)]), 32, "0.name"),
    (
        "command description",
        lambda n: command_errors([slash(description="d" * n)]),
        100,
        "0.description",
    ),
    (
        "command options",
        lambda n: command_errors([slash(options=[option(name=f"o{i}") for i in range(n)])]),
        25,
        "0.options",
    ),
    (
        "option name",
        lambda n: command_errors([slash(options=[option(name="o" * n)])]),
        32,
        "0.options.0.name",
    ),
    (
        "option description",
        lambda n: command_errors([slash(options=[option(description="d" * n)])]),
        100,
        "0.options.0.description",
    ),
    (
        "option choices",
        lambda n: command_errors(
            [
                slash(
                    options=[option(choices=[{"name": f"c{i}", "value": f"{i}"} for i in range(n)])]
                )
            ]
        ),
        25,
        "0.options.0.choices",
    ),
    (
        "option choice name",
        lambda n: command_errors(
            [slash(options=[option(choices=[{"name": "c" * n, "value": "v"}])])]
        ),
        100,
        "0.options.0.choices.0.name",
    ),
    (
        "option max_length",
        lambda n: command_errors([slash(options=[option(max_length=n)])]),
        6000,
        "0.options.0.max_length",
    ),
    (
        "context menu name",
        lambda n: command_errors([{"type": 3, "name": "S" * n, "description": ""}]),
        32,
        "0.name",
    ),
    ("command size", lambda n: command_errors([command_of_size(n)]), 8000, "0"),
]


@pytest.mark.parametrize(
    ("build", "limit", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_at_the_limit_passes_and_one_over_is_refused(
    build: Callable[[int], dict[str, Any]], limit: int, field: str
) -> None:
    assert build(limit) == {}
    refused = paths(build(limit + 1))
    assert refused == {field or "(body)"}, refused


# (name, the validator's errors, the one field it must name)
RULES: list[tuple[str, dict[str, Any], str]] = [
    (
        "empty field name",
        message_errors({"embeds": [embed(fields=[{"name": " ", "value": "v"}])]}),
        "embeds.0.fields.0.name",
    ),
    ("a select shares no row", components_errors([row(select(), button())]), "0.components"),
    (
        "duplicate custom_id in a message",
        components_errors([row(button("same")), row(button("same"))]),
        "1.components.0.custom_id",
    ),
    (
        "duplicate option values",
        components_errors(
            [row(select([{"label": "A", "value": "a"}, {"label": "B", "value": "a"}]))]
        ),
        "0.components.0.options.1.value",
    ),
    (
        "select min_values over max_values",
        components_errors([row(select(min_values=3, max_values=2))]),
        "0.components.0.min_values",
    ),
    ("a select without options", components_errors([row(select([]))]), "0.components.0.options"),
    (
        "text input min_length over max_length",
        modal_errors(modal(row(text_input(min_length=10, max_length=5)))),
        "components.0.components.0.min_length",
    ),
    ("a modal without inputs", modal_errors(modal()), "components"),
    ("a modal without a title", modal_errors(modal(row(text_input()), title="")), "title"),
    ("an empty choice name", choices_errors([{"name": "", "value": "v"}]), "0.name"),
    ("capitals in a slash command", command_errors([slash(name="Ask")]), "0.name"),
    ("spaces in a slash command", command_errors([slash(name="ask me")]), "0.name"),
    (
        "a slash command needs a description",
        command_errors([slash(description="")]),
        "0.description",
    ),
    (
        "a context menu has no description",
        command_errors([{"type": 2, "name": "Who is", "description": "about"}]),
        "0.description",
    ),
    (
        "required options first",
        command_errors([slash(options=[option(name="a"), option(name="b", required=True)])]),
        "0.options.1.required",
    ),
    (
        "autocomplete or choices",
        command_errors(
            [slash(options=[option(autocomplete=True, choices=[{"name": "a", "value": "a"}])])]
        ),
        "0.options.0.autocomplete",
    ),
    (
        "option max_length at least 1",
        command_errors([slash(options=[option(max_length=0)])]),
        "0.options.0.max_length",
    ),
    (
        "unique command names per type",
        command_errors([slash(), slash()]),
        "1.name",
    ),
    (
        "components v2 carries no content",
        message_errors({"content": "hi", "flags": 1 << 15, "components": []}),
        "content",
    ),
]


@pytest.mark.parametrize(("errors", "field"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_rule_names_the_field(errors: dict[str, Any], field: str) -> None:
    assert paths(errors) == {field}


def test_valid_payloads_pass() -> None:
    """What discord.py builds for an ordinary bot passes every validator."""
    assert message_errors({"content": "hi", "components": [row(button()), row(select())]}) == {}
    assert modal_errors(modal(row(text_input(max_length=4000, value="v" * 4000)))) == {}
    assert modal_errors(modal({"type": 18, "label": "L", "component": select()})) == {}
    assert choices_errors([{"name": "one", "value": 1}, {"name": "two", "value": 2.5}]) == {}
    context = {"type": 3, "name": "Save This Message", "description": ""}
    assert command_errors([slash(options=[option(max_length=6000)]), context]) == {}
    assert command_errors([slash(name="ąść-ü_1")]) == {}


def test_embed_text_is_measured_trimmed() -> None:
    """Discord trims leading and trailing whitespace before measuring embed text."""
    assert message_errors({"embeds": [embed(title=" " * 10 + "t" * 256 + " " * 10)]}) == {}
