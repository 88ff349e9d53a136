"""Intent routing (seed "Matching Input to Actions") and GUI translation of backend text.

Pure functions: the engine decides what to do with the result, tests check them directly.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from bot.pasted import pasted_urls


class Intent(enum.Enum):
    START = "start"
    HELP = "help"
    NEW = "new"
    CANCEL = "cancel"
    EXPORT = "export"
    CREDITS = "credits"
    STATUS = "status"
    UPLOAD = "upload"
    BIG_UPLOAD = "big_upload"  # the web upload link, for files above the platform's limit
    VOICE = "voice"
    VOICES = "voices"  # the catalogue with a spoken sample of each voice
    CHAT = "chat"  # everything else goes to run_sse


COMMANDS: dict[str, Intent] = {
    "start": Intent.START,
    "help": Intent.HELP,
    "new": Intent.NEW,
    "cancel": Intent.CANCEL,
    "export": Intent.EXPORT,
    "credits": Intent.CREDITS,
    "status": Intent.STATUS,
    "upload": Intent.UPLOAD,
    "voice": Intent.VOICE,
    "voices": Intent.VOICES,
}

# "/voiceover make it vertical": a request in words behind a command, routed like the words alone
# (Telegram groups in privacy mode deliver commands to the bot, not plain messages).
ASK_COMMAND = "voiceover"

_KEYWORDS: tuple[tuple[Intent, re.Pattern[str]], ...] = (
    (
        Intent.EXPORT,
        re.compile(
            r"\b(export|download)\b|send me the (video|mp4|file)|give me the (video|mp4)|导出|下载"
        ),
    ),
    (Intent.CREDITS, re.compile(r"\b(credits?|balance)\b|积分|余额")),
    (
        Intent.STATUS,
        re.compile(r"\b(status|show (the )?tracks|show (the )?timeline)\b|状态|时间线"),
    ),
    (
        Intent.BIG_UPLOAD,
        re.compile(r"\b(big|large|huge)( video)? files?\b|\bupload link\b|大文件|上传链接"),
    ),
    (Intent.UPLOAD, re.compile(r"\bupload\b|上传")),
)
# "voices", "which voices do you have?", "有哪些声音": the catalogue, whole message only
_VOICES = re.compile(
    r"(?:(?:list|show|which|what)(?: (?:the|your|are|do|you|have|all))* )?voices"
    r"(?: (?:do you have|are there|are available|can i (?:use|choose|pick)))?"
    r"|(?:有哪些|有什么|列出|查看)(?:\S{0,4})(?:声音|配音员|音色)|声音列表"
)

# Keyword routes skip the agent, so they apply to short requests only: "export" or "导出" is a
# request to export, while "add a title and export it vertical" is an edit for the agent.
_MAX_WORDS = 6
_MAX_CJK_CHARS = 12


# Words that say nothing beyond "export": what is left over ("in 720p", "竖屏", "with srt files") is
# an edit the agent applies before the export, so it is never dropped.
_EXPORT_FILLER = re.compile(
    r"\b(please|pls|now|it|this|that|the|my|me|us|video|mp4|file|final|result|export|download"
    r"|send|give|can|could|would|you|i|want|to|a|an|for|ok|okay|thanks|thank)\b"
    r"|帮我|请|给我|导出|下载|视频|一下|吧|把|现在|发我|我|要|谢谢|好的"
    r"|[\s.,!?;:。！？，、；：]+"
)


# The same rule for credits and status: "what's my balance?" and "show the timeline" are requests
# for the endpoint, while "balance the music and voice" or "add end credits" are edits for the agent.
_CREDITS_FILLER = re.compile(
    r"\b(please|pls|now|show|check|see|tell|get|give|me|my|the|a|i|we|our|how|many|much|what's|what’s|whats|what"
    r"|is|are|do|does|have|has|left|remaining|available|current|currently|account|credits?"
    r"|balance|can|could|you|ok|okay|thanks|thank)\b"
    r"|帮我|请|查看|查询|看看|看一下|一下|我的|我|还有|还剩|剩余|剩下|多少|现在|当前|账户|积分|余额|的|吗|呢|是"
    r"|[\s.,!?;:。！？，、；：]+"
)
_STATUS_FILLER = re.compile(
    r"\b(please|pls|now|show|check|see|view|tell|get|give|me|my|the|a|i|how|what's|what’s|whats|what|is"
    r"|are|does|it|look|looks|like|current|currently|project|status|tracks?|timeline|state|so|far"
    r"|can|could|you|ok|okay|thanks|thank)\b"
    r"|帮我|请|查看|看看|看一下|一下|我的|我|现在|当前|项目|状态|时间线|轨道|的|吗|呢|怎么样|如何"
    r"|[\s.,!?;:。！？，、；：]+"
)
_FILLER: dict[Intent, re.Pattern[str]] = {
    Intent.CREDITS: _CREDITS_FILLER,
    Intent.STATUS: _STATUS_FILLER,
}


@dataclass(frozen=True)
class Route:
    intent: Intent
    text: str  # what remains for the agent (commands stripped); for EXPORT, an edit to apply first
    urls: tuple[str, ...] = ()  # for UPLOAD: pasted links the backend fetches


def _is_short(text: str) -> bool:
    words = re.findall(r"[A-Za-z0-9']+", text)
    cjk = re.findall(r"[\u3400-\u9fff]", text)
    return len(words) <= _MAX_WORDS and len(cjk) <= _MAX_CJK_CHARS


def route(text: str, has_attachments: bool = False) -> Route:
    """Decide where one message goes."""
    stripped = text.strip()
    if stripped.startswith("/"):
        head, _, rest = stripped[1:].partition(" ")
        name = head.split("@", 1)[0].lower()  # Telegram's /cmd@botname
        if name == ASK_COMMAND:
            return route(rest, has_attachments)
        if name in COMMANDS:
            if COMMANDS[name] is Intent.UPLOAD and (urls := pasted_urls(rest)):
                return Route(Intent.UPLOAD, "", urls)
            return Route(COMMANDS[name], rest.strip())
    if has_attachments:
        return Route(Intent.UPLOAD, stripped)
    if urls := pasted_urls(stripped):  # a pasted link (or several) is an upload by URL
        return Route(Intent.UPLOAD, "", urls)
    if _VOICES.fullmatch(stripped.lower().rstrip("?？!.。 ")):
        return Route(Intent.VOICES, "")
    if stripped and _is_short(stripped):
        low = stripped.lower()
        for intent, pattern in _KEYWORDS:
            if pattern.search(low):
                if intent is Intent.EXPORT and _EXPORT_FILLER.sub("", low):
                    return Route(intent, stripped)
                filler = _FILLER.get(intent)
                if filler is not None and filler.sub("", low):
                    return Route(Intent.CHAT, stripped)  # an edit that mentions the keyword
                return Route(intent, "")
    return Route(Intent.CHAT, stripped)


def is_only_upload_words(text: str) -> bool:
    """True when a caption says nothing beyond "upload this" (so no agent turn is needed)."""
    low = text.strip().lower()
    return not low or bool(
        re.fullmatch(r"(please )?(upload|上传)( (this|it|the file|my (script|video)))?[.!。]?", low)
    )


class GuiAction(enum.Enum):
    EXPORT = "export"
    SHOW_STATE = "show_state"


_GUI_EXPORT = re.compile(
    r"(click|press|tap|hit|use)\b[^.!?\n]{0,40}\bexport\b|\bexport button\b|点击[^。！？\n]{0,20}导出|导出按钮",
    re.IGNORECASE,
)
_GUI_STATE = re.compile(
    r"\bopen\b[^.!?\n]{0,30}\b(panel|timeline|editor|tab)\b|\bpreview (it )?in the timeline\b|打开[^。！？\n]{0,20}(面板|时间线)",
    re.IGNORECASE,
)
_GUI_OTHER = re.compile(r"\b(click|drag|drop)\b|拖拽|点击|打开", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*\s*|\n")


@dataclass(frozen=True)
class Translated:
    text: str
    actions: tuple[GuiAction, ...]


def translate_gui(text: str) -> Translated:
    """Rewrite backend text that assumes a GUI: the bot does the clicking itself.

    Sentences telling the user to click Export or open a panel are removed and returned as actions.
    Other GUI phrasing ("drag the clip") is left to the agent's meaning: people answer in words.
    """
    actions: list[GuiAction] = []
    kept: list[str] = []
    for sentence in _SENTENCE.findall(text):
        if _GUI_EXPORT.search(sentence):
            if GuiAction.EXPORT not in actions:
                actions.append(GuiAction.EXPORT)
            continue
        if _GUI_STATE.search(sentence):
            if GuiAction.SHOW_STATE not in actions:
                actions.append(GuiAction.SHOW_STATE)
            continue
        kept.append(sentence)
    cleaned = "".join(kept).strip()
    return Translated(cleaned, tuple(actions))


def mentions_gui(text: str) -> bool:
    return bool(_GUI_OTHER.search(text))


def without_command(text: str) -> str:
    """The text without a leading /command, which says nothing about the language."""
    if not text.startswith("/"):
        return text
    return text.split(" ", 1)[1] if " " in text else ""
