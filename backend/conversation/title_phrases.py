"""Title phrases (English and Chinese): the text, when it shows, and whether it replaces the old one.

Split from ``backend.conversation.edit_phrases``; also holds the small number helpers (Chinese numerals, "0:05") the
other editing phrases share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CN_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "零": 0,
}


def cn_number(text: str) -> int | None:
    """Chinese numerals up to 99: "二十" 20, "十五" 15, "二十五" 25, "两" 2."""
    tens, ten, ones = text.partition("十")
    if not ten:
        return CN_DIGITS.get(text) if len(text) == 1 else None
    if len(tens) > 1 or len(ones) > 1:
        return None
    high = CN_DIGITS.get(tens, -99) if tens else 1
    low = CN_DIGITS.get(ones, -99) if ones else 0
    value = high * 10 + low
    return value if value >= 0 else None


def sec_ms(value: str) -> int:
    """Milliseconds from "5", "2.5", "0:05", "1:02:03" or a Chinese numeral."""
    if ":" in value:
        total = 0.0
        for part in value.split(":"):
            total = total * 60 + float(part)
        return int(total * 1000)
    if value[:1].isdigit():
        return int(float(value) * 1000)
    n = cn_number(value)
    return n * 1000 if n is not None else -1


def groups(m: re.Match[str]) -> list[str]:
    return [g for g in m.groups() if g is not None]


def unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1].strip() if len(text) > 1 and text[0] in "\"“‘'「『" else text


# When a title shows: time phrases right after its text, e.g. "at 0:05 for 2 seconds", "前3秒".
_T = r"(\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?|\d+(?:\.\d+)?|[零一二两三四五六七八九十]+)"
_UNIT = r"(?:\s*(?:s|secs?|seconds?)\b|\s*秒)"
_SPAN_LEAD = r"[\s,，]*+(?:and\s+|并且?\s*)?"  # possessive: no backtracking into a long run
_SPANS = [
    (
        "range",
        rf"(?:from|between)\s+(?:second\s+)?{_T}{_UNIT}?\s*(?:to|and|-|–|until|till)\s*{_T}{_UNIT}?"
        rf"|从\s*第?\s*{_T}\s*秒?\s*(?:到|至)\s*第?\s*{_T}\s*秒",
    ),
    ("first", rf"(?:(?:for|in|during|over)\s+)?(?:the\s+)?first\s+{_T}{_UNIT}|前\s*{_T}\s*秒"),
    (
        "end",
        rf"(?:(?:for|in|during|over)\s+)?(?:the\s+)?(?:last|final)\s+{_T}{_UNIT}|最后\s*{_T}\s*秒"
        r"|(?:at|until|till|to|near|by)\s+the\s+(?:very\s+)?end\b|在?(?:结尾|末尾|片尾)",
    ),
    (
        "at",
        rf"(?:at|from|starting at|start at|starting from)\s+(?:second\s+)?{_T}{_UNIT}?"
        rf"|(?:在|从)\s*第?\s*{_T}\s*秒(?:开始)?",
    ),
    ("for", rf"for\s+{_T}{_UNIT}|持续\s*{_T}\s*秒"),
]
_SPAN_PARTS = [(kind, re.compile(_SPAN_LEAD + rf"(?:{p})", re.I)) for kind, p in _SPANS]


def _quoted(name: str) -> str:
    """A quoted text; a single quote only closes before a non-letter, so "'Don't stop'" is whole."""
    return (
        rf"(?P<{name}>[\"“][^\"“”\n]{{1,120}}[\"”]|['‘][^\n]{{1,120}}?['’](?!\w)"
        rf"|「[^」\n]{{1,120}}」|『[^』\n]{{1,120}}』)"
    )


def _bare(name: str) -> str:
    """An unquoted title text ("title: Spring Sale"): up to the end of the clause or a time phrase."""
    ahead = "|".join(p for _, p in _SPANS)
    return (
        rf"(?P<{name}>[^\s\"“'‘「『][^\n,，;；。!！?？]{{0,119}}?)"
        rf"(?={_SPAN_LEAD}(?:{ahead})|\s*(?:$|[\n,，;；。!！?？]|\.(?:\s|$)))"
    )


_TITLE_WORD = r"(?:title|heading|headline|text overlay|text|overlay|caption|subtitle|label|banner)"
_THE_TITLE = r"(?<![\w'-])(?:title|heading|headline)"
_TITLE = re.compile(
    r"\b(?:add|put|show|insert|place|display|and|plus|also)\s+(?:(?:a|an|the|another|new|big|small)\s+)*"
    rf"{_TITLE_WORD}(?:\s+(?:saying|that says|which says|reading|of))?\s*[:：]?\s*{_quoted('add')}"
    r"|\bwith\s+(?:(?:a|an|the|big|small)\s+)*(?:title|heading|headline|overlay|banner)\s*[:：]?\s*"
    rf"{_quoted('with')}"
    rf"|\b(?:put|show|display|place|write)\s+{_quoted('screen')}\s+on\s+(?:the\s+)?(?:screen|video)"
    rf"|\b(?:put|use|set|make|have)\s+{_quoted('as')}\s+(?:as|for)\s+(?:(?:the|a|an|my|our)\s+)?"
    r"(?:title|heading|headline)\b"
    r"|\b(?:change|set|update|rename|replace|make)\s+(?:the\s+)?(?:title|heading|text)\s+"
    rf"(?:to|as|into|with)\s*[:：]?\s*(?:{_quoted('change')}|{_bare('changebare')})"
    rf"|{_THE_TITLE}\s*(?:[:：]\s*)?{_quoted('named')}|{_THE_TITLE}\s*[:：]\s*{_bare('colon')}"
    rf"|(?:添加|加上|加|显示|放)(?:一个|个)?(?:标题|文字|字幕条)\s*[:：]?\s*{_quoted('zh')}"
    rf"|标题(?:改成|改为|换成)\s*(?:{_quoted('zhchange')}|{_bare('zhchangebare')})"
    rf"|标题\s*[:：]?\s*{_quoted('zhnamed')}|标题\s*[:：]\s*{_bare('zhcolon')}",
    re.I,
)
_REPLACES = ("change", "changebare", "zhchange", "zhchangebare")


def _title_span(text: str, at: int) -> tuple[tuple[int, int] | None, int]:
    """(start_ms, end_ms) from the time phrases right after a title (at ``at``: no copy of the
    rest of the text per title), and their length. The span is ``None`` for a time counted from
    the end, which a title cannot express."""
    found: dict[str, list[int]] = {}
    pos = at
    while True:
        for kind, pattern in _SPAN_PARTS:
            if kind not in found and (m := pattern.match(text, pos)):
                found[kind] = [sec_ms(g) for g in groups(m)]
                pos = m.end()
                break
        else:
            break
    if "end" in found:
        return None, pos - at
    if "range" in found:
        start, end = found["range"][:2]
    elif "first" in found:
        start, end = 0, found["first"][0]
    else:
        start = found["at"][0] if "at" in found else 0
        end = start + (found["for"][0] if "for" in found else 3000)
    return (start, end), pos - at


@dataclass
class Titles:
    """The titles one message asks for, with the message minus their texts and times."""

    titles: list[tuple[str, int, int]] = field(default_factory=list)  # (text, start_ms, end_ms)
    replace: bool = False  # "change the title to ...": the old titles go
    end_relative: bool = False  # a time counted from the end, which a title cannot express
    rest: str = ""


def find_titles(request: str) -> Titles:
    found = Titles()
    kept: list[str] = []
    pos = 0
    for tm in _TITLE.finditer(request):
        name, raw = next((k, v) for k, v in tm.groupdict().items() if v is not None)
        text = unquote(raw)
        span, used = _title_span(request, tm.end())
        if span is None:
            found.end_relative = True
        elif text and 0 <= span[0] < span[1]:
            found.titles.append((text, *span))
            found.replace |= name in _REPLACES
        kept.append(request[pos : tm.start()])
        pos = tm.end() + used
    found.rest = " ".join([*kept, request[pos:]])
    return found
