from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.pipeline import Pipeline
from core.validation import normalize_phone, require_phone


@pytest.mark.parametrize(("raw", "expected"), [
    ("138 1234 5678", "13812345678"),
    ("+86 139 0158 7726", "13901587726"),
    ("0086-139-0158-7726", "13901587726"),
    ("８６１３９０１５８７７２６", "13901587726"),
    ("１３８１２３４５６７８", "13812345678"),
    ("tel:138.1234.5678", "13812345678"),
    ("0571-8723 6610", "057187236610"),
    ("(010) 8888 6666", "01088886666"),
    ("+86 571 8723 6610", "057187236610"),
    ("12345", None),
    ("1381234567", None),
    ("abc", None),
    ("23812345678", None),
])
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


def test_require_phone_explains_the_format() -> None:
    with pytest.raises(InvalidInput) as err:
        require_phone("12345")
    assert "11 位" in err.value.user_text()


def test_pipeline_resolves_names_keys_and_suggests_the_closest() -> None:
    p = Pipeline()
    assert p.resolve("报价").key == "quote"
    assert p.resolve("quote").name == "报价"
    assert p.first.key == "lead"
    with pytest.raises(InvalidInput) as err:
        p.resolve("报家")
    assert "报价" in err.value.user_text()
