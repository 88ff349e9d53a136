"""Every user-visible string, in English and Chinese, so no other module hard-codes wording."""

from __future__ import annotations

import re

from backend.protocol.catalogue import Catalogue

SUPPORTED_FORMATS = "TXT, DOCX, MP4, MOV, AVI, WEBM, MKV, JPG, PNG, GIF, WEBP, MP3, WAV, M4A, AAC"

TEXTS: dict[str, dict[str, str]] = {
    "greeting": {
        "en": "👋 Ready when you are. Drop your script or video here, or describe what you want to make.\n"
        'Try: "generate a natural male voiceover in English for my script".',
        "zh": "👋 随时可以开始。把脚本或视频发到这里，或者描述你想做的内容。\n"
        "试试：“用英文为我的脚本生成自然的男声配音”。",
    },
    "help": {
        "en": "Send a script (TXT, DOCX or plain text) or a video (MP4, MOV, AVI, WEBM, MKV, up to 500 MB), "
        "then say what you want in plain words.\n"
        "Commands: /new fresh project · /status timeline · /export get the MP4 · /credits balance · "
        "/voices hear the voices · /cancel stop the current job · /help this text.",
        "zh": "发送脚本（TXT、DOCX 或直接输入文字）或视频（MP4、MOV、AVI、WEBM、MKV，最大 500 MB），"
        "然后用自然语言说出你的需求。\n"
        "命令：/new 新项目 · /status 时间线 · /export 导出 MP4 · /credits 积分 · /voices 试听声音 · /cancel 取消当前任务 · /help 帮助。",
    },
    "help_commands_only": {
        "en": "In this group I only see commands and replies to my messages (Telegram's privacy "
        "mode). Start with /voiceover, e.g. “/voiceover generate a natural male voiceover”, or reply "
        "to one of my messages; send files with /voiceover in the caption or as a reply to me. "
        "The buttons work for everyone.",
        "zh": "在群组中我只能看到命令和对我消息的回复（Telegram 隐私模式）。请以 /voiceover 开头，"
        "例如“/voiceover 生成自然的男声配音”，或回复我的任意一条消息；发送文件时在说明中写 /voiceover，"
        "或以回复我的方式发送。按钮所有人都可以使用。",
    },
    "connecting": {"en": "Connecting...", "zh": "正在连接..."},
    "captions_in_picture": {
        "en": "💬 This chat's video player doesn't show subtitle tracks, so I put the captions "
        "into the picture. Say “subtitle track” to keep them as a separate track instead, or "
        "“no captions” to leave them out.",
        "zh": "💬 此聊天的视频播放器不显示字幕轨，所以我把字幕画进了画面。"
        "说“字幕轨”可改为单独的字幕轨，说“不要字幕”则不加字幕。",
    },
    "working": {"en": "⚙️ Working on it...", "zh": "⚙️ 正在处理..."},
    "still_working": {"en": "⏳ Still working...", "zh": "⏳ 仍在处理中..."},
    "stage_set_voice": {"en": "🎙️ Choosing the voice", "zh": "🎙️ 选择声音"},
    "stage_set_speed": {"en": "⏱️ Adjusting the pace", "zh": "⏱️ 调整语速"},
    "stage_set_format": {"en": "📐 Setting the format", "zh": "📐 设置画面格式"},
    "stage_synthesize_speech": {"en": "🗣️ Recording the voiceover", "zh": "🗣️ 正在生成配音"},
    "stage_place_on_timeline": {"en": "🎞️ Placing it on the timeline", "zh": "🎞️ 放到时间线上"},
    "stage_build_captions": {"en": "💬 Writing the captions", "zh": "💬 生成字幕"},
    "stage_other": {"en": "⚙️ Working on it", "zh": "⚙️ 正在处理"},
    "done": {"en": "✅ Done", "zh": "✅ 完成"},
    "cancelled": {"en": "🛑 Cancelled.", "zh": "🛑 已取消。"},
    "nothing_to_cancel": {"en": "Nothing is running.", "zh": "当前没有进行中的任务。"},
    "queued": {
        "en": "🕒 Got it, I'll do that as soon as the current job finishes.",
        "zh": "🕒 收到，当前任务完成后马上处理。",
    },
    "ceiling": {
        "en": "⌛ This took longer than {minutes} minutes, so I stopped waiting. "
        "Try again, or a shorter script.",
        "zh": "⌛ 处理超过了 {minutes} 分钟，已停止等待。请重试，或使用更短的脚本。",
    },
    "no_text_changed": {
        "en": "✅ Done. Here's your project now:\n{summary}",
        "zh": "✅ 已完成。当前项目：\n{summary}",
    },
    "no_text_nothing": {
        "en": "✅ Done. The timeline is still empty; send a script or a video to start.",
        "zh": "✅ 已完成。时间线还是空的，发送脚本或视频开始吧。",
    },
    "state": {"en": "📋 {summary}", "zh": "📋 {summary}"},
    "state_empty": {
        "en": "📋 Your project is empty. Send a script or a video to start.",
        "zh": "📋 项目还是空的。发送脚本或视频开始吧。",
    },
    "credits": {
        "en": "💳 Credits: {available} available, {frozen} reserved, {total} total.",
        "zh": "💳 积分：可用 {available}，冻结 {frozen}，共 {total}。",
    },
    "new_session": {"en": "🆕 Fresh project started.", "zh": "🆕 已开始新项目。"},
    "session_renewed": {
        "en": "ℹ️ Your previous project had expired, so I started a fresh one. Re-send your files if needed.",
        "zh": "ℹ️ 之前的项目已过期，已为你新建项目。如有需要请重新发送文件。",
    },
    "uploading": {"en": "📤 Uploading {name}...", "zh": "📤 正在上传 {name}..."},
    "fetching_urls": {"en": "🔗 Fetching {name}...", "zh": "🔗 正在获取 {name}..."},
    "uploaded_script": {
        "en": "📄 Got your script {name} ({words} words). Now tell me what to do with it, "
        'e.g. "generate a natural male voiceover in English".',
        "zh": "📄 已收到脚本 {name}（{words} 词）。现在告诉我要做什么，例如“生成自然的英文男声配音”。",
    },
    "uploaded_media": {
        "en": "🎬 Got {name}{details}. Now tell me what to do with it.",
        "zh": "🎬 已收到 {name}{details}。现在告诉我要做什么。",
    },
    "uploaded_audio": {
        "en": "🎵 Got {name}{details}. Now tell me what to do with it.",
        "zh": "🎵 已收到 {name}{details}。现在告诉我要做什么。",
    },
    "uploaded_image": {
        "en": "🖼️ Got {name}{details}. Now tell me what to do with it.",
        "zh": "🖼️ 已收到 {name}{details}。现在告诉我要做什么。",
    },
    # the message with the file also said what to do with it: no "now tell me" prompt
    "uploaded_script_asked": {
        "en": "📄 Got your script {name} ({words} words).",
        "zh": "📄 已收到脚本 {name}（{words} 词）。",
    },
    "uploaded_media_asked": {"en": "🎬 Got {name}{details}.", "zh": "🎬 已收到 {name}{details}。"},
    "uploaded_audio_asked": {"en": "🎵 Got {name}{details}.", "zh": "🎵 已收到 {name}{details}。"},
    "uploaded_image_asked": {"en": "🖼️ Got {name}{details}.", "zh": "🖼️ 已收到 {name}{details}。"},
    # Discord: a reply the interaction could no longer carry went out as a new message
    "continued_below": {
        "en": "⤵️ This took a while: the rest follows in a new message.",
        "zh": "⤵️ 处理时间较长：后续内容在新消息中。",
    },
    "upload_duration": {"en": " ({seconds} s)", "zh": "（{seconds} 秒）"},
    "upload_hint": {
        "en": "📎 Attach a file to your message (supported: {formats}; up to 500 MB).",
        "zh": "📎 请在消息中附上文件（支持：{formats}；最大 500 MB）。",
    },
    "rendering": {"en": "🎬 Rendering your video...", "zh": "🎬 正在渲染视频..."},
    "already_exporting": {
        "en": "🎬 Already exporting: your video is on its way.",
        "zh": "🎬 正在导出中：视频马上就到。",
    },
    "nothing_to_export": {
        "en": "🎬 There is nothing to export yet: send a script or a video first.",
        "zh": "🎬 还没有可导出的内容：请先发送脚本或视频。",
    },
    "rendering_pct": {
        "en": "🎬 Rendering your video... {progress}%",
        "zh": "🎬 正在渲染视频... {progress}%",
    },
    "downloading": {"en": "📥 Fetching the file...", "zh": "📥 正在获取文件..."},
    "video_ready": {"en": "🎉 Your video is ready.", "zh": "🎉 视频已完成。"},
    "video_saved": {"en": "Saved to {path}", "zh": "已保存到 {path}"},
    "link_label": {
        "en": "🎉 Your video is ready ({size}). It is too big to send here, download it here (link valid until {expires}):",
        "zh": "🎉 视频已完成（{size}）。文件太大无法直接发送，请通过此链接下载（有效期至 {expires}）：",
    },
    "link_label_not_taken": {
        "en": "🎉 Your video is ready ({size}). This chat would not take the file just now, so here "
        "is a download link (valid until {expires}):",
        "zh": "🎉 视频已完成（{size}）。此聊天暂时无法接收该文件，请通过此链接下载（有效期至 {expires}）：",
    },
    "render_failed": {
        "en": "❌ The render failed on the server. Say /export to try again.",
        "zh": "❌ 服务器渲染失败。发送 /export 重试。",
    },
    "restart_queued": {
        "en": "🔄 The bot is restarting and did not get to your message “{text}”. Please send it "
        "again in a minute.",
        "zh": "🔄 机器人正在重启，还没来得及处理你的消息“{text}”。请稍后重新发送。",
    },
    "restart_working": {
        "en": "🔄 The bot is restarting in the middle of “{text}”. A video being rendered is still "
        "delivered when it is back; for anything else, say “status” in a minute to see where it stands.",
        "zh": "🔄 机器人在处理“{text}”时重启了。正在渲染的视频恢复后仍会发给你；其他请求请稍后发送“状态”查看进度。",
    },
    "render_interrupted": {
        "en": "🔄 The bot is restarting. The render carries on, and your video comes when the bot is back.",
        "zh": "🔄 机器人正在重启。渲染会继续，机器人恢复后会把视频发给你。",
    },
    "resumed": {
        "en": "🔄 I was restarted while rendering; picking your render back up.",
        "zh": "🔄 渲染过程中机器人重启了，正在继续你的渲染。",
    },
    "next_steps": {"en": "What next?", "zh": "接下来？"},
    "button_export": {"en": "Export MP4", "zh": "导出 MP4"},
    "button_status": {"en": "Show timeline", "zh": "查看时间线"},
    "button_slower": {"en": "Slower", "zh": "慢一点"},
    "button_vertical": {"en": "Vertical", "zh": "竖屏"},
    "pick_voice": {"en": "🎙️ Pick a voice:", "zh": "🎙️ 选择一个声音："},
    "voices_list": {
        "en": "🎙️ The voices I can use:\n{voices}\n\nEach one says a line below; tap a name to use it.",
        "zh": "🎙️ 可用的声音：\n{voices}\n\n下面每个声音各读一句，点名字即可选用。",
    },
    "voices_samples": {
        "en": "🎧 Getting the samples… {done}/{total}",
        "zh": "🎧 正在准备试听… {done}/{total}",
    },
    "voices_samples_done": {"en": "🎧 {total} samples:", "zh": "🎧 {total} 段试听："},
    "voices_samples_none": {
        "en": "🎧 The samples could not be made just now; you can still pick a voice below.",
        "zh": "🎧 暂时无法生成试听，你仍然可以在下面选择声音。",
    },
    "voices_unknown": {
        "en": '🎙️ Describe the voice you want, e.g. "a natural male voice in English".',
        "zh": "🎙️ 描述你想要的声音，例如“自然的英文男声”。",
    },
    # errors, one per code of DESIGN section 4
    "err_register": {
        "en": "💳 You're out of free credits. Register to keep going (your work is kept): {url}",
        "zh": "💳 免费积分已用完。注册后即可继续（作品会保留）：{url}",
    },
    "err_short_register": {
        "en": "💳 This needs about {need} credits and you have {available}. Shorten the script, "
        "or register for more: {url}",
        "zh": "💳 本次大约需要 {need} 积分，你还有 {available}。请缩短脚本，或注册获取更多积分：{url}",
    },
    "err_short_topup": {
        "en": "💳 This needs about {need} credits and you have {available}. Shorten the script, "
        "or top up credits in your account.",
        "zh": "💳 本次大约需要 {need} 积分，你还有 {available}。请缩短脚本，或在账户中充值积分。",
    },
    "err_topup": {
        "en": "💳 You're out of credits. Top up credits in your account to keep going.",
        "zh": "💳 积分不足。请在账户中充值积分后继续。",
    },
    "err_formats": {
        "en": "🚫 I can't use that file. Supported formats: {formats}.",
        "zh": "🚫 无法使用该文件。支持的格式：{formats}。",
    },
    "err_formats_reason": {
        "en": "🚫 {message}\nSupported formats: {formats}.",
        "zh": "🚫 {message}\n支持的格式：{formats}。",
    },
    "err_too_large": {
        "en": "📦 That file is too large (the limit is 500 MB). Compress it (e.g. 720p, lower bitrate) "
        "or trim it to the part you need, then send it again.",
        "zh": "📦 文件太大（上限 500 MB）。请压缩（例如 720p、降低码率）或剪掉不需要的部分后重新发送。",
    },
    "link_no_public_url": {
        "en": "🎬 Your video is ready ({size}) but too big for this chat, and this bot has no public "
        "address for download links yet. Ask its admin to set PUBLIC_BASE_URL, or trim the video.",
        "zh": "🎬 视频已生成（{size}），但超出此聊天的大小限制，且机器人尚未设置公网下载地址。请联系管理员设置 PUBLIC_BASE_URL，或缩短视频。",
    },
    "link_no_public_url_not_taken": {
        "en": "🎬 Your video is ready ({size}) but this chat would not take the file just now, and "
        "this bot has no public address for download links yet. Say /export again in a while, or "
        "ask its admin to set PUBLIC_BASE_URL.",
        "zh": "🎬 视频已生成（{size}），但此聊天暂时无法接收该文件，且机器人尚未设置公网下载地址。请稍后再发送 /export，或联系管理员设置 PUBLIC_BASE_URL。",
    },
    "caption_file": {"en": "📝 Captions ({ext})", "zh": "📝 字幕文件（{ext}）"},
    "big_upload_link": {
        "en": "📤 Open this page to send your file (up to 500 MB): it goes straight into this chat's project. "
        "The link works until {expires}.",
        "zh": "📤 打开此页面发送文件（最大 500 MB），文件会直接进入本对话的项目。链接有效期至 {expires}。",
    },
    "big_upload_too_large": {
        "en": "📦 That file ({size}) is bigger than this chat app lets bots download ({limit}).",
        "zh": "📦 文件（{size}）超过了此聊天应用允许机器人下载的大小（{limit}）。",
    },
    "big_upload_too_large_unknown": {
        "en": "📦 That file is bigger than this chat app lets bots download ({limit}).",
        "zh": "📦 文件超过了此聊天应用允许机器人下载的大小（{limit}）。",
    },
    "big_upload_label": {"en": "Upload a big file", "zh": "上传大文件"},
    "big_upload_no_public_url": {
        "en": "📦 Big files need a public address for this bot, and its admin has not set one yet. "
        "Send a link to the file instead, or compress/trim it.",
        "zh": "📦 发送大文件需要机器人的公网地址，管理员尚未设置。请改为发送文件链接，或压缩/剪辑后再发。",
    },
    "big_upload_arrived": {
        "en": "📥 Got {name}{details}. Tell me what to do with it.",
        "zh": "📥 已收到 {name}{details}。告诉我要做什么。",
    },
    "err_platform_too_large": {
        "en": "📦 That file ({size}) is bigger than this chat app lets bots download ({limit}). "
        "Send a link to the file instead, or compress/trim it.",
        "zh": "📦 文件（{size}）超过了此聊天应用允许机器人下载的大小（{limit}）。请改为发送文件链接，或压缩/剪辑后再发。",
    },
    "err_upgrade": {
        "en": "🔒 Register or upgrade your plan to unlock export.",
        "zh": "🔒 注册或升级套餐即可解锁导出。",
    },
    "err_rate_limited": {
        "en": "🚦 The service is busy right now. Please try again in a minute.",
        "zh": "🚦 服务繁忙，请稍后再试。",
    },
    "err_auth": {
        "en": "🔑 I couldn't sign in to the voiceover service. Please try again shortly.",
        "zh": "🔑 无法登录配音服务，请稍后重试。",
    },
    "err_backend_down": {
        "en": "🔌 The voiceover service isn't reachable right now. Please try again in a few minutes.",
        "zh": "🔌 暂时无法连接配音服务，请几分钟后再试。",
    },
    "err_stream_cut": {
        "en": "⚠️ The connection dropped while I was working. Here's where your project stands:\n{summary}",
        "zh": "⚠️ 处理时连接中断。你的项目当前状态：\n{summary}",
    },
    "err_stream_cut_unknown": {
        "en": "⚠️ The connection dropped while I was working, and I couldn't check the result. "
        "Say /status in a moment.",
        "zh": "⚠️ 处理时连接中断，且无法确认结果。请稍后发送 /status 查看。",
    },
    "err_generic": {"en": "❌ {message}", "zh": "❌ {message}"},
    "err_service": {
        "en": "⚠️ The voiceover service had a problem on its side. Please try again in a moment.",
        "zh": "⚠️ 配音服务出现故障，请稍后重试。",
    },
    "err_request_failed": {
        "en": "❌ The voiceover service couldn't do that. Please try again; /new starts a fresh project.",
        "zh": "❌ 配音服务无法完成该操作。请重试；发送 /new 可开始新项目。",
    },
    "err_internal": {
        "en": "❌ Something went wrong on my side. Please try again.",
        "zh": "❌ 出了点问题，请重试。",
    },
}


CATALOGUE = Catalogue(TEXTS, formats=SUPPORTED_FORMATS)


def t(key: str, lang: str = "en", **kwargs: object) -> str:
    """The text for `key` in `lang` (English if that language has none), formatted with `kwargs`;
    an unknown key is a bug and raises KeyError (the catalogue policy of ``backend.protocol``)."""
    return CATALOGUE.t(key, lang, **kwargs)


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def detect_language(text: str, fallback: str | None = "en") -> str | None:
    """`zh` if the text has CJK characters, `en` if it has Latin words, else `fallback`."""
    if _CJK.search(text):
        return "zh"
    if _LATIN_WORD.search(text):
        return "en"
    return fallback


def human_size(size: int | None) -> str:
    """Decimal units, as phones show file sizes and as Telegram states its limits (20 MB =
    20,000,000 bytes): "20 MB", "1.5 GB", "812 KB"."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            if unit == "B":
                return f"{value:.0f} B"
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
