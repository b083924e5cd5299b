"""Contact names and company names, as the rep wrote them.

People: a surname + title (梁经理, 王总, 陈女士) or a full name (张伟, 林晓东) in a name position
(after 的, a job word such as 采购/负责人, a company, or at a clause start, and before a verb,
punctuation or a number). Colleagues (小刘, 老李, 同事小林) are not contacts.

Companies: a run of characters ending in a company suffix chain (恒康 + 医疗 + 科技 + 有限公司),
or the words before 的 + contact (智信通的杨帆), or the place after a visit verb (拜访的酷玩潮品，).
Left of the name, the last verb/preposition/time word (给, 和, 拜访了, 今天 …) is the boundary;
right of it, departments (采购部, 设备科) are not part of the name.
Known customers and contacts from the database (`add_names`) are matched first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.nlp.lexicon import alternation, load_lines

_CJK = r"\u4e00-\u9fff"
_NAME_RIGHT = (
    r"(?=说|讲|来电|回电|回了|回复|打|聊|在|发|要|见|拒绝|做|电话|手机|座机|微信|企微|邮件|邮箱|[,，。;；!！?？\s（(：:、]|[\d#+]|$"
    r"|的|今天|昨天|通了|约|确认|同意|表示|反馈|觉得|认为|那边|这边|一起|沟通|问|抱怨|嫌|来|对|也|很|挺|已|刚|想|让|他|她"
    r"|答应|看了|看完|希望|去|不|没|还|吗|吧|呢|啊|您|你|先生|女士|准备|决定|定了|签|把|给|跟|和|与|主动|那里|处|团队"
    r"|视频|语音|线上|当面|现场|亲自|本人|开了|开会|过了|见面|吃饭|一起)"
)
_NAME_RIGHT_RE = re.compile(_NAME_RIGHT)
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_CJK_ONLY = re.compile(rf"[{_CJK}]+")
_NAME_CHAR = re.compile(rf"[{_CJK}A-Za-z]")
# Words before a full name that put it in a name position.
_NAME_LEFT_WORDS = (
    "的",
    "和",
    "跟",
    "给",
    "与",
    "同",
    "见了",
    "见到",
    "联系了",
    "问了",
    "找",
    "找了",
    "是",
    "约",
    "请",
    "拜访了",
)
_COLLEAGUE_BEFORE = re.compile(r"(同事|我们的|我方|我司的?|我们公司的?|我是[^,，。\s]{0,12}的?|我们)$")
_CORE_STOP_CHARS = set("我你您他她们这那说是了的在个些要就都也还把被让给吗呢吧啊哦嗯")
_CORE_STOP_WORDS = re.compile(
    r"安排|准备|进行|开展|需要|可以|已经|正在|还在|今天|明天|后天|昨天|下周|上周|本周|这周|国庆|春节|节后|之后|以后|然后"
    r"|关于|对于|因为|所以|如果|但是|一下|一些|情况|问题|方案|产品|系统|设备|项目|装机|改造|期间|暑假|寒假|没人|联系|电话|微信"
    r"|邮件|拜访|见面|沟通|报价|合同|价格|预算|演示|试用|采购|负责|客户|老板|领导|公司里|我们|他们|打算"
)
_QUANTITY_CORE = re.compile(r"^[0-9一二三四五六七八九十两几]+[百千万]?[家个台所些条间位]")
_COMPANY_RIGHT_REJECT = re.compile(
    r"^(?:行业|领域|产品|设备|系统|方案|项目|改造|卷材|类|方面|相关|这块|业务|板块|企业|市场|机|仪|服务|平台|软件|模块|解决方案|技术|人员|专业|背景)"
)
_VISIT_PLACE = re.compile(
    rf"(?:拜访的|拜访了|去了|去的|来到|到了|走访了|参观了|上门拜访)\s*([{_CJK}A-Za-z]{{2,10}}?)"
    r"(?=[,，。;；\s]|$|的(?:基地|工厂|厂区|园区|现场|展厅|办公室|车间|仓库|门店|总部|店|厂)"
    r"|今天|昨天|前天|不是|没(?:见|人|找)|[他她]们?(?:说|的)|只见)"
)
# English names reps use for buyers (采购Amy, 跟德信的 Linda, Kevin 邮件回复说): a capitalised word
# right after a job word or 的/跟/给, or right before what the person did
_LATIN_NAME = re.compile(r"(?<![A-Za-z0-9])([A-Z][a-z]{2,9})(?![A-Za-z0-9])")
_LATIN_LEFT = re.compile(
    r"(?:的|跟|和|与|给|找|联系|约|采购|经理|总监|主管|助理|负责人|老板|VP|CEO|CIO|CTO|[Mm]anager|[Dd]irector)\s*$")
_LATIN_RIGHT = re.compile(r"\s*(?:说|发|要|回|问|觉得|反馈|表示|那边|微信|邮件|电话|来电|打|在)")
_LATIN_WITH_ME = re.compile(r"\s*(?:去|一起|陪)")  # 跟 Tony 去 visit: a colleague along, not the customer
_LATIN_NOT_NAMES = frozenset(
    ["Demo", "Quote", "Deal", "Call", "Called", "Office", "Excel", "Word", "Zoom", "Teams", "Email", "Mail", "Hello", "Sorry", "Thanks", "Team", "Plan", "Sales", "Legal", "Boss", "Okay", "The", "And", "For", "With", "Today", "Tomorrow", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Visit", "Meeting", "Online", "Offline", "Price", "Budget", "Order", "Contract", "Invoice", "Sample", "Project", "Product", "System", "Cloud", "Apple", "Huawei", "Android", "Windows", "Linux", "Python", "Java", "Wechat"]
)
_LEADING_NAME = re.compile(rf"\s*([{_CJK}A-Za-z][{_CJK}A-Za-z0-9]{{1,9}})(?:\s+|[,，:：])(?=\S)")
_LEADING_NOT_NAME = re.compile(
    r"(?:今|明|后|昨|前|上|下|本|这|那|周|星期|礼拜|早|晚|中午|凌晨|刚|嗯|就是|然后|对了|哦|啊|呃|客户|老板|我|他|她"
    r"|电话|微信|邮件|拜访|视频|会议|上门|报价|合同|跟进|回访|备注|今天|\d)"
)
# A department after a company name: 采购部, 政企部, 设备科, 信息处 (not 俱乐部).
_GENERIC_DEPT = re.compile(rf"(?:[{_CJK}]{{1,4}}|[A-Za-z]{{1,4}})(?<!俱乐)(?:部|科|处|股|办)$")
_SELF_INTRO = re.compile(r"(?:我是|这里是|我们是|我这边是)\s*$")
# …的小何 / …的 (turn ends) / …的销售: how a caller names himself; a customer says …的卜工
_REP_AFTER = re.compile(rf"的?(?:小[{_CJK}]|\s|$|销售|客服|业务员|顾问|客户经理)")
# who someone is at the customer, never the customer: 前台, 甲方代表, 高级合伙人
_NOT_ORG = re.compile(r"(?:前台|代表|合伙人|助理|秘书)$")
# Form-like reports: "客户：鸿星尔克 对接人：林总监".
_LABELLED = re.compile(
    rf"(?:客户|公司|单位|客户名称|企业)\s*[:：]\s*([{_CJK}A-Za-z0-9()（）]{{2,20}}?)(?=[\s,，。;；]|$)"
)
_LABELLED_PERSON = re.compile(
    rf"(?:对接人|联系人|负责人|姓名)\s*[:：]\s*([{_CJK}]{{2,4}}?)(?=[\s,，。;；]|$)"
)
# The company as the object of a deal verb or a place word: "跟星巴克签了", "给 海康威视 发的报价",
# "紫金矿业那边", "浙江中烟的那个单子". Only a run that passes the usual core checks counts.
_DEAL_OBJECT = re.compile(
    rf"(?:跟|和|与|给|同)\s*([{_CJK}A-Za-z]{{2,10}}?)\s*"
    r"(?=签|(?:发|寄)(?:了|的|过)|合作|下单|的(?:那个|这个|这)?(?:单子|项目|订单|合同|报价|采购))"
)
_PLACE_WORD = re.compile(rf"([{_CJK}A-Za-z]{{2,10}}?)\s*(?=那边|这边|那头|的(?:那个|这个)(?:单子|项目|订单))")
# Word-spaced dictation: "深圳大学 图书馆的 邱老师", "华润万家 门店运营部 秦经理" — the first word of
# the chain before a contact is the organisation, the rest are its units.
_CLAUSE_HEAD = re.compile(r".*[,，。;；!！?？:：\n]", re.S)
_UNIT_WORD = re.compile(r"(?:部|科|处|室|组|局|馆|中心|车间|码头|门店|团队|事业群|事业部|学院|IT|it)$")
# A strong organisation word followed by a department run: 瑞丰银行|信息科技部, 南京银行|科技部.
_BRANCH_END = re.compile(r"(?:分行|支行|分公司|分院|分校|院区|校区|工厂|分厂)$")
_PLACE_OF = re.compile(
    rf"(?:去了?|到了?|来到)\s*([{_CJK}A-Za-z]{{2,10}}?)的[{_CJK}]{{0,4}}?(?:基地|工厂|厂区|园区|现场|展厅|办公室|车间|仓库|门店|总部|店|厂)"
)


@dataclass(frozen=True, slots=True)
class NameMatch:
    start: int
    end: int
    text: str
    confidence: float
    kind: str  # "known", "title", "full"


class EntityExtractor:
    def __init__(self) -> None:
        self.surnames = frozenset(s for line in load_lines("surnames.txt") for s in line.split())
        self.not_names = frozenset(w for line in load_lines("not_names.txt") for w in line.split())
        self.surname_words = frozenset(load_lines("surname_words.txt")) | self.not_names
        single = "".join(sorted(s for s in self.surnames if len(s) == 1))
        double = alternation([s for s in self.surnames if len(s) == 2])
        surname = f"(?:{double}|[{single}])"
        titles = alternation(load_lines("titles.txt"))
        # 总/工 alone are titles only when they do not start a word (总价, 工期, 施工 …): checked in people().
        self._titled = re.compile(rf"(?<![小老])({surname})({titles})")
        self._roles = alternation(load_lines("roles.txt"))
        self._role_end = re.compile(rf"(?:{self._roles})$")
        suffixes = load_lines("company_suffixes.txt")
        self._suffix_chain = re.compile(f"(?:{alternation(suffixes)})+")
        self._suffix_end = re.compile(f"(?:{alternation(suffixes)})$")
        self._strong_suffix = re.compile(
            r"(?:公司|集团|医院|学校|中学|小学|学院|大学|幼儿园|保健院|卫生院|诊所|研究院|研究所|事务所|银行|工作室|商行|厂|店|职校|建材城|市场)$"
        )
        self._strong_inside = re.compile(
            r"^[\u4e00-\u9fffA-Za-z]{2,}?(?:银行|医院|大学|学院|集团|公司|学校|中学|小学|研究院|研究所)"
        )
        depts = alternation(load_lines("company_right_stops.txt"))
        self._right_stops = re.compile(f"^(?:{depts})")
        self._dept_anywhere = re.compile(depts)
        self._dept_at_end = re.compile(f"(?:{depts})的?$")
        self._dept_end_exact = re.compile(f"(?:{depts})$")
        self._role_after_de = re.compile(f"的(?:{self._roles}|前台|采购部|办公室)")
        self._left_stop_words = tuple(sorted(load_lines("company_left_stops.txt"), key=len, reverse=True))
        self._left_stop_set = frozenset(self._left_stop_words)
        self._left_stop_end = re.compile(f"(?:{alternation(self._left_stop_words)})$")
        self._max_left_stop = max(len(w) for w in self._left_stop_words)
        self._known_companies: set[str] = set()
        self._known_contacts: set[str] = set()
        self._known_company_re: re.Pattern[str] | None = None
        self._known_contact_re: re.Pattern[str] | None = None

    # -- known names ---------------------------------------------------------------------------
    def add_names(self, companies: Iterable[str] = (), contacts: Iterable[str] = ()) -> None:
        self._known_companies |= {c.strip() for c in companies if c and len(c.strip()) >= 2}
        self._known_contacts |= {c.strip() for c in contacts if c and len(c.strip()) >= 2}
        if self._known_companies:
            self._known_company_re = re.compile(alternation(sorted(self._known_companies)))
        if self._known_contacts:
            self._known_contact_re = re.compile(alternation(sorted(self._known_contacts)))

    # -- people --------------------------------------------------------------------------------
    def people(self, text: str) -> list[NameMatch]:
        found: list[NameMatch] = []
        if self._known_contact_re is not None:
            for m in self._known_contact_re.finditer(text):
                found.append(NameMatch(m.start(), m.end(), m.group(0), 0.95, "known"))
        for m in self._titled.finditer(text):
            name = m.group(0)
            title = m.group(2)
            after = text[m.end() : m.end() + 2]
            if name in self.surname_words:
                continue
            if title == "总" and re.match(r"[价额数量共计部体结之是包算归决成和]|经理|监|裁|工", after):
                continue
            if title == "工" and re.match(r"[作程厂期艺具人资业地商序位种时单件]", after):
                continue
            if (
                title in ("姐", "哥")
                and m.start() > 0
                and _CJK_CHAR.match(text[m.start() - 1])
                and (text[m.start() - 1 : m.end()] in self.surname_words)
            ):
                continue
            # A surname glued to the previous character as a word (设计总监 → 计总监) is not a name.
            if m.start() > 0 and text[m.start() - 1 : m.start() + 1] in self.surname_words:
                continue
            found.append(NameMatch(m.start(), m.end(), name, 0.85, "title"))
        # Every position, not finditer: in 老师李强 the 师 (also a surname) must not swallow 李强.
        for m in _LABELLED_PERSON.finditer(text):
            found.append(NameMatch(m.start(1), m.end(1), m.group(1), 0.85, "labelled"))
        for i, ch in enumerate(text):
            surname = (
                text[i : i + 2] if text[i : i + 2] in self.surnames else ch if ch in self.surnames else None
            )
            if surname is None:
                continue
            cand = self._full_name_at(text, i, surname)
            if cand is not None:
                found.append(cand)
        for m in _LATIN_NAME.finditer(text):
            if m.group(1) in _LATIN_NOT_NAMES or _LATIN_WITH_ME.match(text, m.end()):
                continue
            if _LATIN_LEFT.search(text, 0, m.start()) or _LATIN_RIGHT.match(text, m.end()):
                found.append(NameMatch(m.start(1), m.end(1), m.group(1), 0.75, "full"))
        found = [n for n in found if not (n.kind == "full" and len(n.text) > 2 and _GENERIC_DEPT.fullmatch(n.text))]  # 麻醉科
        # 仓储经理韦强: a title run straight into a full name is the end of a job word, not a person
        starts = {n.start for n in found if n.kind == "full"}
        found = [n for n in found if not (n.kind == "title" and n.end in starts)]
        return self._dedupe(found)

    def role_before(self, text: str, start: int) -> bool:
        """A job word (采购经理, 物流总监, CIO) right before `start`."""
        return bool(self._role_end.search(text[max(0, start - 8) : start]))

    def _full_name_at(self, text: str, start: int, surname: str) -> NameMatch | None:
        before = text[max(0, start - 8) : start]
        strong_left = bool(self._role_end.search(before))
        left_ok = (
            start == 0
            or not _CJK_CHAR.match(text[start - 1])
            or strong_left
            or before.endswith(_NAME_LEFT_WORDS)
            or bool(self._suffix_end.search(before))
        )
        if not left_ok or _COLLEAGUE_BEFORE.search(before):
            return None
        best: NameMatch | None = None
        for given_len in (1, 2):
            end = start + len(surname) + given_len
            cand = text[start:end]
            if len(cand) != len(surname) + given_len or not _CJK_ONLY.fullmatch(cand):
                continue
            if not _NAME_RIGHT_RE.match(text[end:]):
                continue
            if given_len == 2 and cand[:-1] in self.surname_words and _NAME_RIGHT_RE.match(text[end - 1 :]):
                continue  # 金额约…: a word followed by its predicate, not a three-character name
            if given_len == 2 and cand[:-1] in self.not_names:
                continue  # 阿里云: a listed non-name word, not a surname
            if (
                cand in self.surname_words
                or cand[1:] in ("总", "工", "姐", "哥")
                or any(ch in "的了在是说和跟给来去到也都很" for ch in cand[len(surname) :])
            ):
                continue
            if given_len == 2 and best is not None and _NAME_RIGHT_RE.match(text[end - 1 :]):
                break  # 陈薇要的: 要 starts the predicate, the name is 陈薇
            conf = 0.8 if strong_left else 0.7
            best = NameMatch(start, end, cand, conf, "full")
        return best

    @staticmethod
    def _dedupe(found: list[NameMatch]) -> list[NameMatch]:
        found.sort(key=lambda n: (n.start, -(n.end - n.start), -n.confidence))
        out: list[NameMatch] = []
        for n in found:
            if out and n.start < out[-1].end:
                # overlapping: keep the stronger (a title beats a full-name guess on the same span)
                if n.confidence > out[-1].confidence and n.kind != "full":
                    out[-1] = n
                continue
            out.append(n)
        return out

    def is_colleague(self, text: str, name: NameMatch) -> bool:
        return bool(_COLLEAGUE_BEFORE.search(text[max(0, name.start - 10) : name.start]))

    # -- companies -----------------------------------------------------------------------------
    def companies(self, text: str, people: list[NameMatch], *, transcript: bool = False) -> list[NameMatch]:
        found: list[NameMatch] = []
        if self._known_company_re is not None:
            for m in self._known_company_re.finditer(text):
                found.append(NameMatch(m.start(), m.end(), m.group(0), 0.95, "known"))
        for m in self._suffix_chain.finditer(text):
            cand = self._company_ending_at(text, m.start(), m.end(), people)
            if cand is not None:
                found.append(cand)
        # X的[job or department]contact / X的采购经理
        for p in people:
            anchor = self._attachment_start(text, p.start)
            if anchor is not None:
                cand = self._company_before(text, anchor, weak=True)
                if cand is not None:
                    found.append(cand)
        for p in people:
            if p.kind != "title":
                continue
            run = re.search(rf"(?:^|[,，。;；!！\s:：】\]])([{_CJK}]{{2,6}})\s*$", text[: p.start])
            core = run.group(1) if run is not None else ""
            if (
                run is not None
                and not self._bad_core(core)
                and core not in self.surname_words
                and not self._role_end.search(core)
                and not re.search(r"[部科处室组]$|中心$|总监$", core)
                and not self._is_common_word(core)
            ):
                found.append(NameMatch(run.start(1), run.end(1), run.group(1), 0.55, "before_person"))
        for m in self._role_after_de.finditer(text):
            cand = self._company_before(text, m.start(), weak=True)
            if cand is not None:
                found.append(NameMatch(cand.start, cand.end, cand.text, 0.6, "role"))
        for m in () if transcript else _LABELLED.finditer(text):  # in a call "客户：" is a turn marker
            name = m.group(1)
            if not self._bad_core(name):
                found.append(NameMatch(m.start(1), m.end(1), name, 0.85, "labelled"))
        for p in people:
            lead = self._chain_lead(text, p)
            if lead is not None:
                found.append(lead)
        for pattern, conf in ((_DEAL_OBJECT, 0.7), (_PLACE_WORD, 0.65)):
            for m in pattern.finditer(text):
                start = self._left_boundary(text, m.end(1)) if pattern is _PLACE_WORD else m.start(1)
                start = max(start, m.start(1))
                name = text[start : m.end(1)]
                if any(start <= p.start < m.end(1) for p in people) or not self._plausible_name(name):
                    continue
                found.append(NameMatch(start, m.end(1), name, conf, "context"))
        for m in _PLACE_OF.finditer(text):
            name = m.group(1)
            if not self._bad_core(name) and name not in self.surname_words:
                found.append(NameMatch(m.start(1), m.end(1), name, 0.75, "place"))
        for m in _VISIT_PLACE.finditer(text):
            name = m.group(1)
            # 拜访的徐福记不是决策人: a brand that looks like a full name is still the place visited
            if any(m.start(1) <= p.start < m.end(1) and p.kind != "full" for p in people) or (
                self._dept_anywhere.search(name)
            ):
                continue
            if not self._bad_core(name) and name not in self.surname_words:
                found.append(NameMatch(m.start(1), m.end(1), name, 0.6, "place"))
        lead = None if transcript or found else self._leading_name(text, people)
        if lead is not None:
            found.append(lead)
        if transcript:  # 我是云仓科技的小何: the caller's own company, not the customer's
            found = [c for c in found
                     if not (_SELF_INTRO.search(text, 0, c.start) and _REP_AFTER.match(text, c.end))]
        found = [c for c in found if c.kind == "known" or self._suffix_end.search(c.text) or not (
            _GENERIC_DEPT.fullmatch(c.text) or _NOT_ORG.search(c.text) or self._role_end.search(c.text))]
        return self._dedupe_companies([self._without_department(text, c) for c in found])

    def _leading_name(self, text: str, people: list[NameMatch]) -> NameMatch | None:
        """A note that opens with the customer's name and then says what happened: "速达传动 报价发了
        18.5w", "家家乐 15号 打电话". Only when nothing else names a company, and never a time
        word, a filler, a person or a common word."""
        m = _LEADING_NAME.match(text)
        if m is None or _LEADING_NOT_NAME.match(m.group(1)) or m.group(1) in _LATIN_NOT_NAMES:
            return None
        name = m.group(1)
        if any(p.start < m.end(1) for p in people) or not self._plausible_name(name):
            return None
        return NameMatch(m.start(1), m.end(1), name, 0.5, "lead")

    def _without_department(self, text: str, cand: NameMatch) -> NameMatch:
        """瑞丰银行信息科技|部的陈科长 → 瑞丰银行: a department run after a bank, hospital or school."""
        if not re.match(r"[部科处]|中心", text[cand.end : cand.end + 2]) or _BRANCH_END.search(cand.text):
            return cand
        strong = self._strong_inside.search(cand.text)
        if strong is None or strong.end() == len(cand.text) or len(cand.text) - strong.end() > 6:
            return cand
        return NameMatch(
            cand.start, cand.start + strong.end(), cand.text[: strong.end()], cand.confidence, cand.kind
        )

    def _plausible_name(self, name: str) -> bool:
        return (
            not self._bad_core(name)
            and name not in self.not_names
            and not self._dept_anywhere.search(name)
            and not self._role_end.search(name)
            and (bool(self._suffix_end.search(name)) or not self._is_common_word(name))
            and not self._suffix_chain.fullmatch(name)  # 信息, 科技: a suffix alone is no name
        )

    def _chain_lead(self, text: str, person: NameMatch) -> NameMatch | None:
        """The organisation opening a chain of units before a contact.

        "深圳大学 图书馆的邱老师", "宁波港 集装箱 码头的技术科 邬工", "江南大学的食品学院蒋教授": walking
        back from the contact over units (…部, …中心, 码头) and plain words, the first word that is
        neither is the organisation. At least one unit must sit between it and the contact; without
        one, the usual "X的 contact" rule applies.
        """
        head = _CLAUSE_HEAD.search(text, 0, person.start)
        seg_start = head.end() if head else 0
        tokens = [
            (m.start(), m.end())
            for m in re.finditer(rf"[{_CJK}A-Za-z]+", text[seg_start : person.start].replace("的", " "))
        ]
        units = 0
        for s, e in reversed(tokens):
            word = text[seg_start + s : seg_start + e]
            if _UNIT_WORD.search(word) or self._role_end.search(word) or self._dept_end_exact.search(word):
                units += 1
                continue
            if self._is_common_word(word) and not self._suffix_end.search(word):
                continue
            if units == 0:
                return None
            start = max(seg_start + s, self._left_boundary(text, seg_start + e))
            name = text[start : seg_start + e]
            if not self._plausible_name(name):
                return None
            return NameMatch(start, seg_start + e, name, 0.92, "chain")
        return None

    @staticmethod
    def _is_common_word(word: str) -> bool:
        """A word of jieba's dictionary (谢谢, 设计) rather than a name."""
        import jieba

        return (jieba.dt.FREQ.get(word) or 0) >= 300  # 谢谢 1089, 设计 12474; 娃哈哈 5, 海天 38

    def _attachment_start(self, text: str, person_start: int) -> int | None:
        """Where "X的" / "X<department>" ends before a contact, or None if the contact is not attached."""
        before = text[:person_start]
        m = re.search(rf"的(?:[{_CJK}A-Za-z]{{0,6}})\s*$", before)
        if m and (
            before[m.start() + 1 :].strip() == ""
            or self._role_end.search(before.rstrip())
            or self._right_stops.match(before[m.start() + 1 :])
        ):
            return m.start()
        m = self._dept_at_end.search(before)
        if m:
            return m.start()
        return None

    def _left_boundary(self, text: str, core_end: int, min_core: int = 2) -> int:
        """Start of a name whose core ends at `core_end`: after the last stop word that leaves >= min_core chars."""
        run_start = core_end
        while run_start > 0 and _NAME_CHAR.match(text[run_start - 1]):
            run_start -= 1
        for pos in range(core_end - min_core, run_start - 1, -1):
            if pos == run_start:
                return pos
            if self._left_stop_end.search(text, max(run_start, pos - self._max_left_stop), pos):
                return pos
        return run_start

    def _bad_core(self, core: str) -> bool:
        return (
            len(core) < 2
            or any(ch in _CORE_STOP_CHARS for ch in core)
            or bool(_CORE_STOP_WORDS.search(core))
            or bool(_QUANTITY_CORE.match(core))
            or core in self._left_stop_set
        )

    def _company_ending_at(
        self, text: str, chain_start: int, end: int, people: list[NameMatch]
    ) -> NameMatch | None:
        # A department that starts inside the chain (保健院 + 信息科) ends the name there.
        for cut in range(chain_start + 1, end):
            stop = self._right_stops.match(text[cut:])
            if stop and cut + stop.end() > end:
                end = cut
                break
        after = text[end:]
        if (
            _COMPANY_RIGHT_REJECT.match(after)
            and not self._right_stops.match(after)
            and not after.startswith(("的", "有限"))
        ):
            return None
        people_starts = {p.start for p in people}
        if re.match(r"^的小[\u4e00-\u9fff](?![总工经主老])", after) or re.match(
            r"^小[\u4e00-\u9fff](?:[\s,，]|$)", after
        ):
            return None  # 我是拓客云的小李: the rep's own company
        start = self._left_boundary(text, chain_start)
        for p in people:
            if start <= p.start < chain_start:
                start = max(start, p.end)  # 林晓东来公司: the person is not part of the company
        core = text[start:chain_start]
        strong = bool(self._strong_suffix.search(text[chain_start:end]))
        if core and self._bad_core(core):
            # try a shorter core: the boundary may be a verb we do not list
            return None
        if not core:
            return None
        if not strong and re.match(r"^(?:上|里|中|方面|这块|时|之类|等|都|也|类)", after):
            return None  # 安装和培训上: an activity, not an organisation
        if len(core) > (8 if strong else 6):
            return None
        attached = (
            end in people_starts
            or bool(re.match(r"^(?:的|[\s,，。]|$)", after))
            or bool(self._right_stops.match(after))
        )
        conf = 0.85 if strong else 0.75
        if attached:
            conf += 0.05
        if (
            start > 0
            and re.search(r"我是|我们是", text[max(0, start - 3) : start])
            and re.match(r"^的?小", after)
        ):
            return None
        return NameMatch(start, end, text[start:end], conf, "suffix")

    def _company_before(self, text: str, end: int, *, weak: bool) -> NameMatch | None:
        # strip a department right before the anchor (锦城地产采购部的 → 锦城地产)
        seg = text[:end]
        dept = self._dept_end_exact.search(seg)
        if dept:
            end = dept.start()
        elif not self._suffix_end.search(seg) and _GENERIC_DEPT.search(seg):
            # 联通政企部 → 联通, 安信证券IT部 → 安信证券: an unknown department is two characters + 部/科/处
            latin = re.search(r"[A-Za-z]{1,4}[部科处]$", seg)
            run = re.search(rf"[{_CJK}]+$", seg)
            if latin is not None:
                end = latin.start()
            elif run is not None and len(run.group(0)) >= 5:
                end -= 3
        chain = self._suffix_end.search(text[:end])
        if chain is not None:
            # 仁和医院: the boundary is looked for left of the suffix, which is always part of the name
            while True:
                prev = self._suffix_end.search(text[: chain.start()])
                if prev is None or prev.end() != chain.start():
                    break
                chain = prev
            start = self._left_boundary(text, chain.start())
            if self._bad_core(text[start : chain.start()]):
                return None
        else:
            start = self._left_boundary(text, end)
        core = text[start:end]
        if self._bad_core(core) or len(core) > 10 or core in self.surname_words:
            return None
        if re.search(r"我是|我们是", text[max(0, start - 3) : start]):
            return None
        strong = self._strong_inside.search(core)
        if strong is not None and 0 < len(core) - strong.end() <= 6 and not _BRANCH_END.search(core):
            core = core[: strong.end()]  # 瑞丰银行信息科技(部): the bank, not its IT department
            end = start + len(core)
        return NameMatch(start, end, core, 0.7, "attached")

    @staticmethod
    def _dedupe_companies(found: list[NameMatch]) -> list[NameMatch]:
        # Overlapping candidates: the longest span that ends at the same place wins (苏州精工模具有限公司
        # over 苏州精工), otherwise the more confident one.
        found.sort(key=lambda n: (-n.confidence, -(n.end - n.start), n.start))
        out: list[NameMatch] = []
        for n in found:
            clash = [o for o in out if n.start < o.end and o.start < n.end]
            if not clash:
                out.append(n)
                continue
            for o in clash:
                if (
                    n.end - n.start > o.end - o.start
                    and n.confidence >= o.confidence - 0.15
                    and n.start <= o.start
                ):
                    out[out.index(o)] = n
                    break
        out.sort(key=lambda n: n.start)
        return out
