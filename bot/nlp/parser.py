"""The parser facade: one message (or call log) and its `now` in, an `Extraction` out.

Order of work: fold and clean the text, find phone numbers and mask them, find amounts and mask
them (so 12.5万 is not December 5th and 138 1234 5678 is not money), then dates, cue-word
classes and names on what is left. Everything heavy (jieba, lexicons, compiled patterns) is
loaded once in the constructor.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.nlp.amount import AmountExtractor
from bot.nlp.classify import Classifier
from bot.nlp.dates import DateExtractor, DateMatch
from bot.nlp.entities import EntityExtractor, NameMatch
from bot.nlp.intent import IntentClassifier
from bot.nlp.normalize import (
    MAX_MESSAGE_CHARS,
    MAX_TRANSCRIPT_CHARS,
    FillerRemover,
    clause_at,
    clauses,
    fold,
    join_split_words,
    looks_binary,
    turns,
)
from bot.nlp.phone import find_phones, normalize_phone
from bot.nlp.types import CallLog, Extraction, IntentT
from core.workcal import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")

# Long digit runs (order numbers, ids), percentages and discounts are masked before dates are read.
_NOT_DATES = re.compile(
    r"[A-Za-z]*\d{5,}[\w-]*|[A-Za-z]+-[\w-]+|\d+(?:\.\d+)?\s*%|百分之[一二三四五六七八九十两百零点\d]+|[\d一二三四五六七八九十两]+(?:\.\d+)?\s*(?:折|个点|成)"
)
# A date in a clause about something other than a meeting or a call (money arriving, goods
# shipping, a holiday) is not a follow-up date.
_EVENT_ONLY = re.compile(r"到账|放假|开学|出差|发货|到货|上线|生日|开业|交货|回款|开票|休假")
_FOLLOWUP_VERB = re.compile(
    r"打|电话|联系|确认|去|来|见|拜访|发|报价|演示|签|约|回复|答复|反馈|沟通|聊|谈|跟进"
)

_HEDGED = re.compile(r"(?:预计|估计|大概|可能|也许|争取)\s*$")

# "美团优选 的 李楠" (dictated or typed with spaces): the spaces around 的 carry no meaning.
_SPACED_DE = re.compile(
    r"(?<=[\u4e00-\u9fffA-Za-z])\s*的\s+(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fffA-Za-z])\s+的(?=[\u4e00-\u9fff])"
)

_CJK_GAP = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")


_NOT_OURS = re.compile(r"^\s*(?:还在|正在|都在|之前(?:定|决定|确定|答复|给答复)|前(?:定|决定|确定)下来)")


def _close_cjk_gaps(text: str) -> str:
    return _CJK_GAP.sub("", text)


_jieba_lock = threading.Lock()
_jieba_ready = False


def _load_jieba() -> None:
    """jieba builds its prefix dictionary once per process (~0.5 s from its cache)."""
    global _jieba_ready
    with _jieba_lock:
        if _jieba_ready:
            return
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _jieba_ready = True


def _mask(text: str, spans: Iterable[tuple[int, int]], ch: str = "#") -> str:
    chars = list(text)
    for s, e in spans:
        for i in range(s, e):
            chars[i] = ch
    return "".join(chars)


class Parser:
    def __init__(self, calendar: WorkCalendar | None = None) -> None:
        _load_jieba()
        self.calendar = calendar
        self._fillers = FillerRemover()
        self._amounts = AmountExtractor()
        self._dates = DateExtractor(calendar)
        self._classifier = Classifier()
        self._entities = EntityExtractor()
        self._intent = IntentClassifier()

    # -- names from the database ---------------------------------------------------------------
    def add_names(self, companies: Iterable[str] = (), contacts: Iterable[str] = ()) -> None:
        """Known customers and contacts: matched as whole names, and taught to jieba's tokenizer."""
        import jieba

        companies, contacts = list(companies), list(contacts)
        for word in [*companies, *contacts]:
            if word and len(word.strip()) >= 2:
                jieba.add_word(word.strip(), freq=2000)
        self._entities.add_names(companies, contacts)

    def tokenize(self, text: str) -> list[str]:
        import jieba

        return jieba.lcut(fold(text))

    # -- chat messages -------------------------------------------------------------------------
    def parse_text(self, text: str, now: datetime) -> Extraction:
        if not text or len(text) > MAX_MESSAGE_CHARS:
            return Extraction()
        clean = join_split_words(_SPACED_DE.sub("的", self._fillers(fold(text))))
        if looks_binary(clean):
            return Extraction()
        return self._extract(clean, self._today(now), transcript=False)

    # -- call logs -----------------------------------------------------------------------------
    def parse_call(self, call: CallLog) -> Extraction:
        transcript = self._fillers(fold(call.transcript or "")[:MAX_TRANSCRIPT_CHARS])
        today = self._today(call.started_at)
        if transcript and not looks_binary(transcript):
            result = self._extract(transcript, today, transcript=True)
        else:
            result = Extraction()
        result.phone = normalize_phone(call.customer_phone)
        result.method = "phone"
        result.effective = self._classifier.effective(call.duration_s, transcript)
        result.confidence["method"] = 1.0
        result.confidence["effective"] = 1.0
        if result.phone:
            result.confidence["phone"] = 1.0
        else:
            result.confidence.pop("phone", None)
        return result

    def intent(self, text: str) -> IntentT:
        clean = self._fillers(fold(text or ""))
        return self._intent.classify(clean)

    # -- the work ------------------------------------------------------------------------------
    @staticmethod
    def _today(now: datetime) -> date:
        if now.tzinfo is None:
            now = now.replace(tzinfo=TZ)
        return now.astimezone(TZ).date()

    def _extract(self, text: str, today: date, *, transcript: bool) -> Extraction:
        out = Extraction()
        conf = out.confidence

        phones = find_phones(text)
        masked = _mask(text, [(p.start, p.end) for p in phones])
        customer_phones = [p for p in phones if p.confidence >= 0.5]
        if customer_phones and not transcript:
            out.phone = customer_phones[0].number
            conf["phone"] = customer_phones[0].confidence * (
                0.85 if len({p.number for p in customer_phones}) > 1 else 1
            )

        found_amounts = self._amounts.find(masked)
        amount = self._amounts.pick(found_amounts)
        if amount is not None:
            out.amount = amount.value
            conf["amount"] = amount.confidence
        amount_spans = [(a.start, a.end) for a in found_amounts]
        masked = _mask(masked, amount_spans)
        # Dates are read on a copy where ids, percentages and discounts are masked too; the cue
        # classifiers still see 9折 (a price concern). Both copies keep the original offsets.
        date_text = _NOT_DATES.sub(lambda m: "#" * len(m.group(0)), masked)

        # Dictated text often has no punctuation, only pauses: then spaces separate clauses.
        unpunctuated = not re.search(r"[,，。;；!！?？]", masked)
        parts = clauses(
            masked, split_on_spaces=transcript or unpunctuated, split_run_on=unpunctuated and not transcript
        )
        found_dates = self._dates.find(date_text, today)
        future = [d for d in found_dates if d.value >= today]
        nxt = self._pick_date(date_text, parts, future, today)
        if nxt is not None:
            out.next_followup = nxt.value
            conf["next_followup"] = nxt.confidence
        future_spans = [(d.start, d.end) for d in future if d.value > today or d.kind == "today"]

        # In a call, the customer's own words carry the attitude and the concerns.
        if transcript:
            customer_text = "。".join(t.text for t in turns(masked) if t.speaker != "rep") or masked
        else:
            customer_text = masked

        if not transcript:
            method, c = self._classifier.method(masked, parts, future_spans)
            if method:
                out.method = method  # type: ignore[assignment]
                conf["method"] = c
        # Milestones and attitudes are short phrases that word-spaced dictation splits (中标 了,
        # 不 考虑 了); in a call a space is a pause between sentences, so only messages are closed up.
        squeeze = (lambda s: s) if transcript else _close_cjk_gaps
        stage, c = self._classifier.stage(squeeze(masked))
        if stage:
            out.stage = stage  # type: ignore[assignment]
            conf["stage"] = c
        concl, c = self._classifier.conclusion(squeeze(customer_text), stage)
        action, ac = self._classifier.next_action(masked, parts, future_spans, transcript=transcript)
        if action:
            out.next_action = action  # type: ignore[assignment]
            conf["next_action"] = ac
        if concl is None and action == "contract":
            concl, c = "advance", 0.6  # a contract being sent or signed next is a customer moving forward
        if concl:
            out.conclusion = concl  # type: ignore[assignment]
            conf["conclusion"] = c
        pain_text = squeeze(customer_text)  # 比 我们 便宜: dictation spacing closed up, as for stages
        pains = self._classifier.pain_points(pain_text, clauses(pain_text, split_on_spaces=transcript))
        if pains:
            out.pain_points = sorted(pains)  # type: ignore[assignment]
            conf["pain_points"] = min(pains.values())

        people = self._people(masked, transcript)
        companies = self._entities.companies(masked, people, transcript=transcript)
        # "物流总监闫冬" is a job and a person, not an organisation's name
        companies = [c for c in companies if not any(
            p.end == c.end and p.start > c.start and self._entities.role_before(masked, p.start) for p in people)]
        people = [p for p in people if not any(c.start <= p.start and p.end <= c.end for c in companies)]
        contact = self._pick_contact(people)
        if contact is not None:
            out.contact_name = contact.text
            conf["contact_name"] = contact.confidence * (0.9 if len({p.text for p in people}) > 1 else 1.0)
        company = self._pick_company(companies, contact)
        if company is not None:
            out.company = company.text
            conf["company"] = company.confidence
        return out

    def _pick_date(self, text: str, parts: list, future: list[DateMatch], today: date) -> DateMatch | None:
        for d in future:
            c = clause_at(parts, d.start)
            clause = c.text if c else text
            after = clause[d.end - (c.start if c else 0) :]
            if _EVENT_ONLY.search(after[:8]) and not _FOLLOWUP_VERB.search(after[:8].split("到账")[0]):
                continue
            if re.match(r"^(?:前后|左右)?(?:再说|再看|看看再说)", after):
                continue  # 9月初再说: "we'll see", not a date to follow up on
            if _HEDGED.search(text[max(0, d.start - 4) : d.start]):
                continue  # 预计六月中签: a guess about the customer's timing, not a follow-up
            if d is not future[-1] and _NOT_OURS.match(after):
                # 周六还在厂里 / 11月3号之前定下来: today's situation or the customer's deadline;
                # a later date in the message is when we follow up
                continue
            return d
        return None

    def _people(self, text: str, transcript: bool) -> list[NameMatch]:
        people = [p for p in self._entities.people(text) if not self._entities.is_colleague(text, p)]
        if transcript:
            # In a call the rep addresses the customer by title; a bare full name is rarely the customer.
            titled = [p for p in people if p.kind != "full"]
            return titled or people
        return people

    @staticmethod
    def _pick_contact(people: list[NameMatch]) -> NameMatch | None:
        if not people:
            return None
        known = [p for p in people if p.kind == "known"]
        return known[0] if known else people[0]

    @staticmethod
    def _pick_company(companies: list[NameMatch], contact: NameMatch | None) -> NameMatch | None:
        if not companies:
            return None
        known = [c for c in companies if c.kind == "known"]
        if known:
            return known[0]
        # A bare run of characters before "X总" is the weakest evidence: only when nothing else.
        companies = [c for c in companies if c.kind != "before_person"] or companies
        if contact is not None:
            # "深圳大学 图书馆的 邱老师": the organisation opening the chain, not its unit next to the name
            chain = [c for c in companies if c.kind == "chain" and c.end <= contact.start]
            if chain:
                return chain[-1]
            attached = [c for c in companies if c.end <= contact.start and contact.start - c.end <= 8]
            if attached:
                return attached[-1]
        strong = [c for c in companies if c.confidence >= 0.7]
        return (strong or companies)[0]
