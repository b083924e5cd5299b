"""Pair scoring: how likely two records are the same company, and the same person, with the reasons.

Scores are 0..100. The bands are meant to be read against `DedupThresholds` (auto 90, ask 70 by
default): name evidence alone never reaches `auto` unless the names agree exactly or by sound, and a
hard contradiction (different cities, different industries, different person names) caps the score
low however much else agrees, because a wrong merge costs more than a missed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rapidfuzz import fuzz

from core.dedup.normalize import CompanyName, NormalizedRecord, PersonName


@dataclass(frozen=True, slots=True)
class Evidence:
    score: float
    reasons: tuple[str, ...] = ()
    conflict: bool = False

    @property
    def reason(self) -> str:
        return "；".join(self.reasons)


NO_EVIDENCE = Evidence(0.0)

# A company-name score from which other evidence (the same contact name) may complete a link.
SUPPORT_MIN = 80.0


class NameRelation(Enum):
    SAME = "same"  # full names equal, by characters or by sound
    SIMILAR = "similar"  # same surname, given names one character apart
    COMPATIBLE = "compatible"  # same surname, at least one side only a surname + title
    UNKNOWN = "unknown"  # a side has no name
    CONFLICT = "conflict"  # different surnames or clearly different given names


def name_relation(a: PersonName, b: PersonName) -> NameRelation:
    if a.empty or b.empty:
        return NameRelation.UNKNOWN
    if a.surname_key != b.surname_key:
        return NameRelation.CONFLICT
    if not (a.is_full and b.is_full):
        return NameRelation.COMPATIBLE
    if a.full_key == b.full_key:
        return NameRelation.SAME
    if (
        len(a.given) == len(b.given)
        and sum(x != y for x, y in zip(a.given, b.given, strict=True)) <= 1
        and len(a.given) >= 2
    ):
        return NameRelation.SIMILAR
    return NameRelation.CONFLICT


def industry_compatible(a: str, b: str) -> bool:
    """Industry keys agree when equal, when one is missing, or when one is a shortening ("科技" of "网络科技")."""
    if not a or not b or a == b:
        return True
    return a.endswith(" " + b) or b.endswith(" " + a) or a.endswith(b) or b.endswith(a)


def _industry_narrows(a: str, b: str) -> bool:
    """One industry is a narrower form of the other that starts the same ("医疗" / "医疗器械")."""
    if not a or not b or a == b or industry_compatible(a, b):
        return False
    return a.startswith(b + " ") or b.startswith(a + " ")


def company_similarity(a: CompanyName, b: CompanyName) -> Evidence:
    """Company names alone: 0..100 with reasons; `conflict` when they name different companies."""
    if a.empty or b.empty:
        return NO_EVIDENCE
    if a.city and b.city and a.city != b.city:
        return Evidence(20.0, (f"城市不同（{a.city}/{b.city}）",), conflict=True)
    one_city = bool(a.city) != bool(b.city)
    if a.core_key == b.core_key:
        if a.folded == b.folded and a.city == b.city:
            return Evidence(100.0, ("公司名相同",))
        if a.core != b.core:
            # 明宏/鸣宏 is usually a typo, but 兴华/星华 can be two firms: never certain by sound alone
            return Evidence(85.0 if one_city else 88.0, ("公司名同音",))
        if one_city:
            return Evidence(93.0, ("公司名相同（一方未写城市）",))
        return Evidence(97.0, ("公司名相同",))
    if a.brand_key == b.brand_key and a.brand_key:
        if _industry_narrows(a.industry_key, b.industry_key):
            # 恒康医疗 / 恒康医疗器械: most often the short and the full name of one firm, but a group can
            # own both: ask, never link by name alone
            return Evidence(80.0, (f"字号相同，行业相近（{a.industry}/{b.industry}）",))
        if not industry_compatible(a.industry_key, b.industry_key):
            return Evidence(
                35.0, (f"字号相同但行业不同（{a.industry or '—'}/{b.industry or '—'}）",), conflict=True
            )
        short = "简称" if not a.industry or not b.industry else "行业词省略"
        if a.brand != b.brand:
            return Evidence(80.0, (f"字号同音（{short}）",))  # 元光/远广: a typo, or another firm
        return Evidence(90.0, (f"字号相同（{short}）",))
    if a.industry_key and b.industry_key and not industry_compatible(a.industry_key, b.industry_key):
        ratio = fuzz.ratio(a.core, b.core)
        return Evidence(min(ratio, 40.0), (f"行业不同（{a.industry}/{b.industry}）",), conflict=True)
    ratio = max(fuzz.ratio(a.core, b.core), fuzz.ratio(a.core_key, b.core_key))
    # names that differ in their brand are never certain from the name alone
    return Evidence(round(min(ratio, 100.0) * 0.85, 1), (f"公司名相似 {ratio:.0f}%",))


def _shared(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return bool(a and b and not set(a).isdisjoint(b))


@dataclass(frozen=True, slots=True)
class PairScore:
    contact: Evidence
    company: Evidence


def contact_evidence(
    a: NormalizedRecord, b: NormalizedRecord, same_company: bool, relation: NameRelation | None = None
) -> Evidence:
    """Same person? `same_company` says whether the two records' companies are already known equal."""
    rel = relation or name_relation(a.name, b.name)
    if _shared(a.mobiles, b.mobiles) or _shared(a.emails, b.emails):
        what = "手机号相同" if _shared(a.mobiles, b.mobiles) else "邮箱相同"
        if rel is NameRelation.CONFLICT:
            return Evidence(55.0, (what, "但姓名不同"))
        if rel is NameRelation.SAME:
            return Evidence(99.0, (what, "姓名相同"))
        if rel is NameRelation.SIMILAR:
            return Evidence(93.0, (what, "姓名相近"))
        return Evidence(97.0, (what,))
    if _shared(a.landlines, b.landlines):
        # a landline is often a switchboard shared by several people of one company
        return {
            NameRelation.SAME: Evidence(96.0, ("座机相同", "姓名相同")),
            NameRelation.SIMILAR: Evidence(88.0, ("座机相同", "姓名相近")),
            NameRelation.COMPATIBLE: Evidence(80.0, ("座机相同", "同姓")),
            NameRelation.UNKNOWN: Evidence(50.0, ("座机相同", "缺少姓名")),
            NameRelation.CONFLICT: Evidence(10.0, ("座机相同", "但姓名不同"), conflict=True),
        }[rel]
    if rel is NameRelation.CONFLICT:
        return Evidence(0.0, ("姓名不同",), conflict=True)
    if not same_company:
        if rel is NameRelation.SAME:
            return Evidence(60.0, ("姓名相同", "公司不同"))
        return NO_EVIDENCE
    return {
        NameRelation.SAME: Evidence(93.0, ("同一公司", "姓名相同")),
        NameRelation.SIMILAR: Evidence(78.0, ("同一公司", "姓名相近")),
        NameRelation.COMPATIBLE: Evidence(75.0, ("同一公司", "同姓（称呼）")),
        NameRelation.UNKNOWN: NO_EVIDENCE,
    }[rel]


