"""Grouping a whole sheet: which rows are the same company, and which the same person.

The algorithm is blocking → scoring → guarded union-find, in a fixed order of evidence strength, so
that it stays linear in the number of rows (no all-pairs comparison) and a weak link can never chain
two strongly different groups together:

Companies
 1. Rows whose company name has the same core and the same city are one node ("公司名相同").
    A name without a city is its own node per row: it cannot yet be told which city's firm it is.
 2. Rows that share a mobile, an email or a landline join their nodes, unless the company names
    contradict each other (different city, different industry) or are wholly different.
 3. Blocks of nodes with the same core (then: the same brand) are merged only if the whole block is
    consistent: one city at most and compatible industries. "宏远食品" without a city, next to
    宏远食品 in 武汉 and another in 厦门, stays apart: guessing would risk a wrong merge.
Contacts, inside each company group
 1. Rows sharing a mobile or an email, or a landline with agreeing names.
 2. Rows with the same full name (characters or sound).
 3. Surname + title rows ("王总") join the one full-named person of that surname in the company,
    when there is exactly one; otherwise they join each other only.
Every union is guarded: a contact group never holds two different full names or two surnames; a
company group never holds two cities or two incompatible industries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from core.dedup.normalize import CompanyName, NormalizedRecord, PersonName
from core.dedup.score import (
    SUPPORT_MIN,
    Evidence,
    NameRelation,
    company_similarity,
    contact_evidence,
    industry_compatible,
    name_relation,
)

# Blocks larger than this are too common a value to mean anything (a switchboard number shared by a
# whole sheet, a brand like "华为" used by hundreds of firms): they are linked as a star or skipped,
# never compared all-pairs.
MAX_BLOCK = 200


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root


class _CompanyCluster:
    """A company group's city (at most one) and industries; tuples, not sets: a million of these."""

    __slots__ = ("city", "industries", "rows")

    def __init__(self, city: str = "", industries: tuple[str, ...] = (), rows: int = 0) -> None:
        self.city, self.industries, self.rows = city, industries, rows

    def compatible(self, other: _CompanyCluster, weak: bool = False) -> bool:
        if self.city and other.city and self.city != other.city:
            return False
        return all(industry_compatible(a, b) for a in self.industries for b in other.industries)

    def absorb(self, other: _CompanyCluster) -> None:
        self.city = self.city or other.city
        self.industries = tuple(dict.fromkeys(self.industries + other.industries))
        self.rows += other.rows


class _ContactCluster:
    """A contact group's surname (at most one), distinct full names and mobiles."""

    __slots__ = ("mobiles", "names", "surname")

    def __init__(
        self, surname: str = "", names: tuple[PersonName, ...] = (), mobiles: tuple[str, ...] = ()
    ) -> None:
        self.surname, self.names, self.mobiles = surname, names, mobiles

    @property
    def surnames(self) -> bool:
        return bool(self.surname)

    def compatible(self, other: _ContactCluster, weak: bool = False) -> bool:
        if self.surname and other.surname and self.surname != other.surname:
            return False
        if weak and self.mobiles and other.mobiles and set(self.mobiles).isdisjoint(other.mobiles):
            # a link by name alone must not join two people who each gave a different mobile
            return False
        ok = (NameRelation.SAME, NameRelation.SIMILAR)
        return all(name_relation(a, b) in ok for a in self.names for b in other.names)

    def absorb(self, other: _ContactCluster) -> None:
        self.surname = self.surname or other.surname
        self.mobiles = tuple(dict.fromkeys(self.mobiles + other.mobiles))
        keys = {n.full_key for n in self.names}
        self.names += tuple(n for n in other.names if n.full_key not in keys)


@dataclass(frozen=True, slots=True)
class Link:
    """Why a row is in its group: the strongest accepted link that touches it."""

    score: float
    reason: str


@dataclass(slots=True)
class BatchResult:
    contact_group: list[int]  # per row: index of the group's first row
    company_group: list[int]
    contact_link: list[Link | None]
    company_link: list[Link | None]

    def contact_groups(self) -> dict[int, list[int]]:
        return _members(self.contact_group)

    def company_groups(self) -> dict[int, list[int]]:
        return _members(self.company_group)


