"""Normalization of what people type into match keys, always kept beside the typed text.

Core cannot import OpenCC or a pinyin library, so the two text converters are injected:
`to_simplified` (traditional → simplified) and `to_phonetic` (a string → a sound key, e.g. toneless
pinyin per character). Both default to the identity, which keeps the module usable and testable on
its own; `bot.textconv` provides the real ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from core.dedup import vocab

TextFn = Callable[[str], str]


def _identity(text: str) -> str:
    return text


# ---------------------------------------------------------------- generic text


_BRACKETS = str.maketrans(
    {
        "【": "(",
        "】": ")",
        "〔": "(",
        "〕": ")",
        "[": "(",
        "]": ")",
        "{": "(",
        "}": ")",
        "〈": "(",
        "〉": ")",
        "《": "(",
        "》": ")",
        "「": "(",
        "」": ")",
    }
)


def fold_width(text: str) -> str:
    """Full-width letters, digits, brackets and spaces folded to ASCII (NFKC), other brackets unified."""
    return unicodedata.normalize("NFKC", text).translate(_BRACKETS)


# ---------------------------------------------------------------- phones


@dataclass(frozen=True, slots=True)
class Phone:
    typed: str
    digits: str
    kind: str  # "mobile" | "landline" | "other"

    @property
    def is_mobile(self) -> bool:
        return self.kind == "mobile"


_PHONE_SPLIT = re.compile(r"[,;/、，；|]|或|\s{2,}")
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_MOBILE = re.compile(r"1[3-9]\d{9}")


def _classify(digits: str) -> str:
    if len(digits) == 11 and _MOBILE.fullmatch(digits):
        return "mobile"
    if digits.startswith(("0", "400", "800")) and 10 <= len(digits) <= 12:
        return "landline"
    return "other"


def normalize_phone_one(typed: str) -> Phone | None:
    """One phone number: digits only, country code dropped, the landline's leading 0 kept."""
    text = fold_width(typed).strip()
    text = re.sub(r"^(?:tel|电话|手机|座机|mobile|phone)\s*[:：]?", "", text, flags=re.IGNORECASE).strip()
    text = _EXTENSION.sub("", text)
    digits = re.sub(r"\D", "", text)
    international = text.startswith("+") or digits.startswith("00")
    if digits.startswith("0086"):
        digits, international = digits[4:], True
    elif digits.startswith("86") and (international or len(digits) >= 12):
        digits, international = digits[2:], True
    if international and digits and not digits.startswith("0") and not _MOBILE.fullmatch(digits):
        # +86 10 1234 5678: the trunk 0 of a landline is dropped in international form
        digits = "0" + digits
    if len(digits) < 7:
        return None
    return Phone(typed=typed, digits=digits, kind=_classify(digits))


def normalize_phones(typed: str | None) -> tuple[Phone, ...]:
    """All phone numbers in one cell ("138… / 0571-…"), deduplicated, in typed order."""
    if not typed or not typed.strip():
        return ()
    found: dict[str, Phone] = {}
    for part in _PHONE_SPLIT.split(fold_width(typed)):
        phone = normalize_phone_one(part.strip()) if part.strip() else None
        if phone and phone.digits not in found:
            found[phone.digits] = phone
    return tuple(found.values())


def normalize_phone(typed: str | None) -> str | None:
    """The first phone number of a cell as digits, or None."""
    phones = normalize_phones(typed)
    return phones[0].digits if phones else None


# ---------------------------------------------------------------- emails


_EMAIL = re.compile(r"[^\s@,;，；<>()]+@[^\s@,;，；<>()]+\.[^\s@,;，；<>()]+")


def normalize_emails(typed: str | None) -> tuple[str, ...]:
    if not typed:
        return ()
    found = [m.group(0).strip(".").lower() for m in _EMAIL.finditer(fold_width(typed))]
    return tuple(dict.fromkeys(found))


def normalize_email(typed: str | None) -> str | None:
    emails = normalize_emails(typed)
    return emails[0] if emails else None


# ---------------------------------------------------------------- vocab lookups


def _by_length_desc(words: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(words), key=lambda w: (-len(w), w)))


