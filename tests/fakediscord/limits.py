"""Discord's documented limits, in one table, and pure validators built on it.

The fake server refuses what these functions refuse (HTTP 400, code 50035, the field named), and
bot tests import the same functions to check what the bot renders before it is ever sent. Each
validator returns the ``errors`` part of Discord's "Invalid Form Body" answer: a nested dict keyed
by field name or list index whose leaves are ``{"_errors": [{"code", "message"}]}``; ``{}`` means
valid. Sources for the numbers are in ``README.md`` beside this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class MessageLimits:
    content: int = 2000  # characters of message content
    embeds: int = 10  # embeds per message
    nonce: int = 25  # characters of a string nonce
    files: int = 10  # attachments per message
    file_bytes: int = 10 * 1024 * 1024  # bytes of each uploaded file (default, no boosts)


@dataclass(frozen=True)
class EmbedLimits:
    title: int = 256  # characters of an embed title
    description: int = 4096  # characters of an embed description
    fields: int = 25  # fields per embed
    field_name: int = 256  # characters of a field name (at least 1)
    field_value: int = 1024  # characters of a field value (at least 1)
    footer_text: int = 2048  # characters of the footer text
    author_name: int = 256  # characters of the author name
    total: int = 6000  # title+description+field names/values+footer+author of ALL embeds


@dataclass(frozen=True)
class ComponentLimits:
    action_rows: int = 5  # top-level action rows in a message
    per_row: int = 5  # buttons in one action row (a select fills a row alone)
    v2_total: int = 40  # all components of a components-v2 message, nested ones included
    custom_id: int = 100  # characters of a custom_id (at least 1), unique within a message
    button_label: int = 80  # characters of a button label
    select_options: int = 25  # options of a string select (at least 1)
    option_label: int = 100  # characters of an option label (at least 1)
    option_value: int = 100  # characters of an option value (at least 1), unique within a select
    option_description: int = 100  # characters of an option description
    placeholder: int = 150  # characters of a select placeholder
    select_values: int = 25  # min_values 0..25, max_values 1..25


@dataclass(frozen=True)
class ModalLimits:
    title: int = 45  # characters of the modal title (at least 1)
    custom_id: int = 100  # characters of the modal's and each input's custom_id (at least 1)
    components: int = 5  # inputs (rows or labels) in a modal (at least 1)
    label: int = 45  # characters of an input's label, or of a type-18 label (at least 1)
    label_description: int = 100  # characters of a type-18 label's description (if given, 1+)
    placeholder: int = 100  # characters of a text input placeholder
    text_length: int = 4000  # min_length 0..4000, max_length 1..4000, and a prefilled value


@dataclass(frozen=True)
class ChoiceLimits:
    choices: int = 25  # autocomplete choices in one answer
    name: int = 100  # characters of a choice name (at least 1)
    string_value: int = 100  # characters of a string choice value


@dataclass(frozen=True)
class CommandLimits:
    name: int = 32  # characters of a command or option name (at least 1)
    description: int = 100  # characters of a slash command or option description (at least 1)
    options: int = 25  # options of a command or subcommand
    choices: int = 25  # choices of one option
    choice_name: int = 100  # characters of a choice name (at least 1)
    choice_string_value: int = 100  # characters of a string choice value
    string_length: int = 6000  # option min_length 0..6000, max_length 1..6000
    total_characters: int = 8000  # names, descriptions and choice values of one command together
    chat_input_commands: int = 100  # slash commands per scope (global, or one guild)
    context_menu_commands: int = 5  # user commands, and message commands, per scope (each)


@dataclass(frozen=True)
class InstallLimits:
    integration_types: frozenset[int] = frozenset({0, 1})  # GUILD_INSTALL, USER_INSTALL
    contexts: frozenset[int] = frozenset({0, 1, 2})  # GUILD, BOT_DM, PRIVATE_CHANNEL
    user_install_followups: int = 5  # follow-ups one interaction of a user-installed app may make


@dataclass(frozen=True)
class RateLimits:
    global_per_second: int = 50  # requests per second per bot token (interactions exempt)
    channel_posts: int = 5  # messages a bot may post in one channel per window (our choice)
    channel_window: float = 5.0  # seconds of that per-channel window (our choice)
    nonce_window: float = 300.0  # seconds a message nonce is remembered (our choice)
    route_requests: int = 50  # requests per route and major parameter per window (our choice)
    route_window: float = 1.0  # seconds of that route window (our choice)


@dataclass(frozen=True)
class ThreadLimits:
    name: int = 100  # characters of a thread name (at least 1)
    auto_archive: tuple[int, ...] = (60, 1440, 4320, 10080)  # the minutes allowed
    slowmode: int = 21600  # rate_limit_per_user, seconds (0..21600)


@dataclass(frozen=True)
class Limits:
    message: MessageLimits = MessageLimits()
    embed: EmbedLimits = EmbedLimits()
    component: ComponentLimits = ComponentLimits()
    modal: ModalLimits = ModalLimits()
    choice: ChoiceLimits = ChoiceLimits()
    command: CommandLimits = CommandLimits()
    install: InstallLimits = InstallLimits()
    rate: RateLimits = RateLimits()
    thread: ThreadLimits = ThreadLimits()


#: The one table; everything below reads it.
LIMITS = Limits()

#: Message flag that switches a message to components v2 (no content, no embeds).
FLAG_IS_COMPONENTS_V2 = 1 << 15

#: Component types a select menu can have (string, user, role, mentionable, channel).
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})


# ---------------------------------------------------------------------------
# Building Discord's nested error dicts


class _Errors:
    """Collects errors at paths like ("embeds", 0, "title") into Discord's nested shape."""

    def __init__(self) -> None:
        self.tree: JSON = {}

    def add(self, path: Iterable[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def merge(self, path: Iterable[str | int], errors: Mapping[str, Any]) -> None:
        if not errors:
            return
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        _deep_merge(node, errors)

    def length(
        self,
        path: Iterable[str | int],
        value: Any,
        maximum: int,
        *,
        minimum: int = 0,
        required: bool = False,
    ) -> None:
        """Check a string's length (absent is fine unless ``required``)."""
        path = tuple(path)
        if value is None or (required and value == ""):
            if required:
                self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return
        if not isinstance(value, str):
            self.add(path, "BASE_TYPE_STRING", "Must be a string.")
            return
        if minimum and not minimum <= len(value) <= maximum:
            self.add(
                path, "BASE_TYPE_BAD_LENGTH", f"Must be between {minimum} and {maximum} in length."
            )
        elif len(value) > maximum:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")

    def count(
        self, path: Iterable[str | int], items: Any, maximum: int, *, minimum: int = 0
    ) -> list[Any]:
        """Check a list's length; returns the list (or [] when it is not one)."""
        path = tuple(path)
        if items is None:
            items = []
        if not isinstance(items, list):
            self.add(path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
            return []
        if minimum and not minimum <= len(items) <= maximum:
            self.add(
                path, "BASE_TYPE_BAD_LENGTH", f"Must be between {minimum} and {maximum} in length."
            )
        elif len(items) > maximum:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")
        return items

    def number(self, path: Iterable[str | int], value: Any, low: int, high: int) -> int | None:
        path = tuple(path)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, "NUMBER_TYPE_COERCE", f"Value {value!r} is not int.")
            return None
        if value < low:
            self.add(
                path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}."
            )
        elif value > high:
            self.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {high}.")
        return value


def _deep_merge(into: JSON, other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if key == "_errors":
            into.setdefault("_errors", []).extend(value)
        else:
            _deep_merge(into.setdefault(key, {}), value)


def error_paths(errors: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Flatten an errors dict to readable lines: ``data.components.0.label: BASE_TYPE_...``."""
    lines: list[str] = []
    for key, value in errors.items():
        if key == "_errors":
            for err in value:
                lines.append(f"{prefix or '(body)'}: {err.get('code')} {err.get('message')}")
        elif isinstance(value, Mapping):
            lines.extend(error_paths(value, f"{prefix}.{key}" if prefix else key))
    return lines


# ---------------------------------------------------------------------------
# Messages


def _trimmed(value: Any) -> Any:
    """Discord trims leading and trailing whitespace of embed text before measuring it."""
    return value.strip() if isinstance(value, str) else value


def embeds_size(embeds: Iterable[Mapping[str, Any]]) -> int:
    """Characters that count toward the 6,000 shared by all embeds of a message."""
    total = 0
    for emb in embeds:
        if not isinstance(emb, Mapping):
            continue
        texts = [emb.get("title"), emb.get("description")]
        texts.append((emb.get("footer") or {}).get("text"))
        texts.append((emb.get("author") or {}).get("name"))
        for fld in emb.get("fields") or []:
            if isinstance(fld, Mapping):
                texts += [fld.get("name"), fld.get("value")]
        total += sum(len(_trimmed(t)) for t in texts if isinstance(t, str))
    return total


def message_errors(payload: Mapping[str, Any], *, n_files: int = 0, editing: bool = False) -> JSON:
    """Errors in a message create/edit body (channel post, callback data, webhook body).

    ``editing`` is accepted for symmetry with the server; the limits are the same for an edit.
    An empty message is not a form error (Discord answers code 50006): see ``is_empty_message``.
    """
    del editing
    lim, elim = LIMITS.message, LIMITS.embed
    err = _Errors()
    err.length(["content"], payload.get("content"), lim.content)
    nonce = payload.get("nonce")
    if isinstance(nonce, str):
        err.length(["nonce"], nonce, lim.nonce)
    if n_files > lim.files:
        err.add(["files"], "BASE_TYPE_MAX_LENGTH", f"Must be {lim.files} or fewer in length.")
    embeds = err.count(["embeds"], payload.get("embeds"), lim.embeds)
    for i, emb in enumerate(embeds):
        if not isinstance(emb, Mapping):
            err.add(
                ["embeds", i], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
            )
            continue
        err.length(["embeds", i, "title"], _trimmed(emb.get("title")), elim.title)
        err.length(["embeds", i, "description"], _trimmed(emb.get("description")), elim.description)
        if emb.get("footer") is not None:
            err.length(
                ["embeds", i, "footer", "text"],
                _trimmed(emb["footer"].get("text")),
                elim.footer_text,
                minimum=1,
                required=True,
            )
        if emb.get("author") is not None:
            err.length(
                ["embeds", i, "author", "name"],
                _trimmed(emb["author"].get("name")),
                elim.author_name,
                minimum=1,
                required=True,
            )
        fields = err.count(["embeds", i, "fields"], emb.get("fields"), elim.fields)
        for j, fld in enumerate(fields):
            where: list[str | int] = ["embeds", i, "fields", j]
            err.length(
                [*where, "name"],
                _trimmed(fld.get("name")),
                elim.field_name,
                minimum=1,
                required=True,
            )
            err.length(
                [*where, "value"],
                _trimmed(fld.get("value")),
                elim.field_value,
                minimum=1,
                required=True,
            )
    if embeds_size(embeds) > elim.total:
        err.add(
            ["embeds"],
            "MESSAGE_EMBEDS_TOO_LARGE",
            f"Embed size exceeds maximum size of {elim.total}",
        )
    v2 = bool(int(payload.get("flags") or 0) & FLAG_IS_COMPONENTS_V2)
    components = payload.get("components")
    if v2:
        if payload.get("content") or embeds:
            err.add(
                ["content" if payload.get("content") else "embeds"],
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used"
                " when using MessageFlags.IS_COMPONENTS_V2",
            )
        err.merge(["components"], _v2_components_errors(components))
    elif components is not None:
        err.merge(["components"], components_errors(components))
    return err.tree


def is_empty_message(payload: Mapping[str, Any], *, n_files: int = 0) -> bool:
    """True when a new message would have nothing to show (Discord answers 50006)."""
    return not (
        payload.get("content")
        or payload.get("embeds")
        or payload.get("components")
        or n_files
        or payload.get("attachments")
        or payload.get("sticker_ids")
        or payload.get("poll")
    )


def thread_errors(payload: Mapping[str, Any]) -> JSON:
    """Errors in a Start Thread from Message body (name, auto_archive_duration, slowmode)."""
    lim = LIMITS.thread
    err = _Errors()
    err.length(["name"], payload.get("name"), lim.name, minimum=1, required=True)
    duration = payload.get("auto_archive_duration")
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, int)
        or duration not in lim.auto_archive
    ):
        err.add(
            ["auto_archive_duration"],
            "BASE_TYPE_CHOICES",
            f"Value must be one of {set(lim.auto_archive)}.",
        )
    err.number(["rate_limit_per_user"], payload.get("rate_limit_per_user"), 0, lim.slowmode)
    return err.tree


# ---------------------------------------------------------------------------
# Components


def components_errors(components: Any) -> JSON:
    """Errors in a (non components-v2) message's ``components``: action rows of buttons/selects.

    Paths are relative to ``components`` (``{"0": {"components": {"1": {"label": ...}}}}``).
    """
    lim = LIMITS.component
    err = _Errors()
    rows = err.count([], components, lim.action_rows)
    seen_ids: set[str] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or int(row.get("type", 0)) != 1:
            err.add([i, "type"], "UNION_TYPE_CHOICES", "Value must be an action row (type 1).")
            continue
        children = err.count([i, "components"], row.get("components"), lim.per_row, minimum=1)
        selects = [c for c in children if _type(c) in SELECT_TYPES]
        if selects and len(children) > 1:
            err.add(
                [i, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for j, child in enumerate(children):
            err.merge([i, "components", j], _interactive_errors(child, seen_ids))
    return err.tree


def _type(component: Any) -> int:
    return int(component.get("type", 0)) if isinstance(component, Mapping) else 0


def _interactive_errors(component: Any, seen_ids: set[str]) -> JSON:
    """Errors in one button or select (paths relative to the component)."""
    lim = LIMITS.component
    err = _Errors()
    ctype = _type(component)
    if ctype == 2:
        style = int(component.get("style") or 0)
        if not 1 <= style <= 6:
            err.add(["style"], "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4, 5, 6).")
        err.length(["label"], component.get("label"), lim.button_label)
        if style == 5:
            if not component.get("url"):
                err.add(["url"], "BASE_TYPE_REQUIRED", "This field is required")
            if component.get("custom_id") is not None:
                err.add(
                    ["custom_id"],
                    "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                    "A link button cannot have a custom_id",
                )
        elif style != 6:
            _custom_id(err, component.get("custom_id"), seen_ids)
    elif ctype in SELECT_TYPES:
        _custom_id(err, component.get("custom_id"), seen_ids)
        err.length(["placeholder"], component.get("placeholder"), lim.placeholder)
        low = err.number(["min_values"], component.get("min_values"), 0, lim.select_values)
        high = err.number(["max_values"], component.get("max_values"), 1, lim.select_values)
        if low is not None and high is not None and low > high:
            err.add(
                ["min_values"],
                "SELECT_COMPONENT_MIN_VALUES_GREATER_THAN_MAX",
                "min_values must be less than or equal to max_values",
            )
        if ctype == 3:
            err.merge([], _options_errors(component.get("options")))
    else:
        err.add(["type"], "UNION_TYPE_CHOICES", f"Component type {ctype} is not allowed here.")
    return err.tree


def _custom_id(err: _Errors, custom_id: Any, seen_ids: set[str]) -> None:
    err.length(["custom_id"], custom_id, LIMITS.component.custom_id, minimum=1, required=True)
    if isinstance(custom_id, str) and custom_id:
        if custom_id in seen_ids:
            err.add(
                ["custom_id"],
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        seen_ids.add(custom_id)


def _options_errors(options: Any) -> JSON:
    lim = LIMITS.component
    err = _Errors()
    items = err.count(["options"], options, lim.select_options, minimum=1)
    values: set[str] = set()
    for k, opt in enumerate(items):
        where: list[str | int] = ["options", k]
        if not isinstance(opt, Mapping):
            err.add(where, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        err.length([*where, "label"], opt.get("label"), lim.option_label, minimum=1, required=True)
        value = opt.get("value")
        err.length([*where, "value"], value, lim.option_value, minimum=1, required=True)
        err.length([*where, "description"], opt.get("description"), lim.option_description)
        if isinstance(value, str):
            if value in values:
                err.add(
                    [*where, "value"],
                    "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                    "Select component option values must be unique",
                )
            values.add(value)
    return err.tree


def _walk(components: Any) -> Iterable[tuple[tuple[str | int, ...], Mapping[str, Any]]]:
    """Every component of a components-v2 tree with its path."""
    if not isinstance(components, list):
        return
    for i, comp in enumerate(components):
        if not isinstance(comp, Mapping):
            continue
        yield (i,), comp
        for key in ("components",):
            for sub, child in _walk(comp.get(key)):
                yield (i, key, *sub), child
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), Mapping):
                for sub, child in _walk([comp[key]]):
                    yield (i, key, *sub[1:]), child


def _v2_components_errors(components: Any) -> JSON:
    lim = LIMITS.component
    err = _Errors()
    tree = list(_walk(components if isinstance(components, list) else []))
    if len(tree) > lim.v2_total:
        err.add([], "BASE_TYPE_MAX_LENGTH", f"Must be {lim.v2_total} or fewer in length.")
    seen_ids: set[str] = set()
    for path, comp in tree:
        if _type(comp) == 2 or _type(comp) in SELECT_TYPES:
            err.merge(path, _interactive_errors(comp, seen_ids))
    return err.tree


# ---------------------------------------------------------------------------
# Modals


def modal_errors(data: Mapping[str, Any]) -> JSON:
    """Errors in a modal callback's ``data`` (type 9): title, custom_id and 1-5 text inputs.

    Both layouts are accepted: action rows (type 1) holding one text input with its own label,
    and labels (type 18) holding a text input or a select in ``component``.
    """
    lim = LIMITS.modal
    err = _Errors()
    err.length(["title"], data.get("title"), lim.title, minimum=1, required=True)
    err.length(["custom_id"], data.get("custom_id"), lim.custom_id, minimum=1, required=True)
    rows = err.count(["components"], data.get("components"), lim.components, minimum=1)
    seen_ids: set[str] = set()
    for i, row in enumerate(rows):
        where: list[str | int] = ["components", i]
        rtype = _type(row)
        if rtype == 1:
            children = err.count([*where, "components"], row.get("components"), 1, minimum=1)
            for j, child in enumerate(children):
                err.merge(
                    [*where, "components", j], _text_input_errors(child, seen_ids, labelled=True)
                )
        elif rtype == 18:
            err.length([*where, "label"], row.get("label"), lim.label, minimum=1, required=True)
            err.length(
                [*where, "description"], row.get("description"), lim.label_description, minimum=1
            )
            inner = row.get("component")
            if _type(inner) == 4:
                err.merge(
                    [*where, "component"], _text_input_errors(inner, seen_ids, labelled=False)
                )
            elif _type(inner) in SELECT_TYPES:
                err.merge([*where, "component"], _interactive_errors(inner, seen_ids))
            elif isinstance(inner, Mapping) and _type(inner):
                # Newer label children (file upload, radio group...): the shared rules only.
                custom_id_err = _Errors()
                _custom_id(custom_id_err, inner.get("custom_id"), seen_ids)
                err.merge([*where, "component"], custom_id_err.tree)
            else:
                err.add([*where, "component"], "BASE_TYPE_REQUIRED", "This field is required")
        elif rtype == 10:
            err.length([*where, "content"], row.get("content"), lim.text_length, required=True)
        else:
            err.add(
                [*where, "type"], "UNION_TYPE_CHOICES", f"Component type {rtype} is not allowed"
            )
    return err.tree


def _text_input_errors(component: Any, seen_ids: set[str], *, labelled: bool) -> JSON:
    """One text input; ``labelled`` when it sits in an action row and so carries its own label."""
    lim = LIMITS.modal
    err = _Errors()
    if _type(component) != 4:
        err.add(["type"], "UNION_TYPE_CHOICES", "Value must be a text input (type 4).")
        return err.tree
    _custom_id(err, component.get("custom_id"), seen_ids)
    if int(component.get("style") or 0) not in (1, 2):
        err.add(["style"], "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    if labelled:
        err.length(["label"], component.get("label"), lim.label, minimum=1, required=True)
    err.length(["placeholder"], component.get("placeholder"), lim.placeholder)
    low = err.number(["min_length"], component.get("min_length"), 0, lim.text_length)
    high = err.number(["max_length"], component.get("max_length"), 1, lim.text_length)
    if low is not None and high is not None and low > high:
        err.add(
            ["min_length"],
            "TEXT_INPUT_MIN_LENGTH_GREATER_THAN_MAX",
            "min_length must be less than or equal to max_length",
        )
    value = component.get("value")
    if value is not None:
        err.length(["value"], value, high if high is not None else lim.text_length)
    return err.tree


# ---------------------------------------------------------------------------
# Autocomplete


def choices_errors(choices: Any) -> JSON:
    """Errors in an autocomplete answer's ``choices`` (paths relative to ``choices``)."""
    lim = LIMITS.choice
    err = _Errors()
    items = err.count([], choices, lim.choices)
    for i, choice in enumerate(items):
        _choice(err, [i], choice, lim.name, lim.string_value)
    return err.tree


def _choice(
    err: _Errors, where: list[str | int], choice: Any, name_max: int, value_max: int
) -> None:
    if not isinstance(choice, Mapping):
        err.add(where, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    err.length([*where, "name"], choice.get("name"), name_max, minimum=1, required=True)
    value = choice.get("value")
    if value is None:
        err.add([*where, "value"], "BASE_TYPE_REQUIRED", "This field is required")
    elif isinstance(value, str):
        err.length([*where, "value"], value, value_max)


# ---------------------------------------------------------------------------
# Application commands

#: Discord's documented name pattern ``^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$``;
#: ``\w`` (letters, digits, marks via combining, underscore) stands in for the Unicode classes.
_SLASH_NAME = re.compile(r"^[-_'\w]{1,32}$")


def command_errors(commands: Any, *, guild_scoped: bool = False) -> JSON:
    """Errors in a bulk-overwrite body (a list of commands); paths start at the list index.

    ``guild_scoped``: the body is one guild's commands, where installs and contexts other than
    a guild install used in a guild have no meaning (see `install_errors`).
    """
    lim = LIMITS.command
    err = _Errors()
    if not isinstance(commands, list):
        err.add([], "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return err.tree
    seen: set[tuple[str, int]] = set()
    per_type: dict[int, int] = {}
    for i, cmd in enumerate(commands):
        if not isinstance(cmd, Mapping):
            err.add([i], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        err.merge([i], single_command_errors(cmd, guild_scoped=guild_scoped))
        ctype = int(cmd.get("type") or 1)
        per_type[ctype] = per_type.get(ctype, 0) + 1
        cap = lim.chat_input_commands if ctype == 1 else lim.context_menu_commands
        if per_type[ctype] > cap:
            err.add(
                [i],
                "APPLICATION_COMMANDS_TOO_MANY",
                f"Maximum number of application commands of type {ctype} reached ({cap})",
            )
        key = (str(cmd.get("name")), int(cmd.get("type") or 1))
        if key in seen:
            err.add(
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {key[0]}",
            )
        seen.add(key)
    return err.tree


def single_command_errors(cmd: Mapping[str, Any], *, guild_scoped: bool = False) -> JSON:
    """Errors in one command (the upsert and edit bodies)."""
    lim = LIMITS.command
    err = _Errors()
    ctype = int(cmd.get("type") or 1)
    name = cmd.get("name")
    if ctype not in (1, 2, 3, 4):
        err.add(["type"], "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4).")
    err.merge([], install_errors(cmd, guild_scoped=guild_scoped))
    if ctype == 1:
        _slash_name(err, ["name"], name)
        err.length(
            ["description"], cmd.get("description"), lim.description, minimum=1, required=True
        )
        err.merge(["options"], _options_of(cmd.get("options"), depth=0))
    else:
        err.length(["name"], name, lim.name, minimum=1, required=True)
        if cmd.get("description"):
            err.add(
                ["description"],
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
        if cmd.get("options"):
            err.add(
                ["options"],
                "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS",
                "Context menu commands cannot have options",
            )
    if command_size(cmd) > lim.total_characters:
        err.add(
            [],
            "APPLICATION_COMMAND_TOO_LARGE",
            f"Command exceeds maximum size ({lim.total_characters})",
        )
    return err.tree


def install_errors(cmd: Mapping[str, Any], *, guild_scoped: bool = False) -> JSON:
    """Errors in a command's ``integration_types`` and ``contexts``.

    Each is null or a non-empty list of distinct known values (spec:
    ``ApplicationCommandCreateRequest``, ``minItems`` 1, ``uniqueItems``). The docs give both
    "only for globally-scoped commands": a guild's command is installed with the guild and used
    in it, so this fake refuses a guild-scoped command that claims a user install or a context
    outside a guild (stricter than Discord, which may ignore them: a bot that sends them there
    believes in an install that does not exist).
    """
    lim = LIMITS.install
    err = _Errors()
    for field, known, guild_only in (
        ("integration_types", lim.integration_types, {0}),
        ("contexts", lim.contexts, {0}),
    ):
        value = cmd.get(field)
        if value is None:
            continue
        if not isinstance(value, list) or not value:
            err.add([field], "BASE_TYPE_BAD_LENGTH", "Must contain at least 1 distinct value.")
            continue
        for j, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int) or item not in known:
                err.add([field, j], "BASE_TYPE_CHOICES", f"Value must be one of {sorted(known)}.")
        if len(set(map(str, value))) != len(value):
            err.add([field], "BASE_TYPE_UNIQUE", "Values must be unique.")
        if guild_scoped and not set(value) <= guild_only:
            err.add(
                [field],
                "APPLICATION_COMMAND_GUILD_SCOPED_INSTALL",
                f"{field} other than {sorted(guild_only)} are only for globally-scoped commands",
            )
    return err.tree


def command_size(cmd: Mapping[str, Any]) -> int:
    """Characters of names, descriptions and choice names/values of one command, nested."""
    total = len(str(cmd.get("name") or "")) + len(str(cmd.get("description") or ""))
    for opt in cmd.get("options") or []:
        if isinstance(opt, Mapping):
            total += command_size(opt)
            for choice in opt.get("choices") or []:
                if isinstance(choice, Mapping):
                    total += len(str(choice.get("name") or "")) + len(str(choice.get("value", "")))
    return total


def _slash_name(err: _Errors, where: list[str | int], name: Any) -> None:
    if not isinstance(name, str) or not _SLASH_NAME.match(name) or name != name.lower():
        err.add(where, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def _options_of(options: Any, *, depth: int) -> JSON:
    """Errors in an ``options`` list (paths relative to it); subcommands nest two levels."""
    lim = LIMITS.command
    err = _Errors()
    items = err.count([], options, lim.options)
    names: set[str] = set()
    seen_optional = False
    for j, opt in enumerate(items):
        if not isinstance(opt, Mapping):
            err.add([j], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        otype = int(opt.get("type") or 0)
        _slash_name(err, [j, "name"], opt.get("name"))
        if opt.get("name") in names:
            err.add(
                [j, "name"],
                "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(str(opt.get("name")))
        err.length(
            [j, "description"], opt.get("description"), lim.description, minimum=1, required=True
        )
        if otype in (1, 2):
            if depth >= (1 if otype == 2 else 2):
                err.add(
                    [j, "type"],
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Subcommands cannot be nested this deep",
                )
            err.merge([j, "options"], _options_of(opt.get("options"), depth=depth + 1))
            continue
        if opt.get("required"):
            if seen_optional:
                err.add(
                    [j, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = err.count([j, "choices"], opt.get("choices"), lim.choices)
        for k, choice in enumerate(choices):
            _choice(err, [j, "choices", k], choice, lim.choice_name, lim.choice_string_value)
        if choices and opt.get("autocomplete"):
            err.add(
                [j, "autocomplete"],
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES",
                "Autocomplete cannot be set to true if choices are present",
            )
        low = err.number([j, "min_length"], opt.get("min_length"), 0, lim.string_length)
        high = err.number([j, "max_length"], opt.get("max_length"), 1, lim.string_length)
        if low is not None and high is not None and low > high:
            err.add(
                [j, "min_length"],
                "APPLICATION_COMMAND_OPTION_MIN_LENGTH_GREATER_THAN_MAX",
                "min_length must be less than or equal to max_length",
            )
    return err.tree
