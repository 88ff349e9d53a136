"""Groups: a job's replies fold into its one message by edits, and Telegram notifies nobody of an
edit. So an answer that comes long after the job's message was made (telegram_rules
NOTIFY_AFTER_SECONDS) goes out as a message of its own, with its buttons, mentioning the asker;
a quick answer still folds in. Real PTB Application, Bot API stand-in, backend stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters import telegram_rules
from tests.support.botapi import BotApiStandIn
from tests.support.standin import StandIn
from tests.test_telegram import ANN, GROUP, GROUP_ID, keyboard, telegram, until

ASK = "/voiceover generate a natural male voiceover"


@pytest.fixture
def botapi() -> BotApiStandIn:
    server = BotApiStandIn().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.mark.parametrize("late", [True, False])
async def test_a_late_group_answer_is_a_new_message(
    botapi: BotApiStandIn,
    standin: StandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    late: bool,
) -> None:
    answer = standin.behaviour.sse_text
    if late:
        monkeypatch.setattr(telegram_rules, "NOTIFY_AFTER_SECONDS", 0.3)
        standin.behaviour.event_delay = 0.1  # the turn takes about 0.6 s after its first line
    async with telegram(botapi, standin.base_url, tmp_path):
        botapi.push_message(GROUP, ANN, ASK)
        await until(lambda: any(keyboard(c) for c in botapi.sent("sendMessage", "editMessageText")))
    sends = botapi.sent("sendMessage", chat_id=GROUP_ID)
    edits = botapi.sent("editMessageText", chat_id=GROUP_ID)
    answered = [c for c in sends if answer in c.text]
    if late:
        [message] = answered  # heard: a message, not an edit
        assert message.text.startswith("@ann")
        assert len(sends) >= 2  # the job's progress message, then the answer
        assert sends.index(message) > 0
    else:
        assert answered == [] and len(sends) == 1  # folded into the job's one message
        assert any(answer in c.text and keyboard(c) for c in edits)
