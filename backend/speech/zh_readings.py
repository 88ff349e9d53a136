"""Characters the Mandarin G2P reads wrong in context, handed to it as characters it reads right.

misaki reads a word jieba leaves on its own by the character's first dictionary reading (pypinyin),
so the adverbial 地 of 慢慢地走 was said "dì", the complement 得 of 跑得很快 "dé", and 长 "long"
after a degree word (很长, 太长了, 长时间) "zhǎng" (grow). Where jieba's part of speech tags show
the particle (an adverb, adjective or verb, 地, a verb; a word of state ending in 地, 静静地; a verb
or adjective, 得, an adverb or adjective), the G2P is given 的, always a toneless "de"; 长 "long"
is given as 常, always "cháng". Captions keep the written character (they are made from the
script, not from this text). 地 and 得 as words (这块地很大, 他得了第一名) and 长 "grow" (长大,
长高, 成长) stay as they are.

还 is read "hái" (still) by pypinyin unless jieba keeps it in a word it lists (归还, 还给, 还清):
还钱, 还款, 他还书了, 把书还了, 我明天还你 were said "hái". Where it is the verb "give back"
(before what is given back, 了, 完 or the end of the clause; before a person and what they get
back; after 把 before 回去 or 给) it is given as 环, always "huán". 还是, 还有, 还没, 还了解,
还清楚 stay "hái".
"""

from __future__ import annotations

import re
import threading

from backend.speech.zh_numbers import is_chinese

_MODIFIERS = {"d", "a", "ad", "an", "b", "z", "i", "l"}  # adverbs, adjectives, idioms
_COMPLEMENTS = {"d", "a", "ad", "an", "z", "i", "l"}
_LOCK = threading.Lock()  # jieba's tokenizer loads its tables on first use
# 长 "long": after a degree word, unless a verb of growing follows (长大, 长高, 长得, 长出...);
# and in 长时间. pypinyin's first reading of 长 alone is zhǎng.
_LONG = re.compile(
    r"(很|太|更|最|较|多|好|超|挺|够|非常|相当|特别|这么|那么|多么)长(?![大高胖得出满肉成进])"
    r"|()长(?=时间)"
)


def normalize(text: str) -> str:
    """``text`` with its particles 地 and 得 written 的, 长 "long" 常 and 还 "give back" 环, in
    Chinese text only."""
    if not is_chinese(text):
        return text
    text = _LONG.sub(lambda m: (m.group(1) or "") + "常", text)
    if "地" not in text and "得" not in text and "还" not in text:
        return text
    import jieba.posseg  # misaki[zh] brings jieba; loaded only for Chinese text

    with _LOCK:
        tokens = [(w.word, w.flag) for w in jieba.posseg.cut(text)]
    if "还" in text:
        tokens = _give_back(tokens)
    spoken = [i for i, (word, _) in enumerate(tokens) if word.strip()]
    out = [word for word, _ in tokens]
    for k, i in enumerate(spoken):
        word, flag = tokens[i]
        before = tokens[spoken[k - 1]][1] if k else ""
        after, after_flag = tokens[spoken[k + 1]] if k + 1 < len(spoken) else ("", "")
        if after[:1] in ("确", "士"):  # 的确, 的士 are read "dí"
            continue
        if word == "地" and (before in _MODIFIERS or before == "v") and after_flag.startswith("v"):
            out[i] = "的"
        elif flag == "z" and len(word) > 1 and word.endswith("地"):  # 静静地, 悄悄地
            out[i] = word[:-1] + "的"
        elif (
            word == "得" and (before == "v" or before in {"a", "ad"}) and after_flag in _COMPLEMENTS
        ):
            out[i] = "的"
    return "".join(out)


# What is given back, after 还 "huán" (还钱, 还房贷); words with 还 "huán" that pypinyin reads
# "hái" or that misaki's own segmentation splits (他还书了: 还 / 书).
_RETURNED = {"钱", "书", "债", "账", "款", "贷", "车", "嘴", "房贷", "车贷", "贷款", "欠款", "借款"}
_HUAN_WORDS = {"还钱", "还书", "还款", "还车", "还嘴", "还债", "还贷", "还账", "有借有还"}
_PEOPLE = {"我", "你", "他", "她", "您", "我们", "你们", "他们", "她们", "人家"}


def _give_back(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``tokens`` with 还 written 环 where it is the verb "give back" (see the module's text)."""
    out = list(tokens)
    spoken = [i for i, (word, _) in enumerate(tokens) if word.strip()]
    ba, first = False, True  # a 把 earlier in this clause; the clause's first word
    for k, i in enumerate(spoken):
        word, flag = tokens[i]
        if flag == "x":
            ba, first = False, True
            continue
        ba, alone, first = ba or word == "把", first, False
        if word in _HUAN_WORDS:
            out[i] = (word.replace("还", "环"), flag)
        if word != "还":
            continue
        after = [tokens[j] for j in spoken[k + 1 : k + 3]] + [("", "x"), ("", "x")]
        (nxt, nxt_flag), (then, then_flag) = after[0], after[1]
        if (
            nxt in _RETURNED
            or nxt in ("了", "完", "掉")
            or (nxt_flag == "x" and not alone)  # a caption's lone 还 stays as it is
            or (nxt in _PEOPLE and (then_flag in ("x", "m") or then in _RETURNED))
            or (ba and nxt in ("回去", "回来", "回", "给"))
        ):
            out[i] = ("环", flag)
    return out
