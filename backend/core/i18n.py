"""Messages the backend writes for people, in English and Chinese.

Keys are stable; the bot shows ``message`` as it is, so every text is a full sentence.
"""

from __future__ import annotations

from typing import Any

from backend.protocol.catalogue import Catalogue

MESSAGES: dict[str, dict[str, str]] = {
    "bad_token": {
        "en": "Your access token is missing, invalid or expired. Request a new one.",
        "zh": "访问令牌缺失、无效或已过期，请重新获取。",
    },
    "no_client_id": {
        "en": "The X-Client-Id header is required to get a token.",
        "zh": "获取令牌需要 X-Client-Id 请求头。",
    },
    "token_rate_limited": {
        "en": "This client already received a free token in the last 7 days. Try again later.",
        "zh": "该客户端在 7 天内已领取过免费令牌，请稍后再试。",
    },
    "no_session": {"en": "That session does not exist.", "zh": "会话不存在。"},
    "forbidden_session": {
        "en": "This session belongs to another account.",
        "zh": "该会话属于另一个账号。",
    },
    "missing_attribution": {
        "en": "Export needs the X-Skill-Source, X-Skill-Version and X-Skill-Platform headers. Register or upgrade your plan to unlock export.",
        "zh": "导出需要 X-Skill-Source、X-Skill-Version 和 X-Skill-Platform 请求头。请注册或升级套餐以解锁导出。",
    },
    "no_credits": {
        "en": "Not enough credits: this needs {need} and you have {available}. Register to get more.",
        "zh": "积分不足：本次需要 {need} 积分，当前可用 {available}。注册即可获得更多积分。",
    },
    "unsupported_file": {
        "en": "{name}: this file type is not supported. Send MP4, MOV, AVI, WEBM or MKV video, TXT or DOCX scripts, JPG/PNG/GIF/WEBP images, or MP3/WAV/M4A/AAC audio.",
        "zh": "{name}：不支持该文件类型。请发送 MP4、MOV、AVI、WEBM、MKV 视频，TXT 或 DOCX 脚本，JPG/PNG/GIF/WEBP 图片，或 MP3/WAV/M4A/AAC 音频。",
    },
    "empty_file": {"en": "{name} is empty (0 bytes).", "zh": "{name} 是空文件（0 字节）。"},
    "damaged_media": {
        "en": "{name} looks damaged or truncated: it could not be read as a {kind} file.",
        "zh": "{name} 似乎已损坏或不完整，无法作为{kind}文件读取。",
    },
    "bad_docx": {
        "en": "{name} is not a valid Word document. Save it again as .docx or send the text as a .txt file.",
        "zh": "{name} 不是有效的 Word 文档。请重新另存为 .docx，或以 .txt 发送文本。",
    },
    "docx_bomb": {
        "en": "{name} expands to far more data than a script can hold, so it was refused.",
        "zh": "{name} 解压后的数据量远超脚本所需，已拒绝。",
    },
    "too_large": {
        "en": "The file is larger than {limit}. Compress it or trim it, then send it again.",
        "zh": "文件超过 {limit}。请压缩或剪短后重新发送。",
    },
    "too_many_files": {
        "en": "This upload has more than {limit} files or links; send at most {limit} at a time.",
        "zh": "本次上传的文件或链接超过 {limit} 个，每次最多 {limit} 个。",
    },
    "upload_too_slow": {
        "en": "The upload was too slow (under {rate} a second, or over {minutes} minutes), so it was stopped. Try again on a faster connection.",
        "zh": "上传速度过慢（每秒不足 {rate}，或超过 {minutes} 分钟），已中止。请换用更快的网络后重试。",
    },
    "uploads_busy": {
        "en": "You already have {limit} uploads in progress. Wait for one to finish, then send this one again.",
        "zh": "你已有 {limit} 个上传正在进行。请等其中一个完成后再发送。",
    },
    "server_uploads_busy": {
        "en": "The server is receiving too many uploads right now. Wait a minute, then send this one again.",
        "zh": "服务器当前正在接收的上传过多。请稍等一分钟后再发送。",
    },
    "docx_too_many_paragraphs": {
        "en": "{name} has more than {limit} paragraphs, far more than a script needs. Remove the empty ones or send the text as a .txt file.",
        "zh": "{name} 的段落超过 {limit} 个，远超脚本所需。请删除空段落，或以 .txt 发送文本。",
    },
    "docx_too_slow": {
        "en": "{name} took too long to read, so it was refused. Save it again as .docx or send the text as a .txt file.",
        "zh": "{name} 读取耗时过长，已拒绝。请重新另存为 .docx，或以 .txt 发送文本。",
    },
    "empty_script": {
        "en": "The script is empty. Paste some text or send a TXT or DOCX file.",
        "zh": "脚本为空。请粘贴文字，或发送 TXT / DOCX 文件。",
    },
    "garbled_script": {
        "en": "{name} does not look like readable text. Check its encoding (UTF-8 works best).",
        "zh": "{name} 看起来不是可读的文本，请检查编码（推荐 UTF-8）。",
    },
    "huge_script": {
        "en": "The script has {words} words; the limit is {limit}. Split it into parts.",
        "zh": "脚本共 {words} 词，上限为 {limit}。请拆分成几部分。",
    },
    "message_too_long": {
        "en": "That message is too long for a request ({chars} characters; a request can have "
        "{limit}). To have a long text read out, put it after 'script:' on a line of its own, or "
        "send it as a TXT or DOCX file.",
        "zh": "这条消息作为指令太长（{chars} 个字符，上限 {limit}）。如需朗读长文本，请另起一行写"
        "“script:”再接文本，或以 TXT、DOCX 文件发送。",
    },
    "script_chars": {
        "en": "The script is {chars} characters long; a script can have {limit}. Split it into "
        "parts.",
        "zh": "脚本共 {chars} 个字符，上限为 {limit}。请拆分成几部分。",
    },
    "word_too_long": {
        "en": 'The script has a "word" of {chars} letters with no space in it ({start}…), which '
        "cannot be read out. Add spaces or remove it, then ask again.",
        "zh": "脚本中有一个长达 {chars} 个字符、中间没有空格的“词”（{start}…），无法朗读。"
        "请加上空格或删除后再试。",
    },
    "no_script": {
        "en": "I need a script first: upload a TXT or DOCX file, or paste the text after 'script:'.",
        "zh": "请先提供脚本：上传 TXT 或 DOCX 文件，或在“脚本：”后粘贴文字。",
    },
    "bad_url": {
        "en": "{url} is not a valid http(s) link.",
        "zh": "{url} 不是有效的 http(s) 链接。",
    },
    "no_voice_for_script": {
        "en": "Your script is in {language}, and no {language} voice is installed here, so I "
        "made no voiceover and used no credits. The installed voices speak {voices}. The "
        "backend's admin can add a Piper voice for {language} (its .onnx and .onnx.json files) "
        "to the voices folder.",
        "zh": "你的文稿是{language}，但这里没有安装{language}配音，所以没有生成配音，也没有扣除积分。"
        "已安装的配音语言：{voices}。后端管理员可以把{language}的 Piper 配音（.onnx 和 .onnx.json 文件）"
        "放进 voices 文件夹。",
    },
    "private_url": {
        "en": "{url} points to a private or local address, which is not allowed.",
        "zh": "{url} 指向私有或本地地址，不允许下载。",
    },
    "url_failed": {
        "en": "Could not download {url}: {reason}.",
        "zh": "无法下载 {url}：{reason}。",
    },
    "no_files": {"en": "No files were attached.", "zh": "没有附带任何文件。"},
    "bad_request": {"en": "The request is malformed: {reason}.", "zh": "请求格式错误：{reason}。"},
    "render_not_found": {"en": "No render job with that id.", "zh": "没有该渲染任务。"},
    "voice_not_found": {"en": "No installed voice has that id.", "zh": "没有该声音。"},
    "nothing_to_render": {
        "en": "The timeline is empty. Ask for a voiceover or upload a video first.",
        "zh": "时间线为空。请先生成配音或上传视频。",
    },
    "render_failed": {
        "en": "The render failed: {reason}. Your credits were not charged.",
        "zh": "渲染失败：{reason}。未扣除积分。",
    },
    "link_expired": {
        "en": "This link has expired or is not valid. Ask the bot for a new one.",
        "zh": "该链接已过期或无效。请向机器人索取新链接。",
    },
    "internal": {
        "en": "Something went wrong on our side. Nothing was charged; please try again.",
        "zh": "服务器出错了。未扣除积分，请重试。",
    },
}


