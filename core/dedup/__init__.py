"""Duplicate detection for customers and contacts: normalize → block → score → decide or group.

Pure: standard library, pydantic and rapidfuzz only. Text converters (traditional → simplified,
sound keys) are injected through `Normalizer`; `bot.textconv.make_normalizer()` builds the real one.
"""

from core.dedup.batch import BatchResult, Link, group_records
from core.dedup.check import (
    CustomerInput,
    DedupDecision,
    DedupIndex,
    DedupMatch,
    DedupThresholds,
    ExistingRecord,
    check,
    normalize_input,
)
from core.dedup.evaluate import PairwiseScore, pairwise_score
from core.dedup.keys import blocking_keys
from core.dedup.normalize import (
    CompanyName,
    NormalizedRecord,
    Normalizer,
    PersonName,
    Phone,
    normalize_email,
    normalize_phone,
    normalize_phones,
)
from core.dedup.score import Evidence, NameRelation, company_similarity, name_relation, score_pair

__all__ = [
    "BatchResult",
    "CompanyName",
    "CustomerInput",
    "DedupDecision",
    "DedupIndex",
    "DedupMatch",
    "DedupThresholds",
    "Evidence",
    "ExistingRecord",
    "Link",
    "NameRelation",
    "NormalizedRecord",
    "Normalizer",
    "PairwiseScore",
    "PersonName",
    "Phone",
    "blocking_keys",
    "check",
    "company_similarity",
    "group_records",
    "name_relation",
    "normalize_email",
    "normalize_input",
    "normalize_phone",
    "normalize_phones",
    "pairwise_score",
    "score_pair",
]
