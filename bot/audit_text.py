"""Audit entries as a manager reads them in chat: Chinese names, local times, only what changed.

The log itself keeps the stable keys (exports and `crmbot audit` show them raw); this module is
only the chat rendering, so an unknown key is left out rather than shown as a technical word.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.handlers.common import fmt_amount
from core.model import CONCLUSION_NAMES_ZH, METHOD_NAMES_ZH, NEXT_ACTION_NAMES_ZH

ACTION_NAMES_ZH = {
    "customer.create": "新建客户",
    "contact.create": "新增联系人",
    "customer.invalid": "标记无效",
    "customer.reassign": "转派",
    "customer.handover": "离职交接",
    "customer.merge": "合并客户",
    "customer.unmerge": "撤销合并",
    "customer.dormant": "转入待激活",
    "customer.import": "导入客户",
    "deal.handover": "离职交接",
    "deal.open": "新建商机",
    "deal.stage": "阶段变更",
    "deal.lost": "标记流失",
    "deal.edit": "修改商机",
    "deal.edit_frozen": "修改冻结字段",
    "deal.snooze": "延期跟进",
    "approval.request": "提交审批",
    "approval.approved": "审批通过",
    "approval.rejected": "审批驳回",
    "approval.reassign": "审批改派",
    "evidence.attach": "上传证据",
    "followup.create": "记录跟进",
    "followup.amend": "修改跟进",
    "followup.void": "取消跟进",
    "call.recorded": "通话记录",
    "import.review": "导入审核",
    "read.sensitive": "查看受限字段",
    "read.export": "导出数据",
}
SUBJECT_NAMES_ZH = {
    "customer": "客户",
    "deal": "商机",
    "followup": "跟进",
    "contact": "联系人",
    "user": "同事",
    "approval": "审批",
    "alert": "提醒",
}
FIELD_NAMES_ZH = {
    "name": "名称",
    "title": "名称",
    "contact": "联系人",
    "phone": "电话",
    "email": "邮箱",
    "source": "来源",
    "stage": "阶段",
    "status": "状态",
    "lost_reason": "流失原因",
    "invalid_reason": "无效原因",
    "owner_id": "负责人",
    "amount": "金额",
    "products": "产品",
    "payment_terms": "付款条件",
    "competitor": "竞品",
    "next_followup_on": "下次跟进",
    "method": "方式",
    "conclusion": "结论",
    "next_action": "下一步",
    "reason": "原因",
    "field": "字段",
    "old": "原值",
    "new": "新值",
    "merged_into": "合并到",
    "note": "说明",
    "kind": "类型",
    "from_stage": "原阶段",
    "to_stage": "新阶段",
}
STATUS_NAMES_ZH = {
    "open": "进行中",
    "won": "已签约",
    "lost": "已流失",
    "active": "正常",
    "invalid": "无效",
    "merged": "已合并",
    "voided": "已取消",
    "pending": "待审批",
    "approved": "已批准",
    "rejected": "已驳回",
}
SOURCE_NAMES_ZH = {
    "chat": "聊天",
    "command": "命令",
    "voice": "语音",
    "card": "卡片",
    "import": "导入",
    "call": "通话",
    "api": "接口",
}
MAX_PARTS = 4


def action_name(action: str) -> str:
    return ACTION_NAMES_ZH.get(action, "其他操作")


def subject_name(subject_type: str, subject_id: str) -> str:
    return f"{SUBJECT_NAMES_ZH.get(subject_type, '记录')} #{subject_id}"


def change_text(
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    tz: ZoneInfo,
    stage_name: Callable[[str], str],
    user_name: Callable[[str], str],
) -> str:
    """「阶段：线索 → 初步接触；流失原因：价格太高」: changed or new values of the known fields."""

    def show(key: str, value: Any) -> str:
        return _value(key, value, tz, stage_name, user_name)

    parts = []
    for key, value in after.items():
        if key not in FIELD_NAMES_ZH:
            continue
        label = FIELD_NAMES_ZH[key]
        if key in before:
            if _same(before[key], value):
                continue
            parts.append(f"{label}：{show(key, before[key])} → {show(key, value)}")
        else:
            parts.append(f"{label}：{show(key, value)}")
        if len(parts) == MAX_PARTS:
            break
    return "：" + "；".join(parts) if parts else ""


def _same(a: Any, b: Any) -> bool:
    if a == "***" or b == "***":  # masked for this reader: the change is there, its values are not shown
        return False
    if a == b:
        return True
    da, db = _as_time(a), _as_time(b)  # the same instant written with another offset
    return da is not None and db is not None and da == db


def _as_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _value(
    key: str, value: Any, tz: ZoneInfo, stage_name: Callable[[str], str], user_name: Callable[[str], str]
) -> str:
    if value is None or value == "" or value == []:
        return "空"
    if isinstance(value, bool):
        return "是" if value else "否"
    when = _as_time(value)
    if when is not None:
        return when.astimezone(tz).strftime("%m-%d %H:%M")
    if key in ("amount", "old", "new") and isinstance(value, int | float):
        return fmt_amount(float(value))
    text = str(value)
    if key in ("stage", "from_stage", "to_stage"):
        return stage_name(text)
    if key == "status":
        return STATUS_NAMES_ZH.get(text, text)
    if key == "source":
        return SOURCE_NAMES_ZH.get(text, text)
    if key == "owner_id":
        return user_name(text)
    if key == "field":
        return FIELD_NAMES_ZH.get(text, text)
    names = {
        "method": METHOD_NAMES_ZH,
        "conclusion": CONCLUSION_NAMES_ZH,
        "next_action": NEXT_ACTION_NAMES_ZH,
    }
    if key in names:
        return next((zh for k, zh in names[key].items() if k.value == text), text)
    if isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 30 else text[:29] + "…"
