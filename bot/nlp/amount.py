"""Money amounts in yuan: 50万, 五十万, 1.2亿, 30w, 3k, 人民币叁拾万元, 120万元, 5000元.

Quantities (20台, 2万平), percentages and discounts (9折, 5%), sales volumes (月销20万) are not
amounts; phone numbers and dates are masked out before this runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.nlp.lexicon import alternation, load_json
from bot.nlp.numerals import CN_NUMERAL_CHARS, to_number

_CN = f"[{CN_NUMERAL_CHARS}]"


_PAST_FIGURE = re.compile(r"(?:去年|往年|前年|上一年|以前|原来)[^,，。;；]{0,4}$")


@dataclass(frozen=True, slots=True)
class AmountMatch:
    start: int
    end: int
    value: float
    confidence: float


class AmountExtractor:
    def __init__(self) -> None:
        lex = load_json("amount.json")
        measure = alternation(lex["measure_words"])
        self._money_before = re.compile(f"(?:{alternation(lex['money_keywords'])})[^,，。;；]{{0,8}}$")
        self._not_money_before = re.compile(f"(?:{alternation(lex['non_money_context'])})[^,，。;；]{{0,6}}$")
        # 20台 / 20 台 are quantities; 50万 对方… / 50万周四… are money followed by another word
        self._measure_after = re.compile(
            rf"^(?:{measure})(?!方|接|比|[一二三四五六日天末内]|[底初中前后]|[后内]天|码|吧|吗|呀|啊|不对)")
        self._measure_after_spaced = re.compile(rf"^\s+(?:{measure})(?![\u4e00-\u9fff])")
        vague = "多|几|余|来"
        self._pattern = re.compile(
            rf"(?P<cur>¥|￥|RMB|rmb|人民币)?\s*"
            rf"(?:(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<vague>{vague})?\s*"
            rf"(?P<unit>个亿|亿元|亿|千万|百万|万元|万块|万|千元|千块|千|[wWkK](?![A-Za-z])|元|块钱)?"
            rf"(?:(?<=[万千亿])(?P<tail>\d)(?![\d.,]))?"  # 12万8 = 128,000 (spoken style)
            rf"|(?P<cnv>{_CN}+?)(?P<cnvague>多|余|来)(?P<cnbig>万|亿)"
            rf"|(?P<cn>{_CN}+)(?P<cnunit>元|块钱)?)"
        )

    def find(self, text: str) -> list[AmountMatch]:
        out: list[AmountMatch] = []
        for m in self._pattern.finditer(text):
            value, conf = self._value(m)
            if value is None or value < 100:
                continue
            before = text[max(0, m.start() - 12) : m.start()]
            after = text[m.end() : m.end() + 4]
            if self._measure_after.search(after) or re.match(r"^\s*[%％折个点倍]", after):
                continue
            if not (m.group("unit") or m.group("cn")) and self._measure_after_spaced.search(after):
                continue
            if m.start() > 0 and text[m.start() - 1] in "#-/.:：几多余来" and not m.group("cur"):
                continue  # part of a masked phone, an id or a time
            keyword = bool(self._money_before.search(before)) or bool(m.group("cur"))
            past = bool(_PAST_FIGURE.search(before[-8:]))
            if not keyword and self._not_money_before.search(before):
                continue
            if not keyword and conf < 0.7:
                continue
            # 去年是八十万，今年估计一百万: last year's figure gives way to this one
            conf = min(1.0, conf + (0.1 if keyword else 0.0)) - (0.3 if past else 0.0)
            out.append(AmountMatch(m.start(), m.end(), value, conf))
        return out

    def best(self, text: str) -> AmountMatch | None:
        return self.pick(self.find(text))

    @staticmethod
    def pick(found: list[AmountMatch]) -> AmountMatch | None:
        if not found:
            return None
        # A number next to a money word (预算, 金额, 总价 …) beats a bare one; then the first.
        return min(found, key=lambda a: (-a.confidence, a.start))

    @staticmethod
    def _value(m: re.Match[str]) -> tuple[float | None, float]:
        if m.group("cnv"):
            # 一百二十来万 / 三十多万: about that much; like 20多万, a figure only next to a money word
            n = to_number(m.group("cnv") + m.group("cnbig"))
            return (n, 0.55) if n is not None and "几" not in m.group("cnv") else (None, 0.0)
        if m.group("cn"):
            cn = m.group("cn")
            if "几" in cn or not (set(cn) - set("万萬亿億百佰千仟")):
                return None, 0.0  # 十几万 / a lone 万 left over from a range
            n = to_number(cn)
            if n is None:
                return None, 0.0
            if n < 100:
                return None, 0.0  # 三元食品: no deal is worth a few yuan
            if any(ch in cn for ch in "万萬亿億"):
                return n, 0.85
            if m.group("cnunit") or m.group("cur"):
                return n, 0.8
            if cn[-1] in "千仟百佰":
                return n, 0.6  # 五千: money only right after a money word
            return None, 0.0
        num = to_number(m.group("num") or "")
        if num is None:
            return None, 0.0
        unit = (m.group("unit") or "").lower()
        mult = {
            "个亿": 1e8, "亿元": 1e8, "亿": 1e8, "千万": 1e7, "百万": 1e6, "万元": 1e4, "万块": 1e4,
            "万": 1e4, "w": 1e4, "千元": 1e3, "千块": 1e3, "千": 1e3, "k": 1e3, "元": 1.0, "块钱": 1.0,
        }.get(unit)  # fmt: skip
        if mult is None:
            # a bare number is an amount only after ¥/人民币 (and a money keyword, checked by the caller)
            return (num, 0.6) if m.group("cur") else (None, 0.0)
        conf = 0.9 if unit not in ("千", "元", "块钱") else 0.75
        if m.group("vague"):
            conf = 0.55  # 20多万: an order of magnitude, not a figure
        if m.group("tail"):
            num += int(m.group("tail")) / 10
        return round(num * mult, 2), conf
