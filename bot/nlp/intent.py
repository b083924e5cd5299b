"""What a message is for: a follow-up to record, a look-up, a request for help, a greeting, small talk."""

from __future__ import annotations

import re

from bot.nlp.lexicon import load_json
from bot.nlp.types import IntentT

_FOLLOWUP_CUES = re.compile(
    r"拜访|上门|见面|面谈|去了|电话|微信|企微|钉钉|邮件|视频|腾讯会议|会议|演示|报价|合同|签约|预算|意向|跟进了|沟通|聊了|来电|回电|"
    r"暂缓|拒绝|不需要|下周|明天|后天|约好|考虑|采购|试用|方案|\d{3}[\s-]?\d{4}[\s-]?\d{4}"
)


class IntentClassifier:
    def __init__(self) -> None:
        lex = load_json("intent.json")
        self._rules = [
            (name, re.compile("|".join(lex[name]), re.IGNORECASE))
            for name in ("help", "lookup", "greeting", "smalltalk")
        ]

    def classify(self, text: str) -> IntentT:
        t = text.strip()
        if not t:
            return "smalltalk"
        is_question = bool(re.search(r"[?？吗呢]$|多少|是什么|哪|怎么|如何|谁", t))
        for name, pattern in self._rules:
            if not pattern.search(t):
                continue
            if name == "lookup" and not is_question and not re.match(r"^(?:查|搜|找|看)", t):
                continue  # "查了一下他们的需求" in a report is not a look-up
            if name in ("help", "lookup") and len(t) > 40 and _FOLLOWUP_CUES.search(t):
                continue
            return name  # type: ignore[return-value]
        if _FOLLOWUP_CUES.search(t) or len(t) >= 12:
            return "followup"
        return "smalltalk"
