"""Cue-word classifiers: method, conclusion, next action, stage, pain points, call effectiveness.

Every cue list lives in lexicons/*.json. The rules here only decide which cues count: plans vs
things done (a clause about the future), questions, negations (masked before the positive cue is
looked for) and priorities between classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.nlp.lexicon import load_json
from bot.nlp.normalize import Clause, clause_at

_EARLIER = re.compile(r"(昨天|前天|上周|上个?月|上次|之前|前几天|早些时候)[^,，。;；]{0,3}$")
_TIME_WORD = re.compile(r"(今天|今早|今晚|刚才|刚刚|刚|上午|下午|晚上|中午|昨天|前天|上周.|上次|之前|前几天)")
_PHONE_LABEL_AFTER = re.compile(r"^(?:号码|号)?\s*(?:是|为)?\s*[:：]?\s*[#\d+(（]")
_DONE_AFTER_CHANNEL = re.compile(
    r"(?:话|语音|里|上)?(?:说|(?:联系|沟通|聊|谈|确认|回访|跟进|对接|交流)(?:了|完|过))"
)
_PHONE_LABEL_BEFORE = re.compile(r"(?:联系|留了|留个|留下|的|他|她|手机|座机|办公)$")


@dataclass(frozen=True, slots=True)
class Cue:
    label: str
    start: int
    end: int


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for s, e in spans:
        for i in range(s, e):
            chars[i] = "□"
    return "".join(chars)


class Classifier:
    def __init__(self) -> None:
        m = load_json("method.json")
        self._method = [
            (label, re.compile("|".join(m[label])))
            for label in ("video", "email", "wechat", "phone", "visit")
        ]
        c = load_json("conclusion.json")
        self._concl = {k: re.compile("|".join(c[k])) for k in ("hold_negations", "reject", "hold", "advance")}
        # 需求已确认 is a stage (qualified), not the customer's attitude
        self._concl_mask = re.compile(c["_qualified_mask"])
        s = load_json("stage.json")
        self._stage_neg = re.compile("|".join(s["negations"]))
        self._stage = [
            (k, re.compile("|".join(s[k])))
            for k in ("won", "lost", "negotiation", "quote", "demo", "qualified")
        ]
        p = load_json("pain_points.json")
        self._pain = [
            (k, re.compile("|".join(p[k]))) for k in ("after_sales", "competitor", "delivery", "price")
        ]
        self._pain_weak = re.compile("^(?:" + "|".join(p["weak"]) + ")$")
        self._praise = re.compile(p["praise"])
        self._complaint = re.compile(p["complaint"])
        n = load_json("next_action.json")
        self._na_priority: list[str] = n["priority"]
        self._na_cues = [(c["class"], bool(c["future"]), re.compile(c["re"])) for c in n["cues"]]
        self._materials = re.compile(n["materials"])
        self._future_words = re.compile(n["future_words"])
        self._vague = re.compile(n["vague_times"])
        self._vague_end = re.compile(f"(?:{n['vague_times']})\\s*$")
        self._question = re.compile(n["question_words"])
        self._hedges = re.compile(n["hedges"])
        # "发过来 / 发我" point at the speaker: in a call that is the customer asking us to send.
        self._to_speaker = re.compile(n["_transcript_only"])
        e = load_json("effective.json")
        self.min_duration_s = int(e["min_duration_s"])
        self._effective_words = re.compile("|".join(re.escape(w) for w in e["keywords"]))

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _clause_text(parts: list[Clause], index: int, text: str) -> tuple[int, str]:
        c = clause_at(parts, index)
        return (c.start, c.text) if c else (0, text)

    def _is_future(
        self, text: str, parts: list[Clause], start: int, end: int, future_spans: list[tuple[int, int]]
    ) -> bool:
        c = clause_at(parts, start)
        cs, ce = (c.start, c.end) if c else (0, len(text))
        # Dictated text split at pauses: "我 明天 把案例 发过去" — look back over the pauses to the
        # last real punctuation, a few characters at most.
        if cs > 0 and text[cs - 1].isspace():
            back = text[max(0, cs - 12) : cs]
            stop = max(back.rfind(ch) for ch in ",，。;；!！?？")
            cs = max(0, cs - 12) + stop + 1 if stop >= 0 else max(0, cs - 12)
        if any(cs <= s < ce for s, _ in future_spans):
            return True
        return bool(
            self._future_words.search(text[cs:start])
            or "再" in text[start:end]
            or re.match(r"^[^,，。;；]{0,8}吧", text[end:ce])
        )

    @staticmethod
    def _done_right_after(text: str, end: int) -> bool:
        return bool(re.match(r"^(?:了|过|完)", text[end : end + 1]))

    # -- method --------------------------------------------------------------------------------
    def method(
        self, text: str, parts: list[Clause], future_spans: list[tuple[int, int]]
    ) -> tuple[str | None, float]:
        cues: list[Cue] = []
        for label, pattern in self._method:
            for m in pattern.finditer(text):
                if any(m.start() < c.end and c.start < m.end() for c in cues):
                    continue
                cues.append(Cue(label, m.start(), m.end()))
        cues.sort(key=lambda c: c.start)
        kept: list[tuple[Cue, bool]] = []
        for cue in cues:
            word = text[cue.start : cue.end]
            if (
                cue.label == "phone"
                and word == "电话"
                and (
                    _PHONE_LABEL_AFTER.match(text[cue.end :]) or _PHONE_LABEL_BEFORE.search(text[: cue.start])
                )
            ):
                continue  # 电话 139…: a label in front of a number, not a call
            done = (
                "了" in word
                or self._done_right_after(text, cue.end)
                or text[cue.end : cue.end + 2] in ("里说", "上说")
                # 打了个电话, 打完电话
                or re.search(r"[了完]", text[max(0, cue.start - 2) : cue.start]) is not None
                # 电话联系了, 微信语音聊了, 回电话说: the contact itself, told after the channel
                or _DONE_AFTER_CHANNEL.match(text, cue.end) is not None
            )
            if not done and self._is_future(text, parts, cue.start, cue.end, future_spans):
                continue
            cs, _ = self._clause_text(parts, cue.start, text)
            before = text[cs : cue.start]
            # 上周三拜访的…今天微信回复了: the contact being reported is the latest one, so a cue
            # whose nearest time word is an earlier day counts only when nothing else does.
            times = _TIME_WORD.findall(before)
            earlier = bool(_EARLIER.search(before)) or (bool(times) and bool(_EARLIER.match(times[-1])))
            kept.append((cue, earlier))
        if not kept:
            return None, 0.0
        current = [c for c, earlier in kept if not earlier]
        chosen = current[0] if current else kept[0][0]
        labels = {c.label for c, _ in kept}
        conf = 0.9 if len(labels) == 1 else 0.75
        return chosen.label, conf

    # -- conclusion ----------------------------------------------------------------------------
    def conclusion(self, text: str, stage: str | None) -> tuple[str | None, float]:
        if stage == "won":
            return "advance", 0.9
        if stage == "lost":
            return "reject", 0.9
        text = _mask(text, [(m.start(), m.end()) for m in self._concl_mask.finditer(text)])
        spans = [(m.start(), m.end()) for m in self._concl["hold_negations"].finditer(text)]
        hold_neg = bool(spans)
        masked = _mask(text, spans)
        rejects = list(self._concl["reject"].finditer(masked))
        masked2 = _mask(masked, [(m.start(), m.end()) for m in rejects])
        holds = list(self._concl["hold"].finditer(masked2))
        masked3 = _mask(masked2, [(m.start(), m.end()) for m in holds])
        advances = list(self._concl["advance"].finditer(masked3))
        if rejects:
            return "reject", 0.85 if not advances else 0.65
        if holds or hold_neg:
            return "hold", 0.8 if not advances else 0.6
        if advances:
            return "advance", 0.8 if len(advances) > 1 else 0.7
        return None, 0.0

    # -- stage ---------------------------------------------------------------------------------
    def stage(self, text: str) -> tuple[str | None, float]:
        masked = _mask(text, [(m.start(), m.end()) for m in self._stage_neg.finditer(text)])
        for label, pattern in self._stage:
            m = pattern.search(masked)
            if m is None:
                continue
            if label == "won" and re.search(r"别家|别的|另外一家", masked[m.end() : m.end() + 4]):
                continue  # 签了别家 is a loss
            return label, 0.8
        return None, 0.0

    # -- pain points ---------------------------------------------------------------------------
    def pain_points(self, text: str, parts: list[Clause]) -> dict[str, float]:
        out: dict[str, float] = {}
        for label, pattern in self._pain:
            for m in pattern.finditer(text):
                word = m.group(0)
                _, clause = self._clause_text(parts, m.start(), text)
                if self._pain_weak.match(word) and not self._complaint.search(clause):
                    continue  # 去做交付启动 / 对维保服务很感兴趣: mentioned, not a concern
                if (
                    label == "price"
                    and re.search(r"(?:能|可以)接受|没问题", clause)
                    and not re.search(r"贵|高|降|压|折扣", clause)
                ):
                    continue
                out[label] = max(out.get(label, 0.0), 0.6 if self._pain_weak.match(word) else 0.8)
        return out

    # -- next action ---------------------------------------------------------------------------
    def next_action(
        self, text: str, parts: list[Clause], future_spans: list[tuple[int, int]], *, transcript: bool = False
    ) -> tuple[str | None, float]:
        hits: dict[str, int] = {}
        for label, needs_future, pattern in self._na_cues:
            for m in pattern.finditer(text):
                c = clause_at(parts, m.start())
                cs, ce = (c.start, c.end) if c else (0, len(text))
                clause = text[cs:ce]
                if self._question.search(clause) or self._vague.search(clause):
                    continue
                if cs > 0 and text[cs - 1].isspace() and self._vague_end.search(text[max(0, cs - 6) : cs]):
                    continue  # "改天 再去": the vague time was dictated just before the pause
                before = text[cs : m.start()]
                if label == "demo" and (
                    re.search(r"(?:看|做|听|演示)完", text[max(0, m.start() - 10) : m.start()])
                    or re.match(r"\s*(?:之)?后", text[m.end() :])
                ):
                    continue  # 看完我们的演示后说…: the demo is behind us
                after = text[m.end() : ce]
                done = re.search(r"已|已经|刚刚|刚才|上周|昨天|前天", before)
                if done and not self._future_words.search(before[done.end() :]):
                    continue  # 已给王总发合同: done, not planned
                if label in ("demo", "quote") and re.search(
                    r"(?:做|看|发|给|出|报)了[^,，。;；]{0,6}$", before
                ):
                    continue  # 做了产品demo, 发了报价
                if needs_future and label == "contract" and self._hedges.search(before):
                    continue  # 估计下周能签: a guess, not a step
                if re.match(r"^[^,，。;；]{0,5}?(?:了|过)(?![来去])", after) and not re.match(
                    r"^(?:过去|过来)", after
                ):
                    continue
                if re.match(r"^[^,，。;；]{0,4}?(?:已|已经)", after):
                    continue
                if needs_future and not self._is_future(text, parts, m.start(), m.end(), future_spans):
                    continue
                if not transcript and self._to_speaker.search(m.group(0)):
                    continue  # in a rep's message 发过来 means the customer sends us something
                final = label
                if label == "send_material":
                    sent = self._sent_object(text, cs, ce, transcript)
                    if sent is None:
                        continue  # 发他 with nothing to send is not a step
                    final = sent
                if label == "visit" and re.search(r"签", clause):
                    final = "contract"
                if (
                    label == "visit"
                    and re.match(r"^(?:来|过来)", m.group(0))
                    and re.search(r"(?:来|过来)(?:电|消息|问)", text[m.start() : m.end() + 2])
                ):
                    continue
                if (
                    label == "call"
                    and re.search(r"打电话来|打来|来电", text[m.start() : m.end() + 2])
                    and not (transcript and re.search(r"你(?:们)?[^,，。;；]{0,6}$", text[cs : m.start()]))
                ):
                    continue  # the customer called us; in a call, "你明天再打来" asks us to call back
                if re.search(r"已|已经", m.group(0)):
                    continue
                if (
                    label == "call"
                    and not transcript
                    and re.search(r"给我(?:们)?(?:回|打)", text[max(0, m.start() - 4) : m.end()])
                ):
                    continue  # in a rep's message 我 is the rep: the customer will call back, no step for us
                if label == "call" and text[m.end() : m.end() + 1] == "说":
                    continue  # 回电话说…: the customer called back, that is the contact itself
                hits.setdefault(final, m.start())
        if not hits:
            return None, 0.0
        best = min(hits, key=lambda k: self._na_priority.index(k))
        return best, 0.8 if len(hits) == 1 else 0.65

    def _sent_object(self, text: str, cs: int, ce: int, transcript: bool) -> str | None:
        """What "发过去 / 发您" sends: the object in the clause, else the last one mentioned before.

        A message names it a clause or two earlier ("要案例和资质文件，我整理好发他"); in a call it
        may have been named at the start ("合同您那边看得怎么样了 … 你们改好发我").
        """
        clause = text[cs:ce]
        if "合同" in clause:
            return "contract"
        if re.search(r"报价|价格", clause):
            return "quote"
        if self._materials.search(clause):
            return "send_material"
        window = text[:ce] if transcript else text[max(0, cs - 20) : ce]
        last: tuple[int, str] | None = None
        for kind, pattern in (
            ("contract", r"合同"),
            ("quote", r"报价|价格"),
            ("send_material", self._materials.pattern),
        ):
            for m in re.finditer(pattern, window):
                if last is None or m.start() > last[0]:
                    last = (m.start(), kind)
        if last is None:
            return None
        return last[1] if transcript else "send_material" if last[1] == "send_material" else None

    # -- calls ---------------------------------------------------------------------------------
    def effective(self, duration_s: int, transcript: str) -> bool:
        return duration_s >= self.min_duration_s and bool(self._effective_words.search(transcript))
