"""Help channels: which channels a server opened to answering, and whether a message there gets
a reply.

A server turns answering on per text or forum channel (`/kb autoanswer`). In a text channel
every new message is read; in a forum only a new post (its title and first message). A message
gets a reply only when `/ask` would answer it confidently *and* the stricter rule here holds:
channel chatter is not a question, and `/ask`'s rule alone answers about one chatter message in
seven among chatter that shares words with the briefing (tests/data/eval_channel.yaml). At most
one reply per message (a claim in the store), never to a bot or to Briefbot itself, and nothing
of the message is kept: no asks log, no text, no author.

Transport-free: the Discord layer turns a message into an `Incoming`, asks `reply_for`, and
renders the section it gets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.errors import BriefbotError, LimitReached, NotAllowed
from bot.limits import SlidingWindow
from bot.scope import scope_of
from bot.search import Hit, Query, build_query
from bot.sections import Section
from bot.service import BriefingService
from bot.store.autoanswer import AutoanswerStore, ChannelKind, HelpChannel
from bot.store.moderation import ModerationStore

log = logging.getLogger(__name__)

# -- the stricter rule (on top of /ask's confident answer) --
# Least score of the answer: /ask's floor (search.CONFIDENT_SCORE, 0.5) and a little more.
MIN_SCORE = 0.55
# Most share of a message's content words the briefing has never heard of. A question about
# the story is said mostly in the story's words; chatter that shares one or two of them is
# mostly about something else ("who wants to play risk tonight, I call russia").
MAX_UNKNOWN_SHARE = 1 / 3

# -- what one server may do --
# Help channels per server.
MAX_CHANNELS = 25
# Replies per channel in any REPLY_WINDOW seconds: a busy channel cannot fill itself with cards.
REPLIES_PER_WINDOW = 6
REPLY_WINDOW = 60.0

# What each kind of channel needs Briefbot to have, as discord.py names permissions, with the
# words Discord's settings use. A reply is a reply (Read Message History); a forum post is a
# thread, where Send Messages counts for nothing (Send Messages in Threads).
NEEDED: Mapping[ChannelKind, tuple[tuple[str, str], ...]] = {
    "text": (
        ("view_channel", "View Channel"),
        ("send_messages", "Send Messages"),
        ("embed_links", "Embed Links"),
        ("read_message_history", "Read Message History"),
    ),
    "forum": (
        ("view_channel", "View Channel"),
        ("send_messages_in_threads", "Send Messages in Threads"),
        ("embed_links", "Embed Links"),
        ("read_message_history", "Read Message History"),
    ),
}

INTENT_NEEDED = (
    "Answering in help channels needs Discord's Message Content intent, which this bot is not "
    "running with. The bot's owner turns on **Message Content Intent** in the Developer Portal "
    "(Bot page) and starts Briefbot with `BRIEFBOT_MESSAGE_CONTENT=true`. Nothing was saved."
)


class MissingPermissions(NotAllowed):
    """Briefbot itself lacks what a channel setting needs; the message names each permission."""

    def __init__(self, channel: str, missing: Iterable[str]) -> None:
        names = list(missing)
        super().__init__(
            f"I can't answer in {channel} yet: I need {_listed(names)} there. "
            "Grant it and try again; nothing was saved."
        )
        self.missing = names


class IntentMissing(BriefbotError):
    """Help channels were asked for, but the bot runs without the Message Content intent."""

    def __init__(self) -> None:
        super().__init__(INTENT_NEEDED)


def kind_of(*, forum: bool) -> ChannelKind:
    """A forum (or media) channel is read by its posts, any other by its messages."""
    return "forum" if forum else "text"


def _listed(names: list[str]) -> str:
    quoted = [f"**{n}**" for n in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


@dataclass(frozen=True, slots=True)
class Incoming:
    """A member's message as the help channels see it (nothing of it is stored)."""

    guild_id: int
    # Where it was posted: the channel, or for a forum post its thread.
    channel_id: int
    message_id: int
    # The channel a thread belongs to (None when not in a thread).
    parent_id: int | None
    author_is_bot: bool
    # The message's text; for a forum post, its title first.
    text: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What `judge` decided of a text, and why (the quality test prints it)."""

    hit: Hit | None
    unknown_share: float

    @property
    def answers(self) -> bool:
        return self.hit is not None


def strict_enough(query: Query, top: Hit | None) -> Verdict:
    """The stricter rule, from /ask's confident answer and the message's words."""
    total = len(query.terms)
    unknown = sum(1 for term in query.terms if term.match is None)
    share = unknown / total if total else 1.0
    if top is None or top.score < MIN_SCORE or share > MAX_UNKNOWN_SHARE:
        return Verdict(None, share)
    return Verdict(top, share)


class Autoanswer:
    """Help channels for every server this process serves.

    The channels are read once (`load`) and kept in memory, changed with the setting: every
    message in every server reaches `watched`, which must not touch the database.
    """

    def __init__(
        self, service: BriefingService, *, reading: bool, clock: Callable[[], float]
    ) -> None:
        self.service = service
        self.store = AutoanswerStore(service.db)
        # Whether the bot runs with the Message Content intent (BRIEFBOT_MESSAGE_CONTENT).
        self.reading = reading
        # server -> its help channels and their kind; only servers that have any.
        self._channels: dict[int, dict[int, ChannelKind]] = {}
        self._replies = SlidingWindow(REPLIES_PER_WINDOW, REPLY_WINDOW, clock)

    async def load(self) -> None:
        found: dict[int, dict[int, ChannelKind]] = {}
        for channel in await self.store.all_channels():
            found.setdefault(channel.guild_id, {})[channel.channel_id] = channel.kind
        self._channels = found

    async def reload_guild(self, guild_id: int) -> None:
        """Read one server's channels again (Briefbot added back: its data may have been purged
        meanwhile, by the retention or by `db purge-guild` in another process)."""
        guild = scope_of(guild_id)
        found = {c.channel_id: c.kind for c in await self.store.channels(guild)}
        if found:
            self._channels[guild] = found
        else:
            self._channels.pop(guild, None)

    def forget(self, guild_id: int) -> None:
        """Briefbot left the server: read nothing of it until it is back (`reload_guild`)."""
        self._channels.pop(scope_of(guild_id), None)

    async def channels(self, guild_id: int) -> list[int]:
        """The help channels of a server, in the order they were turned on (for /briefing show)."""
        return [c.channel_id for c in await self.store.channels(scope_of(guild_id))]

    async def help_channels(self, guild_id: int) -> list[HelpChannel]:
        return await self.store.channels(scope_of(guild_id))

    async def enable(
        self,
        guild_id: int,
        channel_id: int,
        kind: ChannelKind,
        by: int,
        *,
        channel_name: str,
        granted: Iterable[str],
    ) -> None:
        """Turn answering on in a channel, if it can work there.

        `granted` are the permissions Briefbot holds in that channel (discord.py's names).
        Refused, with nothing saved: without the intent, with a permission missing, or past
        MAX_CHANNELS.
        """
        if not self.reading:
            raise IntentMissing()
        have = set(granted)
        missing = [label for name, label in NEEDED[kind] if name not in have]
        if missing:
            raise MissingPermissions(channel_name, missing)
        guild = scope_of(guild_id)
        if not await self.store.enable(guild, channel_id, kind, by, cap=MAX_CHANNELS):
            raise LimitReached(
                f"This server already answers in {MAX_CHANNELS} channels, the most it may. "
                "Turn one off with `enabled:false` first; nothing was saved."
            )
        self._channels.setdefault(guild, {})[channel_id] = kind

    async def disable(self, guild_id: int, channel_id: int) -> bool:
        """Turn answering off in a channel (works without the intent); True if it was on."""
        guild = scope_of(guild_id)
        was_on = await self.store.disable(guild, channel_id)
        self._channels.get(guild, {}).pop(channel_id, None)
        return was_on

    def watched(self, message: Incoming) -> bool:
        """Whether this message is one a help channel reads: a message straight in a text
        help channel, or the first message of a post in a forum help channel (the post's
        thread has the message's id). Never a bot's. Memory only."""
        if message.author_is_bot or not self.reading:
            return False
        channels = self._channels.get(message.guild_id)
        if not channels:
            return False
        if channels.get(message.channel_id) == "text":
            return True
        return (
            message.parent_id is not None
            and channels.get(message.parent_id) == "forum"
            and message.message_id == message.channel_id
        )

    def judge(self, text: str, guild_id: int, top: Hit | None) -> Verdict:
        return strict_enough(build_query(text, self.service.view(guild_id)), top)

    async def reply_for(self, message: Incoming) -> Section | None:
        """The section to reply with, or None. A section returned is claimed: the caller
        sends it, and no other call (a replayed event, another process) gets this message."""
        if not self.watched(message) or not message.text.strip():
            return None
        answer = await self.service.ask(message.text, message.guild_id, record=False)
        if answer.section is None:
            return None
        top = answer.results[0] if answer.results else None
        if not self.judge(answer.question, message.guild_id, top).answers:
            return None
        channel = message.parent_id or message.channel_id
        if self._replies.retry_after(channel) > 0:
            log.info("help channel %s: a reply skipped, the channel is at its rate", channel)
            return None
        if not await self.store.claim(message.guild_id, message.channel_id, message.message_id):
            return None
        self._replies.add(channel)
        return answer.section

    async def check_remover(
        self,
        guild_id: int,
        asker_id: int,
        user_id: int,
        *,
        manage_messages: bool,
        manage_guild: bool,
        role_ids: Iterable[int],
    ) -> None:
        """Who may remove a reply with **Not helpful**: the member it answered, or a moderator
        (Manage Messages in the channel, Manage Server, or the server's moderator role)."""
        if user_id == asker_id or manage_messages or manage_guild:
            return
        role = (await ModerationStore(self.service.db).settings(scope_of(guild_id))).mod_role_id
        if role is not None and role in set(role_ids):
            return
        raise NotAllowed(
            "Only the member this reply answered, or a moderator, can remove it. "
            "Nothing was changed."
        )