def _members(labels: Sequence[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        groups[label].append(row)
    return dict(groups)


class _Guarded:
    """Union-find over items whose clusters carry attributes that a union must keep consistent."""

    def __init__(self, n: int, make: Callable[[int], _CompanyCluster | _ContactCluster]) -> None:
        self.uf = _UnionFind(n)
        self.attrs = [make(i) for i in range(n)]
        self.best: list[Link | None] = [None] * n

    def find(self, x: int) -> int:
        return self.uf.find(x)

    def can_join(self, roots: Iterable[int]) -> bool:
        roots = list(dict.fromkeys(roots))
        merged = type(self.attrs[roots[0]])()
        for r in roots:
            if not merged.compatible(self.attrs[r]):  # type: ignore[arg-type]
                return False
            merged.absorb(self.attrs[r])  # type: ignore[arg-type]
        return True

    def union(self, a: int, b: int, evidence: Evidence, weak: bool = False) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if not self.attrs[ra].compatible(self.attrs[rb], weak):  # type: ignore[arg-type]
                return False
            if ra > rb:
                ra, rb = rb, ra
            self.uf.parent[rb] = ra
            self.attrs[ra].absorb(self.attrs[rb])  # type: ignore[arg-type]
            self.attrs[rb] = None  # type: ignore[call-overload]
        self._note(a, evidence)
        self._note(b, evidence)
        return True

    def _note(self, x: int, evidence: Evidence) -> None:
        current = self.best[x]
        if current is None or evidence.score > current.score:
            self.best[x] = Link(evidence.score, evidence.reason)


def _pairs(items: Sequence[int]) -> Iterable[tuple[int, int]]:
    """All pairs of a small block, a star around the first item of a large one."""
    if len(items) <= 20:
        for i, a in enumerate(items):
            for b in items[i + 1 :]:
                yield a, b
    else:
        for b in items[1:]:
            yield items[0], b


def group_records(records: Sequence[NormalizedRecord], auto: float = 90.0) -> BatchResult:
    """Groups rows into companies, then contacts within companies. Linear in len(records)."""
    company_of, company_link = _group_companies(records, auto)
    contact_of, contact_link = _group_contacts(records, company_of, auto)
    return BatchResult(
        contact_group=contact_of,
        company_group=company_of,
        contact_link=contact_link,
        company_link=company_link,
    )


# ---------------------------------------------------------------- companies


# (name attribute, whether a merge needs a shared contact name as well): exact spellings are trusted
# when the whole block agrees; spellings that only sound alike ("弘安"/"宏安") may be typos or may be
# two firms, so they are merged only where the same person is seen under both.
TYPO_MAJORITY = 3
BLOCK_PASSES: tuple[tuple[str, bool], ...] = (
    ("core", False),
    ("brand", False),
    ("core_key", True),
    ("brand_key", True),
)


def _merge_block(
    g: _Guarded,
    nodes: list[int],
    node_name: list[CompanyName],
    node_rows: list[list[int]],
    people: dict[int, set[str]],
    need_support: bool,
    auto: float,
) -> None:
    roots = list(dict.fromkeys(g.find(n) for n in nodes))
    if len(roots) < 2:
        return
    rep = {}
    for n in nodes:  # the best-described node of each cluster speaks for it
        r = g.find(n)
        if r not in rep or (bool(node_name[n].city), len(node_rows[n])) > (
            bool(node_name[rep[r]].city),
            len(node_rows[rep[r]]),
        ):
            rep[r] = n
    if not need_support and g.can_join(roots):
        anchor = max(roots, key=lambda r: (bool(node_name[rep[r]].city), len(node_rows[rep[r]])))
        for r in roots:
            ev = company_similarity(node_name[rep[anchor]], node_name[rep[r]])
            if r != anchor and ev.score >= auto:
                g.union(rep[anchor], rep[r], ev)
        return
    if len(roots) > 50:
        return
    # the same person's full name under both spellings: link, unless a city-less side is ambiguous
    partners: dict[int, list[int]] = defaultdict(list)
    why: dict[tuple[int, int], str] = {}
    for i, a in enumerate(roots):
        for b in roots[i + 1 :]:
            if not g.attrs[a].compatible(g.attrs[b]):
                continue
            na, nb = node_name[rep[a]], node_name[rep[b]]
            small, large = sorted((g.attrs[a].rows, g.attrs[b].rows))
            # in one city, a spelling seen once beside a well-attested one that sounds the same is a
            # typo of it; without a city it could as well be another city's firm
            typo = (
                na.core != nb.core
                and na.city is not None
                and na.city == nb.city
                and small == 1
                and large >= TYPO_MAJORITY
            )
            if typo or people.get(a, set()) & people.get(b, set()):
                partners[a].append(b)
                partners[b].append(a)
                why[(min(a, b), max(a, b))] = "同城同音，少见写法" if typo else "联系人姓名相同"
    for a, bs in partners.items():
        for b in bs:
            if a > b:
                continue
            if not (node_name[rep[a]].city or len(partners[a]) == 1):
                continue
            if not (node_name[rep[b]].city or len(partners[b]) == 1):
                continue
            ev = company_similarity(node_name[rep[a]], node_name[rep[b]])
            if ev.score < SUPPORT_MIN:
                continue
            ra, rb = g.find(a), g.find(b)
            if g.union(rep[a], rep[b], Evidence(max(ev.score, auto), (*ev.reasons, why[(a, b)]))):
                people[g.find(a)] = people.get(ra, set()) | people.get(rb, set())


def _group_companies(records: Sequence[NormalizedRecord], auto: float) -> tuple[list[int], list[Link | None]]:
    node_of_key: dict[tuple[str, str], int] = {}
    node_name: list[CompanyName] = []
    node_rows: list[list[int]] = []
    row_node: list[int] = []
    for i, rec in enumerate(records):
        c = rec.company
        key = (c.core, c.city) if (c.city and not c.empty) else (c.core, f"#{i}")
        node = node_of_key.get(key)  # type: ignore[arg-type]
        if node is None:
            node = node_of_key[key] = len(node_name)  # type: ignore[index]
            node_name.append(c)
            node_rows.append([])
        node_rows[node].append(i)
        row_node.append(node)

    def make(n: int) -> _CompanyCluster:
        c = node_name[n]
        return _CompanyCluster(c.city or "", (c.industry_key,) if c.industry_key else (), len(node_rows[n]))

    g = _Guarded(len(node_name), make)
    for n, rows in enumerate(node_rows):
        if len(rows) > 1:
            g.best[n] = Link(97.0, "公司名相同")

    # 2. a person's phone or email seen under two company names
    by_contact: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        for key in (*rec.mobiles, *rec.landlines, *(f"@{e}" for e in rec.emails)):
            by_contact[key].append(row_node[i])
    edges: list[tuple[float, int, int, Evidence]] = []
    for key, nodes in by_contact.items():
        distinct = list(dict.fromkeys(nodes))
        if len(distinct) < 2:
            continue
        what = "邮箱相同" if key.startswith("@") else "手机号相同" if key.startswith("1") else "座机相同"
        for a, b in _pairs(distinct):
            names = company_similarity(node_name[a], node_name[b])
            if names.conflict:
                continue
            if not (node_name[a].empty or node_name[b].empty) and names.score < 50.0:
                continue
            ev = Evidence(max(names.score, 95.0), (what, *names.reasons))
            edges.append((ev.score, a, b, ev))
    edges.sort(key=lambda e: -e[0])
    for _, a, b, ev in edges:
        g.union(a, b, ev)

    # 3. blocks of nodes with the same name, in decreasing order of certainty
    people: dict[int, set[str]] = defaultdict(set)  # cluster root -> full names of its contacts
    for n, rows in enumerate(node_rows):
        for i in rows:
            if records[i].name.is_full:
                people[g.find(n)].add(records[i].name.full_key)
    for attr, need_support in BLOCK_PASSES:
        blocks: dict[str, list[int]] = defaultdict(list)
        for n, c in enumerate(node_name):
            key = getattr(c, attr)
            if key:
                blocks[key].append(n)
        for nodes in blocks.values():
            if 1 < len(nodes) <= MAX_BLOCK:
                _merge_block(g, nodes, node_name, node_rows, people, need_support, auto)

    first_row: dict[int, int] = {}
    company_of: list[int] = []
    links: list[Link | None] = []
    for i in range(len(records)):
        root = g.find(row_node[i])
        company_of.append(first_row.setdefault(root, i))
    sizes: dict[int, int] = defaultdict(int)
    for label in company_of:
        sizes[label] += 1
    for i in range(len(records)):
        links.append(g.best[row_node[i]] if sizes[company_of[i]] > 1 else None)
    return company_of, links


# ---------------------------------------------------------------- contacts


def _group_contacts(
    records: Sequence[NormalizedRecord], company_of: Sequence[int], auto: float
) -> tuple[list[int], list[Link | None]]:
    def make(i: int) -> _ContactCluster:
        name = records[i].name
        return _ContactCluster(name.surname_key, (name,) if name.is_full else (), records[i].mobiles)

    g = _Guarded(len(records), make)

    # 1. shared mobile, email or landline inside one company
    by_contact: dict[tuple[int, str], list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        for key in (*rec.mobiles, *rec.landlines, *(f"@{e}" for e in rec.emails)):
            by_contact[(company_of[i], key)].append(i)
    edges: list[tuple[float, int, int, Evidence]] = []
    for (_, key), rows in by_contact.items():
        if len(rows) < 2:
            continue
        if len(rows) > MAX_BLOCK and not (key.startswith("1") or key.startswith("@")):
            continue  # a switchboard: says nothing about who answered
        for a, b in _pairs(rows):
            ev = contact_evidence(records[a], records[b], same_company=True)
            if ev.score >= auto:
                edges.append((ev.score, a, b, ev))
    edges.sort(key=lambda e: -e[0])
    for _, a, b, ev in edges:
        g.union(a, b, ev)

    # 2. the same full name inside one company
    by_name: dict[tuple[int, str], list[int]] = defaultdict(list)
    by_surname: dict[tuple[int, str], list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        if rec.name.is_full:
            by_name[(company_of[i], rec.name.full_key)].append(i)
        if rec.name.surname_key:
            by_surname[(company_of[i], rec.name.surname_key)].append(i)
    same_name = Evidence(93.0, ("同一公司", "姓名相同"))
    for rows in by_name.values():
        for b in rows[1:]:
            g.union(rows[0], b, same_name)

    # 3. "王总" rows: to the one full-named 王 of the company, or to each other
    for rows in by_surname.values():
        roots = list(dict.fromkeys(g.find(i) for i in rows))
        if len(roots) < 2:
            continue
        named = [r for r in roots if g.attrs[r].names]  # type: ignore[union-attr]
        titled = [r for r in roots if not g.attrs[r].names]  # type: ignore[union-attr]
        if len(named) > 1 or not titled:
            continue
        target = named[0] if named else titled[0]
        surname = records[target].name.surname
        ev = (
            Evidence(90.0, ("同一公司", f"该公司仅一位{surname}姓联系人"))
            if named
            else Evidence(85.0, ("同一公司", "同姓（称呼）"))
        )
        for r in titled:
            if r != target:
                g.union(target, r, ev, weak=True)

    # 4. rows without a name: the company's only named person, if it has exactly one
    by_company: dict[int, list[int]] = defaultdict(list)
    for i in range(len(records)):
        by_company[company_of[i]].append(i)
    only_one = Evidence(80.0, ("同一公司", "未写姓名，该公司仅一位联系人"))
    for rows in by_company.values():
        if len(rows) < 2:
            continue
        roots = list(dict.fromkeys(g.find(i) for i in rows))
        named = [r for r in roots if g.attrs[r].surnames]  # type: ignore[union-attr]
        if len(named) != 1:
            continue
        for i in rows:
            rec = records[i]
            # only rows that say nothing about who they are; a row with its own number may be anyone
            if rec.name.empty and not rec.phones and not rec.emails:
                g.union(named[0], i, only_one, weak=True)

    first_row: dict[int, int] = {}
    contact_of = [first_row.setdefault(g.find(i), i) for i in range(len(records))]
    sizes: dict[int, int] = defaultdict(int)
    for label in contact_of:
        sizes[label] += 1
    links = [g.best[i] if sizes[contact_of[i]] > 1 else None for i in range(len(records))]
    return contact_of, links
