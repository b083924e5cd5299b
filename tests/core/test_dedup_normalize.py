"""Normalization tables: phones, emails, company names and person names."""

from __future__ import annotations

import pytest

from bot.textconv import make_normalizer, to_phonetic, to_simplified
from core.dedup.normalize import Normalizer, normalize_email, normalize_phone, normalize_phones


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    return make_normalizer()


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("176 5779 7681", "17657797681"),
        ("+86-169-7833-0967", "16978330967"),
        ("+86 18749589525", "18749589525"),
        ("0086 13800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("tel:138.0013.8000", "13800138000"),
        ("＋８６ １３８ ００１３ ８０００", "13800138000"),
        ("020-4134-6059", "02041346059"),
        ("+86-027-3783-8306", "02737838306"),
        ("(0512)4971-1164", "051249711164"),
        ("+86 10 12345678", "01012345678"),
        ("0571-88888888转123", "057188888888"),
        ("", None),
        ("无", None),
    ],
)
def test_phone(typed: str, digits: str | None) -> None:
    assert normalize_phone(typed) == digits


def test_phone_kinds_and_several_in_one_cell() -> None:
    phones = normalize_phones("138 0013 8000 / 0571-88888888；138-0013-8000")
    assert [(p.digits, p.kind) for p in phones] == [("13800138000", "mobile"), ("057188888888", "landline")]


def test_email() -> None:
    assert normalize_email("  Wang.Li@Example.COM ") == "wang.li@example.com"
    assert normalize_email("无") is None


@pytest.mark.parametrize(
    ("typed", "core", "brand", "industry", "city"),
    [
        ("成都恒嘉网络科技有限公司", "恒嘉网络科技", "恒嘉", "网络科技", "成都"),
        ("恒嘉网络科技(成都)股份有限公司", "恒嘉网络科技", "恒嘉", "网络科技", "成都"),
        ("恒嘉网络科技（成都）有限责任公司", "恒嘉网络科技", "恒嘉", "网络科技", "成都"),
        ("成都 恒嘉网络科技 有限公司", "恒嘉网络科技", "恒嘉", "网络科技", "成都"),
        ("四川省成都市恒嘉网络科技有限公司", "恒嘉网络科技", "恒嘉", "网络科技", "成都"),
        ("成都恆嘉網絡科技有限公司", "恒嘉网络科技", "恒嘉", "网络科技", "成都"),
        ("恒嘉网络科技", "恒嘉网络科技", "恒嘉", "网络科技", None),
        ("恒嘉", "恒嘉", "恒嘉", "", None),
        ("恒嘉集团", "恒嘉", "恒嘉", "", None),
        # a place-like brand stays the brand when nothing would be left
        ("永康网络科技股份有限公司", "永康网络科技", "永康", "网络科技", None),
        ("温州永康网络科技", "永康网络科技", "永康", "网络科技", "温州"),
        # a mistyped city that sounds like one is still a city
        ("宁博广金建材", "广金建材", "广金", "建材", "宁波"),
    ],
)
def test_company(
    norm: Normalizer, typed: str, core: str, brand: str, industry: str, city: str | None
) -> None:
    c = norm.company(typed)
    assert (c.core, c.brand, c.industry, c.city) == (core, brand, industry, city)
    assert c.typed == typed


def test_company_latin_and_typos_by_sound(norm: Normalizer) -> None:
    assert norm.company("Huawei Technologies Co., Ltd.").core == "huaweitechnologies"
    assert norm.company("济南鸣宏食品有限公司").core_key == norm.company("明宏食品(济南)有限公司").core_key
    assert norm.company("明宏食品").core_key != norm.company("明达食品").core_key


@pytest.mark.parametrize(
    ("typed", "surname", "given", "title"),
    [
        ("范伟建", "范", "伟建", ""),
        ("范总", "范", "", "总"),
        ("范总监", "范", "", "总监"),
        ("张三经理", "张", "三", "经理"),
        ("欧阳娜娜", "欧阳", "娜娜", ""),
        ("欧阳总", "欧阳", "", "总"),
        ("老王", "王", "", "老"),
        ("王建工", "王", "建工", ""),
        ("李女士", "李", "", "女士"),
        ("", "", "", ""),
    ],
)
def test_person(norm: Normalizer, typed: str, surname: str, given: str, title: str) -> None:
    p = norm.person(typed)
    assert (p.surname, p.given, p.title) == (surname, given, title)
    assert p.typed == typed


def test_person_homophones_share_a_key_but_surnames_compare_by_character(norm: Normalizer) -> None:
    assert norm.person("范伟建").full_key == norm.person("范玮建").full_key
    assert norm.person("徐颖明").full_key != norm.person("许颖明").full_key


def test_record_keeps_typed_text(norm: Normalizer) -> None:
    rec = norm.record("r1", "侯总", "恒嘉网络科技(成都)股份有限公司", "+86-174-8490-7570", "Hou@X.cn")
    assert rec.name.typed == "侯总" and rec.company.typed == "恒嘉网络科技(成都)股份有限公司"
    assert rec.phone_typed == "+86-174-8490-7570" and rec.email_typed == "Hou@X.cn"
    assert rec.mobiles == ("17484907570",) and rec.emails == ("hou@x.cn",)


def test_injected_converters_are_used() -> None:
    plain = Normalizer()  # identity converters: traditional text is not folded
    assert plain.company("恆嘉網絡科技").core != "恒嘉网络科技"
    assert to_simplified("恆嘉網絡") == "恒嘉网络"
    assert to_phonetic("明宏") == to_phonetic("鸣宏")
