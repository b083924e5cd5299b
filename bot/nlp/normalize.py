"""Text clean-up before extraction: width folding, voice-input filler words, clauses, call turns."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.nlp.lexicon import load_lines

# Messages longer than this are not a follow-up someone typed or dictated; the parser answers
# them with an empty result instead of spending time on them.
MAX_MESSAGE_CHARS = 3000
# Call transcripts are longer (a 30-minute call is ~8,000 characters); only the start is read.
MAX_TRANSCRIPT_CHARS = 12000

_CONTROL = re.compile(
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202f\u2060\ufeff\ufffd]"
)
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_READABLE = re.compile(r"[\u4e00-\u9fff0-9A-Za-z，。、；：！？,.;:!?()（）\s+\-/]")


# Pinyin-input slips of the words the cues look for (same length, so positions stay put)
_TYPOS = re.compile(r"合铜|电活|拜仿|演式|从新(?=报|发|做|出|给)")
_TYPO_FIX = {"合铜": "合同", "电活": "电话", "拜仿": "拜访", "演式": "演示", "从新": "重新"}


def fold(text: str) -> str:
    """Full-width to half-width (digits, letters, punctuation), controls out, spaces collapsed,
    common input-method slips (合铜 → 合同) corrected."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = text.replace("\r", "\n")
    text = _TYPOS.sub(lambda m: _TYPO_FIX[m.group(0)], text)
    return _SPACES.sub(" ", text).strip()


def looks_binary(text: str) -> bool:
    """True for text that is mostly not language (binary dumps, mojibake, emoji-only)."""
    if not text:
        return True
    readable = len(_READABLE.findall(text))
    return readable / len(text) < 0.6 or not (_CJK.search(text) or re.search(r"[A-Za-z]{2}|\d{3}", text))


class FillerRemover:
    """Drops the filler words of voice input (嗯, 呃, 那个, 就是说 …) that only add noise."""

    def __init__(self) -> None:
        words = sorted(load_lines("fillers.txt"), key=len, reverse=True)
        # A filler counts only as a whole interjection: at the start or after a pause, and followed
        # by a pause, so "那个单子" or "就是我们要的" are left alone.
        alternatives = "|".join(re.escape(w) for w in words)
        self._pattern = re.compile(
            rf"(?:(?<=^)|(?<=[\s,，。!！?？:：]))(?:{alternatives})+(?=[\s,，。!！?？]|$)"
        )
        self._standalone = re.compile(r"[嗯呃唔额]+(?=[^\u4e00-\u9fff]|$)|(?<![\u4e00-\u9fff])[嗯呃唔]+")

    def __call__(self, text: str) -> str:
        text = self._pattern.sub(" ", text)
        text = self._standalone.sub(" ", text)
        text = re.sub(r"\s*([,，])\s*(?:[,，]\s*)+", r"\1", text)
        return _SPACES.sub(" ", text).strip(" ,，")


# Voice input that puts a space after every word: "我们 中标 了", "去 了 师大附中", "本周 四".
_PARTICLES = frozenset("了过吗吧呢啊着的地得")
_SPLIT_WEEKDAY = re.compile(r"(周|星期|礼拜) (?=[一二三四五六日天])")
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]+")


def join_split_words(text: str) -> str:
    """Closes the space around a one-character token in word-spaced dictation.

    A particle (了, 吗 …) belongs to the word before it; another one-character token (不, 他, 去 …)
    to the word after it. A space between two longer words is kept: in dictation it is often a pause.
    """
    if text.count(" ") < 3:
        return text
    text = _SPLIT_WEEKDAY.sub(r"\1", text)
    tokens = text.split(" ")
    out = [tokens[0]]
    for tok in tokens[1:]:
        prev = out[-1]
        prev_cjk = bool(prev) and _CJK_WORD.fullmatch(prev[-1]) is not None
        tok_cjk = bool(tok) and _CJK_WORD.fullmatch(tok[0]) is not None
        if (
            prev_cjk
            and tok_cjk
            and (
                (len(tok) == 1 and tok in _PARTICLES)
                or (len(prev) == 1 and prev not in _PARTICLES and _CJK_WORD.fullmatch(prev) is not None)
            )
        ):
            out[-1] = prev + tok
        else:
            out.append(tok)
    return " ".join(out)


# Clause boundaries: punctuation, and in ASR transcripts the pauses (spaces between CJK characters).
_CLAUSE_SPLIT = re.compile(r"[,，。;；!！?？\n:：]|\s+")


@dataclass(frozen=True, slots=True)
class Clause:
    start: int
    end: int
    text: str


# A message typed or dictated without any punctuation ("前天去的玲珑轮胎今天温经理回电话说方案通过了
# 要一份正式报价明天发") still changes subject at a time word, a connective or after 说.
_RUN_ON_BREAK = re.compile(
    r"(?<=[\u4e00-\u9fff])(?=今天|昨天|前天|刚才|上周|然后|但是|不过|所以|而且)"
    r"|(?<=[他她对方总工理任长师]说)(?=[\u4e00-\u9fff])"
)


def clauses(text: str, *, split_on_spaces: bool = False, split_run_on: bool = False) -> list[Clause]:
    """Splits into clauses with their offsets; spaces split only when asked (ASR has no punctuation).

    `split_run_on` also cuts an unpunctuated message at the words where its subject changes.
    """
    pattern = _CLAUSE_SPLIT if split_on_spaces else re.compile(r"[,，。;；!！?？\n]")
    cuts = [(m.start(), m.end()) for m in pattern.finditer(text)]
    if split_run_on:
        cuts = sorted(cuts + [(m.start(), m.start()) for m in _RUN_ON_BREAK.finditer(text)])
    out: list[Clause] = []
    pos = 0
    for start, end in cuts:
        if start < pos:
            continue
        if start > pos:
            out.append(Clause(pos, start, text[pos:start]))
        pos = end
    if pos < len(text):
        out.append(Clause(pos, len(text), text[pos:]))
    return out


def clause_at(parts: list[Clause], index: int) -> Clause | None:
    for c in parts:
        if c.start <= index < c.end:
            return c
    return None


# Turn markers of call transcripts: "销售：", "客户：", "坐席：", "A：", and bare "A " / "B ".
_TURN = re.compile(
    r"(?:(?<=^)|(?<=[\s。，,]))(销售|坐席|客服|业务员|业务|顾问|客户|对方|甲|乙|A|B)\s*(?:[:：]|\s(?=[\u4e00-\u9fff]))"
)
_REP_SPEAKERS = frozenset({"销售", "坐席", "客服", "业务员", "业务", "顾问", "甲", "A"})


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: str  # "rep", "customer" or "unknown"
    start: int
    end: int
    text: str


def turns(transcript: str) -> list[Turn]:
    """Splits a transcript into speaker turns; a transcript without markers is one unknown turn."""
    marks = list(_TURN.finditer(transcript))
    if not marks:
        return [Turn("unknown", 0, len(transcript), transcript)] if transcript else []
    out: list[Turn] = []
    if marks[0].start() > 0 and transcript[: marks[0].start()].strip():
        out.append(Turn("unknown", 0, marks[0].start(), transcript[: marks[0].start()]))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(transcript)
        speaker = "rep" if m.group(1) in _REP_SPEAKERS else "customer"
        out.append(Turn(speaker, m.end(), end, transcript[m.end() : end]))
    return out
