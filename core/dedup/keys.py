"""Blocking keys: the few index entries under which a record can be found by a likely duplicate.

Storage indexes these strings (key → record ids) so that the real-time check fetches a handful of
candidates instead of scanning the table. Prefixes keep the key kinds apart:
  p:<phone digits>            exact phone (mobile or landline)
  e:<email>                   exact email
  c:<core>                    exact normalized company (no place, no legal form)
  s:<sound of core>           the same company name by sound (明宏/鸣宏)
  b:<sound of brand>          the brand alone, so "恒嘉" finds 成都恒嘉网络科技有限公司
  g:<char>|<industry sound>   character n-grams of the core: each brand character with the industry,
                              so a brand with one mistyped character still shares a key
"""

from __future__ import annotations

from core.dedup.normalize import NormalizedRecord

# Keys that identify at most a few records; others are "common" keys that an index may cap.
EXACT_PREFIXES = ("p:", "e:", "c:", "s:")


def company_keys(record: NormalizedRecord) -> set[str]:
    c = record.company
    if c.empty:
        return set()
    keys = {f"c:{c.core}", f"s:{c.core_key}"}
    if c.brand_key:
        keys.add(f"b:{c.brand_key}")
    if len(c.brand) >= 2:
        keys.update(f"g:{ch}|{c.industry_key}" for ch in c.brand)
    return keys


def blocking_keys(record: NormalizedRecord) -> set[str]:
    """All blocking keys of a record (see the module doc for their kinds)."""
    keys = {f"p:{p.digits}" for p in record.phones}
    keys.update(f"e:{e}" for e in record.emails)
    keys |= company_keys(record)
    return keys


def is_exact_key(key: str) -> bool:
    return key.startswith(EXACT_PREFIXES)
