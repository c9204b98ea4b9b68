"""The local console: the same commands as on Discord, through the same service, as plain text."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.briefing import Scheduler, header_for
from bot.errors import BriefbotError
from bot.paging import page_count, page_items
from bot.scope import CONSOLE, CURATED
from bot.sections import Section, Topic
from bot.service import Answer, BriefingService, ScheduleStatus
from bot.store.briefing import Schedule
from bot.store.database import utcnow

PAGE_SIZE = 10
WIDTH = 78

HELP = """\
Commands (the same as the Discord slash commands):
  /ask QUESTION      answer a question from the briefing (plain text works too)
  /explain TOPIC     show a topic by its slug or name (try /topics for the list)
  /topics [PAGE]     list the topics, ten to a page, in rotation order
  /briefing now      show the next daily explainer now (the schedule is not disturbed)
  /briefing set HH:MM ZONE   print the daily explainer here at that local time
                     (ZONE is an IANA name such as Europe/Berlin)
  /briefing show | pause | resume | off | next TOPIC
  /help              this help
  /quit              leave (Ctrl-D or Ctrl-C work too)"""


def render_section(section: Section, related: list[Topic] | None = None, header: str = "") -> str:
    content = section.content
    lines = [f"== {header} ==", ""] if header else []
    lines += [f"# {content.title}", ""]
    for paragraph in content.body.split("\n"):
        lines.extend(textwrap.wrap(paragraph, WIDTH) or [""])
    lines += ["", f"Updated {content.updated.isoformat()}"]
    for source in content.sources:
        lines.append(f"Source: {source.title} <{source.url}>")
    if related:
        lines.append("Related topics: " + ", ".join(f"{s.title} [{s.slug}]" for s in related))
    return "\n".join(lines)


def render_answer(answer: Answer, related: list[Topic]) -> str:
    if answer.section is not None:
        return render_section(answer.section, related)
    lines = ["I don't have a briefing on that yet."]
    if answer.suggestions:
        lines.append("Closest topics:")
        lines += [f"  - {s.title}  (/explain {s.slug})" for s in answer.suggestions]
    return "\n".join(lines)


def render_status(status: ScheduleStatus) -> str:
    schedule = status.schedule
    if schedule is None:
        lines = ["The daily explainer is off. Turn it on with /briefing set HH:MM ZONE."]
    else:
        state = f"paused ({schedule.paused_reason})" if schedule.paused_reason else "on"
        lines = [f"Daily explainer: {state}, at {schedule.local_time} {schedule.timezone}."]
        if status.next_local is not None and not schedule.paused_reason:
            lines.append(f"Next: {status.next_local:%a %d %b %Y %H:%M %Z}")
        if status.next_topic is not None:
            lines.append(f"Next topic: {status.next_topic.title}")
    if status.last_post is not None:
        last = status.last_post
        lines.append(f"Last: {last.local_date.isoformat()} {last.slug or '-'} ({last.status})")
    return "\n".join(lines)


def render_topics(sections: list[Topic], page: int) -> str:
    pages = page_count(len(sections), PAGE_SIZE)
    page = min(max(page, 1), pages)  # the console counts pages from 1
    chunk = page_items(sections, page - 1, PAGE_SIZE)
    lines = [f"Topics (page {page} of {pages}):"]
    start = (page - 1) * PAGE_SIZE
    lines += [f"{start + i:>3}. {s.title}  [{s.slug}]" for i, s in enumerate(chunk, start=1)]
    if page < pages:
        lines.append(f"More: /topics {page + 1}")
    return "\n".join(lines)


class Console:
    """Reads commands line by line and prints answers; it reads the curated pack alone."""

    def __init__(
        self,
        service: BriefingService,
        out: TextIO = sys.stdout,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.service = service
        self.out = out
        self.clock = clock
        self.scheduler = Scheduler(service.schedules, service, self, clock)

    async def post(self, schedule: Schedule, section: Section, header: str, nonce: str) -> None:
        """The scheduler's poster in console mode: the daily explainer is printed here."""
        self.say(render_section(section, header=header))

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def handle(self, line: str) -> bool:
        """Run one command; False when the user asked to leave."""
        line = line.strip()
        if not line:
            return True
        command, _, rest = line.partition(" ") if line.startswith("/") else ("/ask", "", line)
        command = command.lower()
        rest = rest.strip()
        handlers: dict[str, Callable[[str], Awaitable[None]]] = {
            "/ask": self._ask,
            "/explain": self._explain,
            "/topics": self._topics,
            "/briefing": self._briefing,
        }
        if command in ("/quit", "/exit"):
            return False
        if command == "/help":
            self.say(HELP)
            return True
        handler = handlers.get(command)
        if handler is None:
            self.say(f"Unknown command {command}. Type /help for the list.")
            return True
        try:
            await handler(rest)
        except BriefbotError as exc:
            self.say(str(exc))
        return True

    async def _ask(self, question: str) -> None:
        if not question:
            self.say("Usage: /ask QUESTION, for example /ask what are the Berlin talks?")
            return
        answer = await self.service.ask(question, CURATED, record=False)
        related = self.service.related(answer.section, CURATED) if answer.section else []
        self.say(render_answer(answer, related))

    async def _explain(self, topic: str) -> None:
        if not topic:
            self.say("Usage: /explain TOPIC, for example /explain berlin-talks")
            return
        answer = await self.service.explain(topic, CURATED)
        related = self.service.related(answer.section, CURATED) if answer.section else []
        self.say(render_answer(answer, related))

    async def _topics(self, arg: str) -> None:
        page = int(arg) if arg.isascii() and arg.isdigit() else 1
        self.say(render_topics(self.service.topics(CURATED), page))

    async def _briefing(self, arg: str) -> None:
        action, _, rest = arg.partition(" ")
        action = action.lower()
        service = self.service
        if action == "now":
            schedule = await service.schedules.get(CONSOLE)
            now = self.clock()
            today = now.astimezone(ZoneInfo(schedule.timezone)).date() if schedule else now.date()
            section = await service.next_explainer(CONSOLE)
            self.say(render_section(section, header=header_for(today)))
        elif action == "set":
            parts = rest.split()
            if len(parts) != 2:
                self.say(
                    "Usage: /briefing set HH:MM ZONE, for example /briefing set 08:30 Europe/Berlin"
                )
                return
            status = await service.set_schedule(CONSOLE, None, parts[0], parts[1], self.clock())
            self.say("The daily explainer is on.\n" + render_status(status))
        elif action == "show":
            self.say(render_status(await service.schedule_status(CONSOLE)))
        elif action == "pause":
            await service.pause_schedule(CONSOLE)
            self.say("Paused. /briefing resume starts it again.")
        elif action == "resume":
            self.say(
                "Resumed.\n" + render_status(await service.resume_schedule(CONSOLE, self.clock()))
            )
        elif action == "off":
            removed = await service.stop_schedule(CONSOLE)
            self.say("The daily explainer is off." if removed else "It was already off.")
        elif action == "next" and rest.strip():
            topic = await service.choose_next_topic(CONSOLE, rest.strip())
            self.say(f"The next daily explainer will be: {topic.title}")
        else:
            self.say(
                "Usage: /briefing now | set HH:MM ZONE | show | pause | resume | off | next TOPIC"
            )

    async def run(self, lines: Callable[[], Awaitable[str | None]]) -> None:
        """Serve until end of input, /quit or Ctrl-C."""
        self.say("Briefbot local console (no DISCORD_TOKEN set): the curated briefing, offline.")
        self.say("Type a question, or /help for the commands.")
        stop = asyncio.Event()
        daily = asyncio.create_task(self.scheduler.run(stop), name="console-daily-explainer")
        try:
            while True:
                line = await lines()
                if line is None or not await self.handle(line):
                    break
        finally:
            stop.set()
            await daily
        self.say("Bye.")


async def stdin_lines() -> str | None:
    """One line from standard input without blocking the event loop; None at end of input."""
    if sys.stdin.isatty():
        print("> ", end="", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    return line if line else None
