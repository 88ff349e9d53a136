"""Links pasted into the chat: a message that is (mostly) bare http(s) URLs is an upload by URL.

"https://example.com/clip.mp4" or "here's my script: https://…/lumen.docx" go to the backend's URL
upload (`{"urls": [...], "source_type": "url"}`); "add music like the one at https://…" is an edit for
the agent, so only filler words may stand beside the links.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_URLS = 10  # what the backend fetches from one request

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}>'\"。，！？；：）】」"
_FILLER = re.compile(
    r"\b(please|pls|here's|here’s|heres|here|is|are|it|this|these|that|the|my|a|an|file|files|video|videos"
    r"|script|scripts|clip|clips|link|links|url|urls|upload|uploading|use|take|try|from|at|and|or"
    r"|of|to|can|could|you|i|want|ok|okay|thanks|thank|new|one|get|grab|fetch|download|with)\b"
    r"|请|这是|这个|这些|是|用|上传|链接|文件|视频|脚本|我的|的|和|一下|帮我|下载|地址"
    r"|[\s.,!?;:。！？，、；：()\[\]<>\"'*_`~-]+",
    re.IGNORECASE,
)


def pasted_urls(text: str) -> tuple[str, ...]:
    """The http(s) links of a message that says nothing else; () when there are none or when the
    words beside them are an instruction for the agent."""
    urls = [u.rstrip(_TRAILING) for u in _URL.findall(text)]
    urls = [u for u in urls if urlsplit(u).hostname]
    if not urls or _FILLER.sub("", _URL.sub(" ", text)):
        return ()
    return tuple(dict.fromkeys(urls))[:MAX_URLS]


def url_name(url: str) -> str:
    """What to call a linked file in the chat: its file name, else its host (never its query)."""
    parts = urlsplit(url)
    return parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.hostname or url
