"""QA: a malformed call log is explained in Chinese (the CLI prints it, the API returns it with 400)."""

from __future__ import annotations

import pytest

from bot.calls import call_from_json
from core.errors import InvalidInput


def test_malformed_call_log_fields_are_explained_in_chinese() -> None:
    with pytest.raises(InvalidInput) as info:
        call_from_json(
            {
                "rep": "lisi",
                "customer_phone": "13812345678",
                "started_at": "昨天",
                "duration_s": -5,
                "transcript": "喂",
            }
        )
    text = info.value.user_text()
    assert "call_id（通话编号）缺少" in text
    assert "started_at（开始时间）" in text and "2026-03-10T10:00:00+08:00" in text
    assert "duration_s（通话时长，秒）" in text and "不能小于 0" in text
    assert "Input should" not in text and "Field required" not in text
