"""Grouping a sheet: links that must happen, and guards against chaining wrong merges."""

from __future__ import annotations

import pytest

from bot.textconv import make_normalizer
from core.dedup.batch import group_records
from core.dedup.normalize import NormalizedRecord, Normalizer


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    return make_normalizer()


def sheet(norm: Normalizer, rows: list[tuple[str, str, str]]) -> list[NormalizedRecord]:
    """rows: (name, company, phone)."""
    return [norm.record(f"r{i}", name, company, phone) for i, (name, company, phone) in enumerate(rows)]


def same(labels: list[int], *rows: int) -> bool:
    return len({labels[r] for r in rows}) == 1


def test_variants_of_one_person_and_company_group_together(norm: Normalizer) -> None:
    res = group_records(
        sheet(
            norm,
            [
                ("侯倩", "成都恒嘉网络科技有限公司", "174-8490-7570"),
                ("侯倩", "恒嘉网络科技", "+86-174-8490-7570"),
                ("侯总", "恒嘉网络科技(成都)股份有限公司", "17484907570"),
                ("侯倩", "成都恒嘉网络科技", ""),
                ("李强", "成都 恒嘉网络科技 有限公司", "13912345678"),
            ],
        )
    )
    assert same(res.company_group, 0, 1, 2, 3, 4)
    assert same(res.contact_group, 0, 1, 2, 3)
    assert not same(res.contact_group, 0, 4)
    assert res.contact_link[1] is not None and "手机号相同" in res.contact_link[1].reason
    assert res.contact_link[4] is None


def test_a_name_without_city_is_not_guessed_between_two_cities(norm: Normalizer) -> None:
    res = group_records(
        sheet(
            norm,
            [
                ("王芳", "武汉宏远食品有限公司", "13900000001"),
                ("王芳", "宏远食品(武汉)有限公司", "13900000001"),
                ("李强", "厦门宏远食品有限公司", "13900000002"),
                ("赵敏", "宏远食品", ""),  # which one? nobody can tell
                ("李强", "宏远食品", ""),  # the same person's name says it is the 厦门 firm
            ],
        )
    )
    assert not same(res.company_group, 0, 2)
    assert not same(res.company_group, 3, 0) and not same(res.company_group, 3, 2)
    assert same(res.company_group, 4, 2)


def test_industries_that_differ_keep_firms_apart(norm: Normalizer) -> None:
    res = group_records(
        sheet(
            norm,
            [
                ("王芳", "西安博联宠物用品有限公司", ""),
                ("李强", "西安博联建材有限公司", ""),
                ("赵敏", "博联", ""),  # brand only: ambiguous between the two
            ],
        )
    )
    assert len(set(res.company_group)) == 3


def test_switchboard_does_not_merge_colleagues(norm: Normalizer) -> None:
    res = group_records(
        sheet(
            norm,
            [
                ("王芳", "杭州恒嘉科技有限公司", "0571-88886666"),
                ("李强", "杭州恒嘉科技有限公司", "0571 8888 6666"),
                ("王芳", "恒嘉科技", "057188886666"),
            ],
        )
    )
    assert same(res.company_group, 0, 1, 2)
    assert same(res.contact_group, 0, 2) and not same(res.contact_group, 0, 1)


def test_title_rows_join_the_only_person_of_that_surname(norm: Normalizer) -> None:
    rows = [
        ("侯倩", "成都恒嘉网络科技有限公司", "17484907570"),
        ("侯总", "成都恒嘉网络科技有限公司", ""),
        ("李强", "成都恒嘉网络科技有限公司", "13912345678"),
        ("李经理", "成都恒嘉网络科技有限公司", "13700000000"),  # another mobile: another 李
    ]
    res = group_records(sheet(norm, rows))
    assert same(res.contact_group, 0, 1)
    assert not same(res.contact_group, 2, 3)


def test_two_full_names_never_share_a_contact_group(norm: Normalizer) -> None:
    # a shared mobile would chain 王芳 and 李强 through the row without a name; the guard stops it
    res = group_records(
        sheet(
            norm,
            [
                ("王芳", "恒嘉科技", "13900000001"),
                ("", "恒嘉科技", "13900000001"),
                ("李强", "恒嘉科技", "13900000001"),
            ],
        )
    )
    assert not same(res.contact_group, 0, 2)


def test_homophone_typo_merges_only_with_support(norm: Normalizer) -> None:
    base = [("蒋杰晨", "济南明宏食品有限公司", "15323011908")] * 3
    res = group_records(
        sheet(
            norm,
            [
                *base,
                ("蒋杰晨", "济南鸣宏食品有限公司", ""),  # same person's name: a typo
                ("刘洋", "济南兴华电子商务公司", "13611112222"),
                ("刘洋", "济南兴华电子商务有限公司", "13611112222"),
                ("孙丽", "济南星华电子商务公司", "13633334444"),  # two rows of their own: another firm
                ("孙丽", "星华电子商务(济南)有限公司", "13633334444"),
            ],
        )
    )
    assert same(res.company_group, 0, 3)
    assert not same(res.company_group, 4, 6)


def test_large_blocks_stay_linear(norm: Normalizer) -> None:
    rows = [
        (f"王{chr(0x4E00 + i)}{chr(0x4E10 + i % 7)}", "杭州恒嘉科技有限公司", "0571-88886666")
        for i in range(600)
    ]
    res = group_records(sheet(norm, rows))
    assert len(set(res.company_group)) == 1
    assert len(set(res.contact_group)) > 100