def t(key: str, lang: str = "en", **fmt: Any) -> str:
    """The message for ``key`` in ``lang`` (English if that language has none); an unknown key is a
    bug and raises KeyError (the catalogue policy of ``backend.protocol``)."""
    return CATALOGUE.t(key, lang, **fmt)


def pick_lang(value: str | None) -> str:
    """Map a language tag or Accept-Language header to one we write ("en" or "zh")."""
    if value and value.strip().lower().startswith("zh"):
        return "zh"
    return "en"


AGENT_MESSAGES: dict[str, dict[str, str]] = {
    "voiceover_done": {
        "en": 'Your voiceover is ready: {seconds:.0f} s of speech in {voice}\'s voice ({desc}){pace}, {sentences} sentence{plural}. Say "export" to get the MP4, or ask for changes like "slower" or "make it vertical".',
        "zh": "配音已生成：{seconds:.0f} 秒，{voice} 的声音（{desc}）{pace}，共 {sentences} 句。说“导出”即可获取 MP4，也可以说“慢一点”或“竖屏”进行调整。",
    },
    "voice_fallback": {
        "en": "There is no {want} voice installed, so I used {voice} ({desc}) instead.",
        "zh": "没有安装{want}的声音，已改用 {voice}（{desc}）。",
    },
    "speed_set": {"en": "Speech pace is now {speed:.2f}x.", "zh": "语速已设为 {speed:.2f} 倍。"},
    "speed_range": {"en": "Pace can go from 0.5x to 2x.", "zh": "语速范围为 0.5 到 2 倍。"},
    "format_set": {
        "en": "Format set to {aspect} ({w}x{h}).",
        "zh": "画面比例已设为 {aspect}（{w}x{h}）。",
    },
    "captions_on": {"en": "Captions are on.", "zh": "字幕已开启。"},
    "captions_off": {"en": "Captions are off.", "zh": "字幕已关闭。"},
    "captions_burn": {
        "en": "Captions will be burned into the picture.",
        "zh": "字幕将烧录进画面。",
    },
    "captions_track": {
        "en": "Captions will go in as a subtitle track (some players, Telegram's and Discord's "
        "among them, do not show subtitle tracks).",
        "zh": "字幕将以字幕轨形式加入（部分播放器，包括 Telegram 和 Discord 的，不显示字幕轨）。",
    },
    "applies_next": {
        "en": "It applies to the next voiceover and export.",
        "zh": "将在下次配音和导出时生效。",
    },
    "voice_list": {
        "en": 'The voices here:\n{voices}\nSay "use Emma", "a British female voice", "a deeper voice" or "普通话男声" to pick one; a Chinese script gets a Mandarin voice by itself.',
        "zh": "可用的声音：\n{voices}\n说“用 Emma”“英式女声”“低沉一点的声音”或“普通话男声”即可选择；中文文稿会自动使用普通话声音。",
    },
    "help": {
        "en": 'I can generate a voiceover for your script (upload a TXT or DOCX file, or paste it after "script:"), with or without your video. Choose a voice by gender, language or name ({voices}); change the pace ("slower", "1.2x"); the format ("vertical", "square"); captions on or off. Then say "export".',
        "zh": "我可以为你的脚本生成配音（上传 TXT 或 DOCX 文件，或在“脚本：”后粘贴文字），可配合你上传的视频。可按性别、语言或名字选择声音（{voices}）；调整语速（“慢一点”“1.2倍”）；画面比例（“竖屏”“方形”）；开关字幕。完成后说“导出”。",
    },
    "synth_failed": {
        "en": "The voiceover could not be generated: {reason}. No credits were charged.",
        "zh": "配音生成失败：{reason}。未扣除积分。",
    },
}
MESSAGES.update(AGENT_MESSAGES)

