"""Pair scoring: bands, evidence texts, and contradictions that must cap a score."""

from __future__ import annotations

import pytest

from bot.textconv import make_normalizer
from core.dedup.normalize import Normalizer
from core.dedup.score import NameRelation, company_similarity, name_relation, score_pair


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    return make_normalizer()


def sim(norm: Normalizer, a: str, b: str):
    return company_similarity(norm.company(a), norm.company(b))


def test_same_company_written_differently_is_certain(norm: Normalizer) -> None:
    ev = sim(norm, "成都恒嘉网络科技有限公司", "恒嘉网络科技（成都）股份有限公司")
    assert ev.score >= 95 and ev.reasons == ("公司名相同",) and not ev.conflict


def test_missing_city_and_short_names_still_link(norm: Normalizer) -> None:
    assert sim(norm, "成都恒嘉网络科技有限公司", "恒嘉网络科技").score >= 90
    ev = sim(norm, "成都恒嘉网络科技有限公司", "恒嘉")
    assert ev.score >= 90 and "简称" in ev.reason


def test_contradictions_are_conflicts(norm: Normalizer) -> None:
    city = sim(norm, "成都恒嘉网络科技有限公司", "重庆恒嘉网络科技有限公司")
    industry = sim(norm, "博联宠物用品有限公司", "博联建材有限公司")
    assert city.conflict and city.score < 70 and "城市不同" in city.reason
    assert industry.conflict and industry.score < 70


def test_sound_alike_or_one_character_off_is_only_a_question(norm: Normalizer) -> None:
    assert 70 <= sim(norm, "济南鸣宏食品有限公司", "济南明宏食品有限公司").score < 90
    similar = sim(norm, "通禾软件有限公司", "通木软件有限公司")
    assert 50 <= similar.score < 90 and similar.reason.startswith("公司名相似")


@pytest.mark.parametrize(
    ("a", "b", "relation"),
    [
        ("范伟建", "范玮建", NameRelation.SAME),
        ("范伟建", "范伟健", NameRelation.SAME),
        ("范伟建", "范伟林", NameRelation.SIMILAR),
        ("范总", "范伟建", NameRelation.COMPATIBLE),
        ("", "范伟建", NameRelation.UNKNOWN),
        ("范伟建", "李伟建", NameRelation.CONFLICT),
        ("范伟", "范国庆", NameRelation.CONFLICT),
    ],
)
def test_name_relation(norm: Normalizer, a: str, b: str, relation: NameRelation) -> None:
    assert name_relation(norm.person(a), norm.person(b)) is relation


def test_pair_evidence_in_chinese(norm: Normalizer) -> None:
    a = norm.record("a", "侯倩", "成都恒嘉网络科技有限公司", "174-8490-7570")
    b = norm.record("b", "侯总", "恒嘉网络科技", "+86 17484907570")
    pair = score_pair(a, b)
    assert pair.contact.score >= 90 and "手机号相同" in pair.contact.reasons
    assert pair.company.score >= 90


def test_shared_mobile_with_different_names_is_not_certain(norm: Normalizer) -> None:
    a = norm.record("a", "侯倩", "恒嘉网络科技", "17484907570")
    b = norm.record("b", "李强", "恒嘉网络科技", "17484907570")
    assert score_pair(a, b).contact.score < 70


def test_switchboard_needs_agreeing_names(norm: Normalizer) -> None:
    a = norm.record("a", "王芳", "恒嘉网络科技", "0571-88886666")
    b = norm.record("b", "李强", "恒嘉网络科技", "0571 8888 6666")
    c = norm.record("c", "王芳", "杭州恒嘉网络科技有限公司", "057188886666")
    assert score_pair(a, b).contact.score < 70
    assert score_pair(a, b).company.score >= 90
    assert score_pair(a, c).contact.score >= 90


def test_a_narrower_industry_with_the_same_brand_is_asked_not_linked() -> None:
    from bot.textconv import make_normalizer
    from core.dedup.score import company_similarity

    n = make_normalizer()
    evidence = company_similarity(n.company("恒康医疗"), n.company("恒康医疗器械有限公司"))
    assert 70 <= evidence.score < 90 and not evidence.conflict
    assert company_similarity(n.company("恒康医疗"), n.company("恒康餐饮")).conflict