class _SuffixTable:
    """Longest-suffix lookup in a word list by slicing, not by scanning every word."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(words)
        self.lengths = sorted({len(w) for w in self.words}, reverse=True)

    def suffixes(self, text: str) -> Iterable[str]:
        """The words that text ends with, longest first."""
        for size in self.lengths:
            if size <= len(text) and text[-size:] in self.words:
                yield text[-size:]

    def longest(self, text: str, keep: int = 1) -> str:
        """The longest word text ends with that leaves at least `keep` characters before it."""
        for word in self.suffixes(text):
            if len(text) - len(word) >= keep:
                return word
        return ""


_LEGAL = _SuffixTable(vocab.LEGAL_FORMS)
_INDUSTRY = _SuffixTable(vocab.INDUSTRY_WORDS)
_TITLES = _SuffixTable(vocab.TITLES)
_PLACE_SUFFIX = _by_length_desc(vocab.PLACE_SUFFIXES)
_PLACES = frozenset(vocab.CITIES) | frozenset(vocab.PROVINCES)
_CITY_SET = frozenset(vocab.CITIES)
_EN_LEGAL = frozenset(vocab.LEGAL_FORMS_EN)
_EN_TITLES = frozenset(vocab.TITLES_EN)
_COMPOUND = frozenset(vocab.COMPOUND_SURNAMES)
_NOISE = re.compile(r"[\s·・.,，、&＆'\"“”‘’:：;；!！?？*#@_\-—~+/\\|]+")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _is_han(text: str) -> bool:
    return bool(_HAN.search(text))


# ---------------------------------------------------------------- company names


@dataclass(frozen=True, slots=True)
class CompanyName:
    typed: str
    folded: str  # simplified, width-folded, brackets unified, spaces and punctuation removed
    core: str  # brand + industry: no place, no legal form
    brand: str  # core without industry words ("恒嘉")
    industry: str  # the industry words that followed the brand ("网络科技"), may be ""
    city: str | None  # canonical place name, separated from the core
    legal_form: str  # "有限公司", "股份有限公司", … or ""
    core_key: str  # phonetic key of core
    brand_key: str
    industry_key: str

    @property
    def empty(self) -> bool:
        return not self.core


@dataclass(frozen=True, slots=True)
class PersonName:
    typed: str
    folded: str
    surname: str
    given: str  # "" when only a surname (+ title) was written
    title: str
    full_key: str  # phonetic key of surname + given, "" when there is no given name
    surname_key: str

    @property
    def empty(self) -> bool:
        return not self.surname and not self.given

    @property
    def is_full(self) -> bool:
        return bool(self.given)


@dataclass(frozen=True, slots=True)
class NormalizedRecord:
    """A customer/contact row: what was typed, beside the keys used to match it."""

    record_id: str
    name: PersonName
    company: CompanyName
    phones: tuple[Phone, ...]
    emails: tuple[str, ...]
    phone_typed: str = ""
    email_typed: str = ""

    @property
    def mobiles(self) -> tuple[str, ...]:
        return tuple(p.digits for p in self.phones if p.kind == "mobile")

    @property
    def landlines(self) -> tuple[str, ...]:
        return tuple(p.digits for p in self.phones if p.kind != "mobile")


class Normalizer:
    """Builds NormalizedRecords; the converters are injected, results are cached per distinct text."""

    def __init__(
        self,
        to_simplified: TextFn | None = None,
        to_phonetic: TextFn | None = None,
        cache_size: int = 1 << 18,
    ) -> None:
        self._simplify = to_simplified or _identity
        self._phonetic = to_phonetic or _identity
        self.company = lru_cache(maxsize=cache_size)(self._company)  # type: ignore[method-assign]
        self.person = lru_cache(maxsize=cache_size)(self._person)  # type: ignore[method-assign]
        self.phones = lru_cache(maxsize=cache_size)(normalize_phones)
        # place names by sound, so that a mistyped "宁博" is still recognised as 宁波
        self._place_by_key: dict[str, str] = {}
        for place in sorted(_PLACES, key=len, reverse=True):
            self._place_by_key.setdefault(self._phonetic(place), place)

    def phonetic(self, text: str) -> str:
        return self._phonetic(text)

    def record(
        self,
        record_id: str,
        name: str | None = None,
        company: str | None = None,
        phone: str | None = None,
        email: str | None = None,
    ) -> NormalizedRecord:
        return NormalizedRecord(
            record_id=record_id,
            name=self.person(name or ""),
            company=self.company(company or ""),
            phones=self.phones(phone or ""),
            emails=normalize_emails(email),
            phone_typed=phone or "",
            email_typed=email or "",
        )

    # -- places

    def _place_prefix(self, text: str) -> tuple[str | None, str]:
        """A place at the start of text: (canonical place, rest), or (None, text)."""
        for size in (4, 3, 2):
            head = text[:size]
            if len(head) < size:
                continue
            place = head if head in _PLACES else self._place_by_key.get(self._phonetic(head))
            if place is None:
                continue
            rest = text[size:]
            for suffix in _PLACE_SUFFIX:
                if rest.startswith(suffix):
                    rest = rest[len(suffix) :]
                    break
            return place, rest
        return None, text

    def _split_place(self, text: str) -> tuple[str | None, str]:
        """Province and/or city prefixes removed, as long as a name of >= 2 characters remains."""
        city: str | None = None
        rest = text
        for word in vocab.COUNTRY_WORDS:
            if rest.startswith(word) and len(rest) > len(word) + 1:
                rest = rest[len(word) :]
        for _ in range(2):  # "广东省深圳市…": a province, then a city
            place, after = self._place_prefix(rest)
            if place is None or len(after) < 2 or self._only_industry(after):
                break
            if city is None or place in _CITY_SET:
                city = place
            rest = after
        return city, rest

    # -- companies

    @staticmethod
    def _only_industry(text: str) -> bool:
        rest = text
        while rest:
            word = _INDUSTRY.longest(rest, keep=0)
            if not word:
                return False
            rest = rest[: -len(word)]
        return True

    @staticmethod
    def _strip_legal(text: str) -> tuple[str, str]:
        forms = ""
        while word := _LEGAL.longest(text, keep=1):
            text, forms = text[: -len(word)], word + forms
        return text, forms

    @staticmethod
    def _split_industry(core: str) -> tuple[str, str]:
        brand = core
        while word := _INDUSTRY.longest(brand, keep=2):
            brand = brand[: -len(word)]
        return brand, core[len(brand) :]

    def _company(self, typed: str) -> CompanyName:
        text = self._simplify(fold_width(typed)).strip()
        if not _is_han(text):
            return self._company_latin(typed, text)
        city: str | None = None
        # bracketed parts: a place ("(温州)"), a legal form ("(集团)", "(普通合伙)") or noise ("(中国)")
        legal_extra: list[str] = []
        for inner in re.findall(r"\(([^()]*)\)", text):
            word = _NOISE.sub("", inner)
            place, rest = self._place_prefix(word)
            if place is not None and not rest:
                city = city or place
            elif word in vocab.LEGAL_FORMS:
                legal_extra.append(word)
        text = re.sub(r"\([^()]*\)", "", text)
        folded = _NOISE.sub("", text).lower()
        core, legal = self._strip_legal(folded)
        place, core = self._split_place(core)
        city = city or place
        # a branch written after the core: "…有限公司上海分公司" keeps its place as the city
        brand, industry = self._split_industry(core)
        return CompanyName(
            typed=typed,
            folded=folded,
            core=core,
            brand=brand,
            industry=industry,
            city=city,
            legal_form=legal + "".join(legal_extra),
            core_key=self._phonetic(core),
            brand_key=self._phonetic(brand),
            industry_key=self._phonetic(industry),
        )

    def _company_latin(self, typed: str, text: str) -> CompanyName:
        words = [w for w in re.split(r"[^0-9a-z]+", text.lower()) if w]
        while len(words) > 1 and words[-1] in _EN_LEGAL:
            words.pop()
        core = "".join(words)
        return CompanyName(
            typed=typed,
            folded=core,
            core=core,
            brand=core,
            industry="",
            city=None,
            legal_form="",
            core_key=core,
            brand_key=core,
            industry_key="",
        )

    # -- people

    def _person(self, typed: str) -> PersonName:
        text = self._simplify(fold_width(typed)).strip()
        text = re.sub(r"\([^()]*\)", "", text)
        if not _is_han(text):
            return self._person_latin(typed, text)
        folded = _NOISE.sub("", text)
        body, title = folded, ""
        for word in _TITLES.suffixes(body):
            if len(body) > len(word):
                head = body[: -len(word)]
                # a one-character title only follows a bare surname: "王总", but not "王建工"
                if len(word) == 1 and len(head) > (2 if head[:2] in _COMPOUND else 1):
                    continue
                body, title = head, word
                break
        if not title and len(body) == 2 and body[0] in vocab.PREFIX_TITLES:
            body, title = body[1:], body[0]
        if body[:2] in _COMPOUND and len(body) >= 2:
            surname, given = body[:2], body[2:]
        else:
            surname, given = body[:1], body[1:]
        if title and len(given) > 2:
            # "王建国总" is rare; a long remainder means the "title" was part of the given name
            surname, given, title = folded[:1], folded[1:], ""
        return PersonName(
            typed=typed,
            folded=folded,
            surname=surname,
            given=given,
            title=title,
            # surnames compare by character: 徐/许 sound alike but are different families, and a
            # surname is rarely mistyped, unlike a given name
            full_key=surname + self._phonetic(given) if given else "",
            surname_key=surname,
        )

    @staticmethod
    def _person_latin(typed: str, text: str) -> PersonName:
        words = [w for w in re.split(r"[^0-9a-z]+", text.lower()) if w]
        title = ""
        if words and words[0] in _EN_TITLES:
            title = words.pop(0)
        if not words:
            return PersonName(
                typed=typed, folded="", surname="", given="", title=title, full_key="", surname_key=""
            )
        if len(words) == 1:
            # "Mr Wang" is a surname; a lone word without a title is a given name we cannot place
            surname, given = (words[0], "") if title else ("", words[0])
        else:
            surname, given = words[-1], " ".join(words[:-1])
        full = "".join(sorted(words)) if len(words) > 1 else (given or "")
        return PersonName(
            typed=typed,
            folded=" ".join(words),
            surname=surname,
            given=given,
            title=title,
            full_key=full,
            surname_key=surname,
        )
