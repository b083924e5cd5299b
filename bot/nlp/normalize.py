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


def fold(text: str) -> str:
    """Full-width to half-width (digits, letters, punctuation), controls out, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = text.replace("\r", "\n")
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
_ONE_CHAR_TOKEN_GAP = re.compile(
    r"(?<=(?<![\u4e00-\u9fff])[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff](?![\u4e00-\u9fff]))"
)


def join_split_words(text: str) -> str:
    """Closes a space next to a one-character token (了, 去, 他, 四 …) in word-spaced dictation.

    Such a token is a particle, a pronoun or a split word, so it belongs to its neighbour; a
    space between two longer words is kept, because in dictated text it is often a pause.
    """
    if text.count(" ") < 3:
        return text
    return _ONE_CHAR_TOKEN_GAP.sub("", text)


# Clause boundaries: punctuation, and in ASR transcripts the pauses (spaces between CJK characters).
_CLAUSE_SPLIT = re.compile(r"[,，。;；!！?？\n:：]|\s+")


@dataclass(frozen=True, slots=True)
class Clause:
    start: int
    end: int
    text: str


def clauses(text: str, *, split_on_spaces: bool = False) -> list[Clause]:
    """Splits into clauses with their offsets; spaces split only when asked (ASR has no punctuation)."""
    pattern = _CLAUSE_SPLIT if split_on_spaces else re.compile(r"[,，。;；!！?？\n]")
    out: list[Clause] = []
    pos = 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            out.append(Clause(pos, m.start(), text[pos : m.start()]))
        pos = m.end()
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
