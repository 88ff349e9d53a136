"""The request interpreter: English and Chinese phrasings reach the same intents (pure unit tests)."""

from __future__ import annotations

import pytest

from backend.conversation.interpret import parse, split_script
from backend.speech.script import parse_script


def _no_speech(text: str) -> None:
    intent = parse(text)
    assert not intent.voiceover and not intent.redo and intent.script is None


def test_core_request() -> None:
    intent = parse("generate a natural male voiceover in English for my script")
    assert intent.voiceover and intent.gender == "male" and intent.language == "en"
    assert intent.script is None


@pytest.mark.parametrize(
    ("en", "zh"),
    [
        ("generate a female voiceover in Chinese", "用中文女声生成配音"),
        ("make it vertical", "改成竖屏"),
        ("slower", "慢一点"),
        ("faster", "快一点"),
        ("remove the captions", "去掉字幕"),
        ("square format", "改成方形"),
    ],
)
def test_chinese_matches_english(en: str, zh: str) -> None:
    def fields(text: str) -> tuple[object, ...]:
        i = parse(text)
        return (i.voiceover, i.gender, i.language, i.aspect, i.speed_change, i.captions)

    assert fields(en) == fields(zh)
    assert fields(zh) != fields("hello"), zh  # something was understood, not two empty parses


def test_female_is_not_male() -> None:
    assert parse("a female voice please").gender == "female"


def test_speed_forms() -> None:
    assert parse("read it at 1.2x").speed == 1.2
    assert parse("slower please").speed_change == pytest.approx(1 / 1.15)
    assert "speed_out_of_range" in parse("make it 5x").notes


def test_voice_by_name() -> None:
    assert parse("use Joe for this", ["Joe", "Amy"]).voice_name == "Joe"
    assert parse("use joey", ["Joe"]).voice_name is None


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("voiceover please\nscript: Hello there. Second line.", "Hello there. Second line."),
        ("脚本：你好，欢迎。", "你好，欢迎。"),
        (
            'read this: "Welcome to the spring sale, everything is off"',
            "Welcome to the spring sale, everything is off",
        ),
        (
            "voice this\nWelcome to our shop where every lamp is hand made and tested twice.",
            "Welcome to our shop where every lamp is hand made and tested twice.",
        ),
    ],
)
def test_inline_scripts(text: str, script: str) -> None:
    assert split_script(text)[1] == script
    assert parse(text).voiceover


def test_unknown_request_is_not_understood() -> None:
    assert not parse("what's the weather like").understood


@pytest.mark.parametrize(
    ("marker", "ms"),
    [("[停顿1秒]", 1000), ("[停顿 1 秒]", 1000), ("[pause: 1s]", 1000), ("[pause 500ms]", 500)],
)
def test_pause_markers_become_pauses(marker: str, ms: int) -> None:
    items = parse_script(f"First line. {marker} Second line.")
    assert [(i.text, i.pause_ms) for i in items] == [
        ("First line.", 0),
        ("", ms),
        ("Second line.", 0),
    ]


def test_text_after_a_title_is_kept() -> None:
    intent = parse("add title 'Urban Dreams' and make it vertical")
    assert intent.edits.titles == [("Urban Dreams", 0, 3000)] and intent.aspect == "9:16"
    intent = parse("add title 'Hi', then only the first 20 seconds")
    assert intent.edits.titles == [("Hi", 0, 3000)] and intent.edits.trim_ms == 20_000
    intent = parse("添加标题“城市之梦”，然后改成竖屏")
    assert intent.edits.titles == [("城市之梦", 0, 3000)] and intent.aspect == "9:16"
    intent = parse("add lo-fi music and a title 'Hi'")
    assert intent.edits.titles == [("Hi", 0, 3000)] and intent.edits.use_music
    intent = parse("add title 'Hello' for the first 2 seconds")
    assert intent.edits.titles == [("Hello", 0, 2000)]


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ('put "Sale ends Friday" on screen at 10s', ("Sale ends Friday", 10_000, 13_000)),
        ('add a caption "Limited time offer" at 5s', ("Limited time offer", 5000, 8000)),
        ('change the title to "Urban Dreams 2025"', ("Urban Dreams 2025", 0, 3000)),
        ('add text "Free shipping on all orders"', ("Free shipping on all orders", 0, 3000)),
    ],
)
def test_quoted_overlay_text_is_not_a_script(text: str, title: tuple[str, int, int]) -> None:
    intent = parse(text)
    assert intent.script is None and not intent.voiceover
    assert intent.edits.titles == [title]


def test_change_the_title_replaces_it() -> None:
    assert parse('change the title to "Urban Dreams 2025"').edits.remove_titles


