import pytest

from bot.nlp.normalize import fold
from bot.nlp.phone import find_phones, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 139 0158 7726", "13901587726"),
        ("0086-133-0651-0098", "13306510098"),
        ("8613812345678", "13812345678"),
        ("+8618620193357", "18620193357"),
        ("１３８５１４７２２０６", "13851472206"),  # full-width digits
        ("138.1234.5678", "13812345678"),
        ("0571-8723 6610", "057187236610"),
        ("(0755)2661-3390", "075526613390"),
        ("（０２５）８４６１－３３２０", "02584613320"),
        ("+86 571 8723 6610", "057187236610"),  # international landline without the trunk 0
        ("12345", None),
        ("", None),
        ("23812345678", None),
    ],
)
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("张伟 138 1234 5678，关注交付", ["13812345678"]),
        ("他电话150-1234-8876", ["15012348876"]),
        ("座机(025)8461-3320，手机 13705218890", ["02584613320", "13705218890"]),
        ("订单号20261015003已发货", []),
        ("跟进单号SO-20260828-117：已报价", []),
        ("预算50万，20台，下周三", []),
        ("2026-03-18 下午三点", []),
    ],
)
def test_find_phones(text: str, numbers: list[str]) -> None:
    assert [p.number for p in find_phones(fold(text))] == numbers


def test_a_colleagues_number_is_low_confidence() -> None:
    (match,) = find_phones("细节找同事小马 13770091234")
    assert match.confidence < 0.5


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("她 手机号 是 一三八 零五七一 二二六九", "13805712269"),
        ("手机幺三九零一五八七七二六", "13901587726"),
        ("电话 一二三", None),  # not a number
    ],
)
def test_a_mobile_read_out_digit_by_digit(text: str, number: str | None) -> None:
    found = find_phones(text)
    assert (found[0].number if found else None) == number
