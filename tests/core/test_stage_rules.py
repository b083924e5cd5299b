"""Stage rules as plain functions (table-driven), and the stage use cases on the in-memory unit of work."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from core.errors import Conflict, InvalidInput, PermissionDenied
from core.model import Deal, DealStatus, FollowUp, FollowUpSource, Method, Role, User
from core.stages import (
    EvidenceSummary,
    PipelineConfig,
    StageRules,
    dwell_days,
    dwell_limit_days,
    missing_evidence,
)
from core.usecases import stages as uc
from core.usecases.customers import ExactDuplicateCheck, NewCustomer, create_customer
from core.workcal import WorkCalendar
from tests.fakes.uow import FakeUnitOfWork

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
RULES = StageRules()
REP = User("zhangsan", "张三", frozenset({Role.REP}), team="A", manager_id="boss")
REP2 = User("lisi", "李四", frozenset({Role.REP}), team="A", manager_id="boss")
MANAGER = User("boss", "赵强", frozenset({Role.MANAGER}), team="A")
OTHER_MANAGER = User("boss2", "钱敏", frozenset({Role.MANAGER}), team="B")


def deal(stage: str = "lead", **fields: object) -> Deal:
    return Deal(1, 1, "zhangsan", "恒康医疗 商机", stage, **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- pure rules
@pytest.mark.parametrize(
    ("target", "fields", "evidence", "expected"),
    [
        ("qualified", {}, EvidenceSummary(), []),
        ("needs_confirmed", {}, EvidenceSummary(), []),
        ("demo", {}, EvidenceSummary(), ["上传需求文档，或至少 2 次有效通话（目前 0 次）"]),
        ("demo", {}, EvidenceSummary(effective_calls=1), ["上传需求文档，或至少 2 次有效通话（目前 1 次）"]),
        ("demo", {}, EvidenceSummary(effective_calls=2), []),
        ("demo", {}, EvidenceSummary(frozenset({"requirements"})), []),
        (
            "demo",
            {},
            EvidenceSummary(frozenset({"quote"}), 1),
            ["上传需求文档，或至少 2 次有效通话（目前 1 次）"],
        ),
        ("quote", {}, EvidenceSummary(), ["填写金额"]),
        ("quote", {"amount": 500000.0}, EvidenceSummary(), []),
        ("contract_review", {"amount": 1.0}, EvidenceSummary(), ["上传报价单"]),
        ("contract_review", {}, EvidenceSummary(frozenset({"quote"})), []),
        ("won", {}, EvidenceSummary(frozenset({"quote"})), ["上传合同扫描件"]),
        ("won", {}, EvidenceSummary(frozenset({"contract"})), []),
        ("lost", {}, EvidenceSummary(), []),
    ],
)
def test_missing_evidence(
    target: str, fields: dict[str, object], evidence: EvidenceSummary, expected: list[str]
) -> None:
    assert missing_evidence(deal(**fields), target, evidence) == expected


@pytest.mark.parametrize(
    ("stage", "limit"),
    [
        ("lead", 5),
        ("qualified", 5),
        ("needs_confirmed", 5),
        ("demo", 5),
        ("quote", 3),
        ("contract_review", 5),
        ("won", None),
        ("lost", None),
        ("nonexistent", None),
    ],
)
def test_dwell_limits(stage: str, limit: int | None) -> None:
    assert dwell_limit_days(stage) == limit


@pytest.mark.parametrize(
    ("stage", "frozen"),
    [
        ("lead", []),
        ("quote", []),
        ("contract_review", []),
        ("won", ["amount", "products", "payment_terms"]),
        ("lost", []),
    ],
)
def test_frozen_fields(stage: str, frozen: list[str]) -> None:
    assert RULES.frozen_fields(stage) == frozen


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("价格太高", "价格太高"),
        ("竞品", "选择了竞品"),
        ("预算", "预算取消"),
        ("项目暂停", "项目暂停"),
    ],
)
def test_lost_reason_from_the_configured_list(text: str, expected: str) -> None:
    assert RULES.resolve_lost_reason(text) == expected


@pytest.mark.parametrize("text", ["", "天气不好", "x"])
def test_unknown_lost_reason_lists_the_options(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        RULES.resolve_lost_reason(text)
    assert "可选原因：价格太高" in err.value.message


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("需求文档", "requirements"),
        ("需求", "requirements"),
        ("requirements", "requirements"),
        ("报价单", "quote"),
        ("报价", "quote"),
        ("合同", "contract"),
        ("合同扫描件", "contract"),
        ("恒康医疗", None),
        ("需", None),
    ],
)
def test_attachment_kind_words(text: str, kind: str | None) -> None:
    assert RULES.resolve_kind(text) == kind


@pytest.mark.parametrize(("text", "key"), [("报价", "quote"), ("quote", "quote"), ("方案演示", "demo")])
def test_stage_names_resolve(text: str, key: str) -> None:
    assert RULES.resolve(text).key == key


def test_unknown_stage_suggests_the_closest() -> None:
    with pytest.raises(InvalidInput) as err:
        RULES.resolve("报介")
    assert "报价" in err.value.hint


@pytest.mark.parametrize(
    ("entered", "today", "with_calendar", "days"),
    [
        (date(2026, 3, 6), date(2026, 3, 9), True, 1),  # Friday → Monday: one working day
        (date(2026, 3, 6), date(2026, 3, 9), False, 3),
        (date(2026, 3, 10), date(2026, 3, 10), True, 0),
        (date(2026, 9, 30), date(2026, 10, 8), True, 1),  # across the National Day holiday
    ],
)
def test_dwell_days(entered: date, today: date, with_calendar: bool, days: int) -> None:
    holidays = {date(2026, 10, d): "国庆节" for d in range(1, 8)}
    calendar = WorkCalendar(holidays) if with_calendar else None
    assert dwell_days(entered, today, calendar) == days


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"stages": [{"key": "a", "name": "甲"}, {"key": "a", "name": "乙"}]}, "duplicate stage key"),
        ({"stages": [{"key": "a", "name": "甲"}]}, "outcome"),
        (
            {
                "stages": [
                    {"key": "a", "name": "甲", "entry": [{"attachments": ["photo"]}]},
                    {"key": "w", "name": "赢", "outcome": "won"},
                    {"key": "l", "name": "输", "outcome": "lost"},
                ]
            },
            "unknown attachment kind",
        ),
        (
            {
                "stages": [
                    {"key": "a", "name": "甲", "freeze_on_entry": ["colour"]},
                    {"key": "w", "name": "赢", "outcome": "won"},
                    {"key": "l", "name": "输", "outcome": "lost"},
                ]
            },
            "unknown field",
        ),
        ({"lost_reasons": []}, "lost_reasons"),
    ],
)
def test_bad_pipeline_config_is_refused(raw: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        PipelineConfig.model_validate(raw)


def test_a_configured_pipeline_replaces_the_default() -> None:
    rules = StageRules.from_settings(
        {
            "stages": [
                {"key": "lead", "name": "线索"},
                {"key": "visit", "name": "上门", "entry": [{"effective_calls": 1}], "max_dwell_days": 2},
                {"key": "won", "name": "成交", "outcome": "won", "freeze_on_entry": ["amount"]},
                {"key": "lost", "name": "丢单", "outcome": "lost"},
            ],
            "lost_reasons": ["太贵"],
        }
    )
    assert [s.name for s in rules.pipeline.stages] == ["线索", "上门", "成交", "丢单"]
    assert rules.missing_evidence(deal(), "visit", EvidenceSummary()) == ["至少 1 次有效通话（目前 0 次）"]
    assert rules.dwell_limit_days("visit") == 2 and rules.frozen_fields("won") == ["amount"]
    assert rules.resolve_lost_reason("太贵") == "太贵"


# ---------------------------------------------------------------------------- use cases
class Files:
    """A FileStore over a temp directory (our own port, not a mock)."""

    def __init__(self, root: Path) -> None:
        from storage.files import LocalFileStore

        self.store = LocalFileStore(root)

    def stat(self, path: str) -> int | None:
        return self.store.stat(path)

    def put(self, path: str) -> tuple[str, str]:
        return self.store.put(path)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    u = FakeUnitOfWork()
    for user in (REP, REP2, MANAGER, OTHER_MANAGER):
        u.users.save(user)
    return u


def new_deal(uow: FakeUnitOfWork) -> Deal:
    result = create_customer(
        uow, REP, NewCustomer("恒康医疗"), NOW, dedup=ExactDuplicateCheck(), pipeline=RULES.pipeline
    )
    assert result.deal is not None
    return result.deal


def kinds(uow: FakeUnitOfWork) -> list[str]:
    return [c.kind for c in uow.history.stage]


def move(uow: FakeUnitOfWork, d: Deal, *stages: str) -> Deal:
    for stage in stages:
        assert uc.advance(uow, REP, d, stage, NOW, rules=RULES).moved
    return uow.deals.get(d.id or 0) or d


def test_skipping_is_refused_recorded_and_names_the_next_stage_evidence(uow: FakeUnitOfWork) -> None:
    d = move(uow, new_deal(uow), "qualified", "needs_confirmed")
    result = uc.advance(uow, REP, d, "quote", NOW, rules=RULES)
    assert not result.moved and uow.deals.get(d.id or 0).stage == "needs_confirmed"
    assert "方案演示" in result.message and "上传需求文档" in result.message
    assert kinds(uow)[-1] == "refused" and uow.history.stage[-1].to_stage == "quote"


def test_evidence_gates_the_next_stage(uow: FakeUnitOfWork, tmp_path: Path) -> None:
    d = move(uow, new_deal(uow), "qualified", "needs_confirmed")
    refused = uc.advance(uow, REP, d, "demo", NOW, rules=RULES)
    assert not refused.moved and refused.missing
    for n in range(2):  # two effective calls are the other way in
        uow.followups.add(
            FollowUp(
                None,
                d.customer_id,
                REP.id,
                NOW - timedelta(hours=n),
                Method.PHONE,
                FollowUpSource.CALL_LOG,
                deal_id=d.id,
                effective=True,
            )
        )
    assert uc.advance(uow, REP, d, "demo", NOW, rules=RULES).moved
    assert not uc.advance(uow, REP, d, "quote", NOW, rules=RULES).moved  # needs an amount
    uc.request_field_edit(uow, REP, d, "amount", 500000, "", NOW, rules=RULES)
    assert uc.advance(uow, REP, d, "quote", NOW, rules=RULES).moved
    source = tmp_path / "报价单.pdf"
    source.write_bytes(b"%PDF quote")
    stored = uc.store_upload("报价单.pdf", str(source), Files(tmp_path / "store"), rules=RULES)
    first = uc.attach_evidence(uow, REP, d, "quote", stored, NOW, rules=RULES)
    again = uc.attach_evidence(uow, REP, d, "quote", stored, NOW, rules=RULES)
    assert not first.duplicate and again.duplicate and len(uow.evidence.rows) == 1
    assert uc.advance(uow, REP, d, "contract_review", NOW, rules=RULES).moved
    assert kinds(uow).count("forward") == 6  # 新建商机 + five moves


def test_regression_needs_a_reason_and_moves_only_on_approval(uow: FakeUnitOfWork) -> None:
    d = move(uow, new_deal(uow), "qualified", "needs_confirmed")
    with pytest.raises(InvalidInput):
        uc.request_regress(uow, REP, d, "qualified", "  ", NOW, rules=RULES)
    with pytest.raises(InvalidInput):
        uc.request_regress(uow, REP, d, "demo", "客户变卦", NOW, rules=RULES)  # not backwards
    request = uc.request_regress(uow, REP, d, "qualified", "客户预算重新评估", NOW, rules=RULES)
    assert not request.applied and request.approver.id == "boss"
    assert uow.deals.get(d.id or 0).stage == "needs_confirmed"
    with pytest.raises(Conflict):
        uc.request_regress(uow, REP, d, "lead", "再退一步", NOW, rules=RULES)
    with pytest.raises(PermissionDenied):
        uc.decide(uow, REP2, request.approval.id, True, NOW, rules=RULES)
    with pytest.raises(PermissionDenied):
        uc.decide(uow, OTHER_MANAGER, request.approval.id, True, NOW, rules=RULES)
    decided = uc.decide(uow, MANAGER, request.approval.id, True, NOW, rules=RULES)
    assert decided.applied and uow.deals.get(d.id or 0).stage == "qualified"
    with pytest.raises(Conflict, match="已处理"):
        uc.decide(uow, MANAGER, request.approval.id, True, NOW, rules=RULES)
    assert kinds(uow)[-2:] == ["requested", "approved"]


def test_rejected_regression_leaves_the_deal(uow: FakeUnitOfWork) -> None:
    d = move(uow, new_deal(uow), "qualified")
    request = uc.request_regress(uow, REP, d, "lead", "录错了", NOW, rules=RULES)
    decided = uc.decide(uow, MANAGER, request.approval.id, False, NOW, rules=RULES)
    assert not decided.applied and decided.approval.state == "rejected"
    assert uow.deals.get(d.id or 0).stage == "qualified" and kinds(uow)[-1] == "rejected"


def test_approval_of_a_deal_that_moved_meanwhile_is_stale(uow: FakeUnitOfWork) -> None:
    d = move(uow, new_deal(uow), "qualified", "needs_confirmed")
    request = uc.request_regress(uow, REP, d, "lead", "录错了", NOW, rules=RULES)
    uc.mark_lost(uow, REP, uow.deals.get(d.id or 0), "预算", NOW, rules=RULES)
    decided = uc.decide(uow, MANAGER, request.approval.id, True, NOW, rules=RULES)
    assert decided.stale and not decided.applied and uow.deals.get(d.id or 0).status == DealStatus.LOST


def test_manager_regresses_directly(uow: FakeUnitOfWork) -> None:
    d = move(uow, new_deal(uow), "qualified")
    result = uc.request_regress(uow, MANAGER, d, "lead", "录错了", NOW, rules=RULES)
    assert result.applied and uow.deals.get(d.id or 0).stage == "lead" and kinds(uow)[-1] == "backward"


def test_lost_needs_a_configured_reason_and_closes_the_deal(uow: FakeUnitOfWork) -> None:
    d = new_deal(uow)
    with pytest.raises(InvalidInput):
        uc.mark_lost(uow, REP, d, "心情不好", NOW, rules=RULES)
    lost = uc.mark_lost(uow, REP, d, "选择了竞品", NOW, rules=RULES, note="对方选了迈瑞")
    assert lost.status == DealStatus.LOST and lost.lost_reason == "选择了竞品：对方选了迈瑞"
    with pytest.raises(Conflict):
        uc.advance(uow, REP, uow.deals.get(d.id or 0), "qualified", NOW, rules=RULES)
    assert kinds(uow)[-1] == "lost"


def test_frozen_field_changes_only_through_approval(uow: FakeUnitOfWork, tmp_path: Path) -> None:
    d = new_deal(uow)
    d.stage, d.amount = "contract_review", 500000.0
    uow.deals.update(d)
    source = tmp_path / "合同.pdf"
    source.write_bytes(b"contract scan")
    stored = uc.store_upload("合同.pdf", str(source), Files(tmp_path / "s"), rules=RULES)
    uc.attach_evidence(uow, REP, d, "contract", stored, NOW, rules=RULES)
    won = uc.advance(uow, REP, d, "won", NOW, rules=RULES)
    assert won.moved and won.deal.status == DealStatus.WON
    with pytest.raises(InvalidInput, match="原因"):
        uc.request_field_edit(uow, REP, won.deal, "amount", 800000, "", NOW, rules=RULES)
    request = uc.request_field_edit(uow, REP, won.deal, "amount", 800000, "客户追加两台", NOW, rules=RULES)
    assert not request.applied and uow.deals.get(d.id or 0).amount == 500000.0
    uc.decide(uow, MANAGER, request.approval.id, True, NOW, rules=RULES)
    assert uow.deals.get(d.id or 0).amount == 800000.0
    edits = [e for e in uow.history.audit_log if e.action == "deal.edit_frozen"]
    assert edits and edits[0].before == {"amount": 500000.0} and edits[0].actor_id == "boss"


@pytest.mark.parametrize(
    ("content", "problem"), [(None, "不存在"), (b"", "是空的"), (b"x" * (2 * 1024 * 1024), "超过")]
)
def test_bad_uploads_are_refused(tmp_path: Path, content: bytes | None, problem: str) -> None:
    rules = StageRules(PipelineConfig(max_attachment_mb=1))
    path = tmp_path / "f.pdf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidInput, match=problem):
        uc.store_upload("f.pdf", str(path), Files(tmp_path / "s"), rules=rules)
    assert not (tmp_path / "s").exists()


def test_another_reps_deal_cannot_be_moved(uow: FakeUnitOfWork) -> None:
    d = new_deal(uow)
    with pytest.raises(PermissionDenied):
        uc.advance(uow, REP2, d, "qualified", NOW, rules=RULES)
    assert uc.advance(uow, MANAGER, d, "qualified", NOW, rules=RULES).moved