def test_scripts_still_split_out() -> None:
    intent = parse('script: "Welcome to the spring sale, everything is off"')
    assert intent.script and intent.voiceover and not intent.edits.titles
    intent = parse('read this: "Welcome to the spring sale, everything is off"')
    assert intent.script == "Welcome to the spring sale, everything is off"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("add title 'Don't stop'", ("Don't stop", 0, 3000)),
        ("add title 'It's here' for 2 seconds", ("It's here", 0, 2000)),
        ("add title ‘Don’t stop’", ("Don’t stop", 0, 3000)),
        ("add title 'Hi' at 0:05", ("Hi", 5000, 8000)),
        ("add title 'Hi' at 5s", ("Hi", 5000, 8000)),
        ("add title 'Hi' at 5s for 2 seconds", ("Hi", 5000, 7000)),
        ("add title 'Hi' from 00:05 to 00:08", ("Hi", 5000, 8000)),
        ("add title 'Hi' from 2 to 4 seconds", ("Hi", 2000, 4000)),
        ("添加标题“你好”从2秒到5秒", ("你好", 2000, 5000)),
    ],
)
def test_title_text_and_times(text: str, title: tuple[str, int, int]) -> None:
    assert parse(text).edits.titles == [title]


@pytest.mark.parametrize(
    "text", ["add title 'Bye' for the last 3 seconds", "add title 'Bye' at the end"]
)
def test_end_relative_title_is_not_understood(text: str) -> None:
    intent = parse(text)
    assert intent.edits.titles == [] and "title_time_unsupported" in intent.notes
    assert not intent.understood


@pytest.mark.parametrize(
    "text", ["make the music 2x louder", "make the captions 2x bigger", "make it 1080x1920"]
)
def test_a_number_and_x_is_not_always_speed(text: str) -> None:
    intent = parse(text)
    assert intent.speed is None and "speed_out_of_range" not in intent.notes


def test_dimensions_are_a_format() -> None:
    intent = parse("make it 1080x1920")
    assert intent.aspect == "9:16" and intent.edits.resolution == 1080


@pytest.mark.parametrize(
    ("text", "speed"),
    [
        ("speed 1.2x", 1.2),
        ("1.2x", 1.2),
        ("read it at 1.1x", 1.1),
        ("语速1.2倍", 1.2),
        ("1.2倍速", 1.2),
        ("speed 1.1", 1.1),
        ("速度1.2", 1.2),
        ("语速 0.9", 0.9),
        ("set the speed to 1.3", 1.3),
        ("speed 120%", 1.2),
    ],
)
def test_speed_rates(text: str, speed: float) -> None:
    assert parse(text).speed == pytest.approx(speed)


def test_pronunciations() -> None:
    intent = parse("pronounce Lumen as LOO-men")
    assert intent.edits.pronunciations == {"Lumen": "LOO-men"} and intent.gender is None
    intent = parse("pronounce Lumen as LOO-men for us")
    assert intent.edits.pronunciations == {"Lumen": "LOO-men"}
    assert intent.accent is None and intent.language is None
    assert parse("pronounce GIF as jif please").edits.pronunciations == {"GIF": "jif"}
    assert parse("pronounce GIF as jif, thanks").edits.pronunciations == {"GIF": "jif"}
    assert parse("pronounce GIF as jif and Lumen as LOO-men").edits.pronunciations == {
        "GIF": "jif",
        "Lumen": "LOO-men",
    }
    assert parse('pronounce "Nemo AI" as "nee-mo A I"').edits.pronunciations == {
        "Nemo AI": "nee-mo A I"
    }
    assert parse("把Lumen读作卢门").edits.pronunciations == {"Lumen": "卢门"}


def test_edits_do_not_resynthesize() -> None:
    intent = parse("add the title again")
    assert not intent.redo and not intent.voiceover
    intent = parse("generate srt files")
    assert intent.edits.sidecars and not intent.voiceover and not intent.redo
    assert parse("do it again").redo and parse("redo the voiceover").redo
    assert parse("generate").voiceover and parse("again, with a female voice").redo


def _acts(text: str) -> tuple[object, ...]:
    i = parse(text)
    e = i.edits
    return (i.aspect, i.captions, e.resolution, e.caption_position, e.caption_size)


@pytest.mark.parametrize(
    ("en", "zh"),
    [
        ("make it 720p", "改成720p"),
        ("export in 1080p", "1080P高清"),
        ("turn off the captions", "字幕关掉"),
        ("hide the captions", "隐藏字幕"),
        ("captions at the top", "字幕放上面"),
        ("make the captions bigger", "把字幕调大一点"),
        ("make it square", "做成1比1"),
        ("make it vertical", "9比16"),
    ],
)
def test_more_chinese_phrasings(en: str, zh: str) -> None:
    assert _acts(en) == _acts(zh)
    assert _acts(zh) != _acts("hello"), zh  # something was understood, not two empty parses