GENDER_WORDS = {
    "en": {"male": "male", "female": "female"},
    "zh": {"male": "男声", "female": "女声"},
}
LANG_WORDS = {
    "en": {
        "en": "English",
        "zh": "Chinese",
        "es": "Spanish",
        "fr": "French",
        "de": "German",
        "ja": "Japanese",
        "ko": "Korean",
        "en_GB": "British English",
        "en_US": "American English",
        "en_AU": "Australian English",
        "en_IN": "Indian English",
        "en_IE": "Irish English",
        "en_CA": "Canadian English",
        "zh_CN": "Mandarin Chinese",
    },
    "zh": {
        "en": "英文",
        "zh": "中文",
        "es": "西班牙语",
        "fr": "法语",
        "de": "德语",
        "ja": "日语",
        "ko": "韩语",
        "en_GB": "英式英语",
        "en_US": "美式英语",
        "en_AU": "澳洲英语",
        "en_IN": "印度英语",
        "en_IE": "爱尔兰英语",
        "en_CA": "加拿大英语",
        "zh_CN": "普通话",
    },
}


EDIT_MESSAGES: dict[str, dict[str, str]] = {
    "title_added": {
        "en": 'Title "{text}" from {start:g} s to {end:g} s.',
        "zh": "标题“{text}”：{start:g} 秒至 {end:g} 秒。",
    },
    "titles_removed": {"en": "Titles removed.", "zh": "已删除标题。"},
    "music_volume": {"en": "Music at {pct}%.", "zh": "背景音乐音量 {pct}%。"},
    "music_removed": {"en": "Music removed.", "zh": "已去掉背景音乐。"},
    "music_set": {
        "en": "{name} is the background music ({pct}%), ducked under the voice.",
        "zh": "{name} 已设为背景音乐（{pct}%），人声出现时自动压低。",
    },
    "music_missing": {
        "en": "Send me an MP3, WAV, M4A or AAC file first and I'll use it as background music.",
        "zh": "请先发送 MP3、WAV、M4A 或 AAC 文件，我会把它作为背景音乐。",
    },
    "caption_position": {"en": "Captions moved to the {pos}.", "zh": "字幕已移到{pos}。"},
    "caption_size": {"en": "Captions are now {size}.", "zh": "字幕大小已设为{size}。"},
    "sidecars_on": {
        "en": "I'll send SRT and VTT caption files with the next export.",
        "zh": "下次导出时会附带 SRT 和 VTT 字幕文件。",
    },
    "fit_set": {"en": "Your video will {how} to fill the frame.", "zh": "视频将{how}以适应画面。"},
    "resolution_set": {"en": "Output resolution {res}p.", "zh": "输出分辨率 {res}p。"},
    "trim_set": {"en": "Only the first {sec:g} s will be kept.", "zh": "只保留前 {sec:g} 秒。"},
    "trim_removed": {"en": "Full length again.", "zh": "已恢复完整长度。"},
    "title_time_unsupported": {
        "en": "I can place a title from the start of the video, not from its end: say a time such "
        'as "from 5 to 8 seconds".',
        "zh": "标题的时间只能从视频开头算起，不能从结尾倒数：请说“第5到8秒”这样的时间。",
    },
    "voice_volume_unsupported": {
        "en": "The voice is always mixed at broadcast loudness (-16 LUFS), so it cannot be made "
        'louder or quieter; you can change the music instead ("music at 20%").',
        "zh": "人声始终按广播标准响度（-16 LUFS）混音，无法单独调大或调小；可以调整背景音乐（例如“背景音乐20%”）。",
    },
    "resolution_unsupported": {
        "en": 'Exports are 720p or 1080p (1080p is the default); say "720p" or "1080p".',
        "zh": "导出支持 720p 或 1080p（默认 1080p）；请说“720p”或“1080p”。",
    },
    "title_too_long": {
        "en": "That title is too long to fit on screen: keep it under 120 characters.",
        "zh": "标题太长，画面放不下：请控制在 120 个字符以内。",
    },
    "trim_too_short": {
        "en": "That is too short to export: keep at least {sec:g} s.",
        "zh": "太短了，无法导出：至少保留 {sec:g} 秒。",
    },
    "title_after_end": {
        "en": 'The video is only {length:g} s long, so a title "{text}" at {start:g} s would never '
        "be seen. Say a time within the video.",
        "zh": "视频只有 {length:g} 秒，{start:g} 秒处的标题“{text}”不会出现。请说一个视频内的时间。",
    },
    "undone": {"en": "Undone: {what} {summary}", "zh": "已撤销：{what} 发送“状态”可查看时间线。"},
    "undone_plain": {"en": "Undone. {summary}", "zh": "已撤销。发送“状态”可查看时间线。"},
    "pace": {"en": ", at {speed:g}x", "zh": "，语速 {speed:g}x"},
    "music_none": {"en": "There is no music to remove.", "zh": "当前没有背景音乐。"},
    "titles_none": {"en": "There is no title to remove.", "zh": "当前没有标题。"},
    "captions_soft_hint": {
        "en": "Captions go in as a subtitle track, so your video is not re-encoded; some phone "
        'players hide subtitle tracks. Say "burn in the captions" to draw them into the picture '
        "(the export then takes a little longer).",
        "zh": "字幕以字幕轨形式加入，视频无需重新编码；部分手机播放器不显示字幕轨。说“把字幕烧录到画面”即可把字幕画进视频（导出会稍慢）。",
    },
    "nothing_to_undo": {"en": "There is nothing to undo.", "zh": "没有可撤销的操作。"},
    "video_selected": {"en": "Now working on {name}.", "zh": "现在处理 {name}。"},
    "video_missing": {
        "en": "This session has {count} video(s); upload another one first.",
        "zh": "本会话只有 {count} 个视频，请先上传。",
    },
    "pronunciation_set": {
        "en": 'I\'ll pronounce {word} as "{spoken}" from now on.',
        "zh": "之后会把 {word} 读作“{spoken}”。",
    },
    "timing_sped_up": {
        "en": "{count} timed line(s) were sped up (at most 1.2x) to fit their slot.",
        "zh": "有 {count} 句按时间点放置的台词被加速（最多 1.2 倍）以放进时段。",
    },
    "timing_overrun": {
        "en": "{count} line(s) are too long for their slot even at 1.2x, so they start later than written; shorten them to keep the timing.",
        "zh": "有 {count} 句台词即使加速到 1.2 倍仍超出时段，因此会晚于标注时间开始；请缩短这些台词。",
    },
    "voice_longer": {
        "en": 'The voiceover is {extra:.0f} s longer than the video, so the last frame is held until it ends. Say "faster" or trim the script to avoid that.',
        "zh": "配音比视频长 {extra:.0f} 秒，结尾会停留在最后一帧。可以说“快一点”或缩短脚本。",
    },
}
MESSAGES.update(EDIT_MESSAGES)
POSITION_WORDS = {
    "en": {"top": "top", "middle": "middle", "bottom": "bottom"},
    "zh": {"top": "顶部", "middle": "中间", "bottom": "底部"},
}
SIZE_WORDS = {
    "en": {"small": "small", "medium": "medium", "large": "large"},
    "zh": {"small": "小号", "medium": "中号", "large": "大号"},
}
FIT_WORDS = {
    "en": {
        "blur": "sit on a blurred copy of itself",
        "crop": "be cropped",
        "pad": "get black bars",
    },
    "zh": {"blur": "以模糊背景填充", "crop": "裁剪", "pad": "加黑边"},
}

CATALOGUE = Catalogue(MESSAGES)