def company_evidence(a: NormalizedRecord, b: NormalizedRecord) -> Evidence:
    """Same company? The names, strengthened by a shared phone or email of a person there."""
    names = company_similarity(a.company, b.company)
    shared = (
        "手机号相同"
        if _shared(a.mobiles, b.mobiles)
        else "邮箱相同"
        if _shared(a.emails, b.emails)
        else "座机相同"
        if _shared(a.landlines, b.landlines)
        else ""
    )
    if names.conflict:
        return names
    if not shared:
        if (
            names.score >= SUPPORT_MIN
            and name_relation(a.name, b.name) is NameRelation.SAME
            and a.name.is_full
        ):
            # the same full name under two spellings of a similar company name: one firm
            return Evidence(max(names.score, 92.0), (*names.reasons, "联系人姓名相同"))
        return names
    empty = a.company.empty or b.company.empty
    if not empty and names.score < 50.0:
        # a person's number under a wholly different company name: a job change, not a duplicate
        return names
    return Evidence(max(names.score, 95.0), (shared, *names.reasons))


def score_pair(a: NormalizedRecord, b: NormalizedRecord, auto: float = 90.0) -> PairScore:
    company = company_evidence(a, b)
    contact = contact_evidence(a, b, same_company=company.score >= auto)
    return PairScore(contact=contact, company=company)