def test_chinese_music_titles_and_trim() -> None:
    assert parse("音乐调小一点").edits.music_change == parse("music quieter").edits.music_change
    assert parse("音乐调小一点").edits.music_change == pytest.approx(1 / 1.5)
    assert parse("加个标题“新品上市”").edits.titles == [("新品上市", 0, 3000)]
    assert parse("只保留前20秒").edits.trim_ms == 20_000
    assert parse("只要前二十秒").edits.trim_ms == 20_000
    assert parse("只要前十五秒").edits.trim_ms == 15_000
    assert parse("添加标题“你好”前三秒").edits.titles == [("你好", 0, 3000)]


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("put 'Spring Sale' as the title", ("Spring Sale", 0, 3000)),
        ("title: Spring Sale", ("Spring Sale", 0, 3000)),
        ("Title: Spring Sale for the first 5 seconds", ("Spring Sale", 0, 5000)),
        ("add title: Big Day", ("Big Day", 0, 3000)),
        ("标题“春季促销”前3秒", ("春季促销", 0, 3000)),
        ("标题“春季促销”，前5秒", ("春季促销", 0, 5000)),
        ("标题：春季促销前5秒", ("春季促销", 0, 5000)),
    ],
)
def test_more_title_forms(text: str, title: tuple[str, int, int]) -> None:
    intent = parse(text)
    assert intent.edits.titles == [title] and not intent.edits.remove_titles
    _no_speech(text)


def test_a_title_with_more_after_it() -> None:
    intent = parse("title: Spring Sale, make it vertical")
    assert intent.edits.titles == [("Spring Sale", 0, 3000)] and intent.aspect == "9:16"
    assert parse("subtitle: hi").edits.titles == []
    intent = parse("captions on the top")  # a position, not "captions on"
    assert intent.captions is None and intent.edits.caption_position == "top"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("标题改成“夏季新品”", "夏季新品"),
        ("标题改成夏季新品", "夏季新品"),
        ("change the title to Summer Sale", "Summer Sale"),
    ],
)
def test_changed_title_replaces(text: str, title: str) -> None:
    edits = parse(text).edits
    assert edits.titles == [(title, 0, 3000)] and edits.remove_titles


@pytest.mark.parametrize("text", ["remove the title", "delete titles", "去掉标题"])
def test_remove_titles(text: str) -> None:
    edits = parse(text).edits
    assert edits.remove_titles and not edits.titles
    _no_speech(text)


@pytest.mark.parametrize(
    ("text", "on"),
    [
        ("subtitles off", False),
        ("turn off subtitles", False),
        ("hide the captions", False),
        ("no subs", False),
        ("captions off please", False),
        ("subtitles on", True),
        ("turn subtitles on", True),
        ("subs on", True),
    ],
)
def test_captions_on_and_off(text: str, on: bool) -> None:
    intent = parse(text)
    assert intent.captions is on and intent.edits.caption_position is None
    _no_speech(text)


@pytest.mark.parametrize(
    ("text", "change"),
    [
        ("turn the music down", 1 / 1.5),
        ("music down", 1 / 1.5),
        ("lower the music", 1 / 1.5),
        ("music quieter", 1 / 1.5),
        ("quieter music", 1 / 1.5),
        ("turn the music up", 1.5),
        ("music a bit louder", 1.5),
    ],
)
def test_music_up_and_down(text: str, change: float) -> None:
    assert parse(text).edits.music_change == pytest.approx(change)
    _no_speech(text)


@pytest.mark.parametrize(
    "text",
    [
        "louder voice",
        "make the voice louder",
        "voice quieter",
        "人声大一点",
        "make the voiceover louder",
        "配音大一点",
        "the narration is too quiet",
        "make the female voice louder",
    ],
)
def test_voice_volume_is_a_note_not_a_voiceover(text: str) -> None:
    intent = parse(text)
    assert "voice_volume_unsupported" in intent.notes
    assert intent.gender is None and not intent.edits.music_change
    _no_speech(text)


def test_voice_volume_with_music() -> None:
    intent = parse("voice louder and the music quieter")
    assert "voice_volume_unsupported" in intent.notes
    assert intent.edits.music_change == pytest.approx(1 / 1.5)
    assert parse("音乐声音大一点").notes == []


def test_speed_numbers_are_bounded() -> None:
    intent = parse("speed 3")
    assert intent.speed is None and "speed_out_of_range" in intent.notes
    assert parse("frame rate 30").speed is None
    _no_speech("speed 1.1")
    _no_speech("语速 0.9")
    assert parse("slow the voice down").speed_change == pytest.approx(1 / 1.15)


@pytest.mark.parametrize("text", ["export in 4k", "4k", "2160p", "要4K", "make it 3840x2160"])
def test_unsupported_resolution_is_a_note(text: str) -> None:
    intent = parse(text)
    assert "resolution_unsupported" in intent.notes and intent.edits.resolution is None
    _no_speech(text)


def test_supported_resolution_has_no_note() -> None:
    intent = parse("export in 1080p")
    assert intent.edits.resolution == 1080 and intent.notes == []


@pytest.mark.parametrize(
    "text", ["要srt字幕", "给我srt", "srt and vtt please", "caption files", "生成srt字幕"]
)
def test_caption_files(text: str) -> None:
    intent = parse(text)
    assert intent.edits.sidecars and intent.captions is None
    _no_speech(text)


def test_a_voiceover_request_still_counts() -> None:
    intent = parse("generate a voiceover and turn the music down")
    assert intent.voiceover and intent.edits.music_change == pytest.approx(1 / 1.5)
    intent = parse("voiceover please, subtitles off, speed 1.1")
    assert intent.voiceover and intent.captions is False and intent.speed == 1.1
