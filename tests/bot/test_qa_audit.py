"""QA: /审计 is read by managers: Chinese names for actions, fields and values, local times."""

from __future__ import annotations

import re

from bot.services import Services
from tests.transcript import replies, run


def test_audit_in_chat_has_no_technical_keys_or_utc_timestamps(services: Services) -> None:
    out = run(
        services,
        """
        !now 2026-03-10 10:00
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: 电话联系了恒康医疗的张伟，明天再打
        @zhangsan > 取消
        @zhangsan: /推进 恒康医疗 初步接触
        @zhangsan: /流失 恒康医疗 价格太高 客户嫌贵
        @lisi: /新客户 仁济康复 李经理 13912345678
        @zhaoqiang: /合并 恒康医疗 仁济康复 重复录入
        @zhaoqiang: /审计 恒康医疗
        @zhaoqiang: /审计 仁济康复
    """,
    )
    trail, merged = replies(out, "zhaoqiang")[-2:]
    assert "流失" in trail and "阶段" in trail and "已合并到「恒康医疗」" in merged
    assert "价格太高" in trail and "已流失" in trail
    for text in (trail, merged):
        assert re.search(r"[A-Za-z]{2,}", text.split(": ", 1)[1]) is None, text
        assert "+00:00" not in text and "T02:00" not in text
