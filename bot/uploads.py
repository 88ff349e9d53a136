"""Uploads: size checks against the 500 MB cap and the platform's limit, then streamed to the session."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bot.bigfiles import BigFiles
from bot.client import BackendClient
from bot.identity import Chat, Identities, Notice
from bot.messages import Attachment, Replier, Text, TooLargeToFetch
from bot.models import UploadResult
from bot.pasted import url_name
from bot.progress import ProgressLine
from bot.settings import Settings
from bot.texts import t

MAX_INPUT_BYTES = 500 * 1024 * 1024


def _notice(replier: Replier, chat: Chat) -> Notice:
    async def notice(key: str) -> None:
        await replier.send(Text(t(key, chat.language)))

    return notice


class Uploader:
    """Moves the user's files into the chat's backend session."""

    def __init__(
        self, client: BackendClient, ids: Identities, settings: Settings, bigfiles: BigFiles
    ) -> None:
        self.client = client
        self.ids = ids
        self.settings = settings
        self.bigfiles = bigfiles

    async def upload(
        self,
        chat: Chat,
        attachments: tuple[Attachment, ...],
        replier: Replier,
        *,
        asked: bool = False,
    ) -> int:
        """Upload each attachment to the chat's session; returns how many succeeded. `asked`: the
        message already says what to do with the files, so no "now tell me what to do" prompt."""
        lang = chat.language
        done = 0
        for att in attachments:
            if att.size is not None and att.size > MAX_INPUT_BYTES:
                await replier.send(Text(t("err_too_large", lang)))
                continue
            if (
                att.path is None
                and att.url is None
                and att.size is not None
                and att.size > replier.limits.max_download_bytes
            ):
                await self.bigfiles.offer(
                    chat, replier, (att.size, replier.limits.max_download_bytes)
                )
                continue
            progress = ProgressLine(replier, "upload")
            await progress.show(t("uploading", lang, name=att.name))
            try:
                result = await self._upload_one(chat, att, replier)
            except TooLargeToFetch as exc:  # the platform found it too big only when asked
                await progress.finish(t("uploading", lang, name=att.name).rstrip(".") + " ✗")
                await self.bigfiles.offer(chat, replier, (exc.size, exc.limit))
                continue
            except BaseException:
                await progress.finish(t("uploading", lang, name=att.name).rstrip(".") + " ✗")
                raise
            await progress.finish(_uploaded_text(result, att.name, lang, asked=asked))
            done += 1
        return done

    async def upload_urls(self, chat: Chat, urls: tuple[str, ...], replier: Replier) -> int:
        """Have the backend fetch pasted links into the session; returns how many files arrived.

        Errors (4001 type, 4002 size, 4005 private address or unreachable link) propagate to the
        engine, which has the message for each."""
        lang = chat.language
        fetching = t("fetching_urls", lang, name=", ".join(url_name(u) for u in urls))
        progress = ProgressLine(replier, "upload")
        await progress.show(fetching)
        try:
            result = await self.ids.call(
                chat,
                lambda a, sid: self.client.upload_urls(a, sid, urls),
                notice=_notice(replier, chat),
            )
        except BaseException:
            await progress.finish(fetching.rstrip(".") + " ✗")
            raise
        names = [url_name(u) for u in urls]
        lines = [
            _uploaded_text(UploadResult((f,)), names[i] if i < len(names) else f.name, lang)
            for i, f in enumerate(result.files)
        ]
        await progress.finish("\n".join(lines) or _uploaded_text(result, names[0], lang))
        return len(result.files)

    async def _upload_one(self, chat: Chat, att: Attachment, replier: Replier) -> UploadResult:
        notice = _notice(replier, chat)
        if att.path is not None:
            path = att.path
            return await self.ids.call(
                chat, lambda a, sid: self.client.upload_files(a, sid, [path]), notice=notice
            )
        if att.fetch is not None:
            incoming = self.settings.data_dir / "incoming"
            incoming.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(dir=incoming))
            try:
                fetched = await att.fetch(folder)
                return await self.ids.call(
                    chat, lambda a, sid: self.client.upload_files(a, sid, [fetched]), notice=notice
                )
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        if att.url is not None:
            url = att.url
            return await self.ids.call(
                chat, lambda a, sid: self.client.upload_urls(a, sid, [url]), notice=notice
            )
        raise ValueError(f"attachment {att.name!r} has no path, fetcher or URL")


def _uploaded_text(result: UploadResult, name: str, lang: str, *, asked: bool = False) -> str:
    f = result.files[0] if result.files else None
    suffix = "_asked" if asked else ""
    if f is not None and f.kind == "script":
        return t(
            "uploaded_script" + suffix,
            lang,
            name=f.name or name,
            words=f.words if f.words is not None else "?",
        )
    details = ""
    if f is not None and f.duration_ms:
        details = t("upload_duration", lang, seconds=f"{f.duration_ms / 1000:.0f}")
    key = {"audio": "uploaded_audio", "image": "uploaded_image"}.get(
        f.kind if f else "", "uploaded_media"
    )
    return t(key + suffix, lang, name=(f.name if f else "") or name, details=details)
