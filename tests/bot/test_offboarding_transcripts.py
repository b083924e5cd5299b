"""Offboarding, permissions and audit in chat (console channel): what HR, reps and managers see."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import jobs
from bot.clock import FakeClock
from bot.services import Services
from core.model import Alert
from core.usecases.customers import NewCustomer, create_customer
from core.usecases.users import UserInput, upsert_users
from storage.models import (
    AlertRow,
    ApprovalRow,
    AssignmentRow,
    AuditRow,
    CustomerRow,
    DealRow,
    DialogRow,
    JobItemRow,
    JobRow,
    UserRow,
)
from tests.conftest import make_services
from tests.transcript import replies, run


def rows(services: Services, model: type, **where: object) -> list:  # type: ignore[type-arg]
    with services.uow_factory() as uow:
        q = select(model).filter_by(**where).order_by(model.id)  # type: ignore[attr-defined]
        found = list(uow.session.scalars(q))
        uow.session.expunge_all()
        return found


def count(services: Services, model: type, **where: object) -> int:
    with services.uow_factory() as uow:
        q = select(func.count()).select_from(model).filter_by(**where)
        return int(uow.session.scalar(q))


def seed(services: Services, owner: str = "zhangsan", n: int = 5, *, alerts: bool = True) -> list[int]:
    """`n` customers of `owner`, each with an open deal (amount 10 万 × i) and an open follow-up alert."""
    now = services.clock.now()
    ids = []
    with services.uow_factory() as uow:
        actor = uow.users.get(owner)
        assert actor is not None
        for i in range(1, n + 1):
            result = create_customer(
                uow,
                actor,
                NewCustomer(f"客户{owner}{i:03d}", f"联系人{i}", f"138000{i:05d}", source="command"),
                now,
                dedup=services.dedup,
                pipeline=services.pipeline,
                force_new=True,
            )
            deal = result.deal
            assert deal is not None and result.customer.owner_id == owner
            deal.amount, deal.payment_terms = 100000.0 * i, "预付 30%"
            uow.deals.update(deal)
            if alerts:
                uow.alerts.add_if_absent(
                    Alert(None, "followup", "deal", deal.id or 0, 1, f"2026-03-{i:02d}", owner, now)
                )
            ids.append(result.customer.id or 0)
        uow.commit()
    return ids


def owners(services: Services) -> dict[int, str | None]:
    return {c.id: c.owner_id for c in rows(services, CustomerRow)}


def offboarding_assignments(services: Services, subject_type: str) -> list[AssignmentRow]:
    return [a for a in rows(services, AssignmentRow, subject_type=subject_type) if "离职交接" in a.reason]


# ---------------------------------------------------------------------------- the whole flow
def test_hr_offboards_a_rep_round_robin_within_the_team(services: Services) -> None:
    ids = seed(services, n=5)
    out = run(
        services,
        """
        !now 2026-03-10 10:00
        @zhangsan: /帮助
        @chenjing: /离职 @张三 个人原因
        @chenjing > 确认
        @zhangsan: /客户 客户zhangsan001
        !advance 1m
        @lisi: /商机 客户zhangsan001
    """,
    )
    hr = replies(out, "chenjing")
    preview = hr[0]
    assert "离职交接预览：张三" in preview and "客户：5 个" in preview
    assert "本组轮转：李四 3 个；王五 2 个" in preview
    # HR may not see amounts: the stage line shows the count and *** instead of the sum
    assert "线索 5 个（***）" in preview and "150 万元" not in preview
    assert "待处理提醒：5 条" in preview and "待审批：0 个 → 赵强" in preview
    assert "已停用张三的账号，交接任务 #1 已开始" in hr[2]
    # access ended at once: the next message of the leaver is refused
    assert "您的账号已停用" in replies(out, "zhangsan")[-1]
    summary = hr[3]
    assert "离职交接完成：张三" in summary and "已转移客户：5 个" in summary
    assert (
        "接手人：李四 3 个；王五 2 个" in summary
        and "待处理提醒：5 条" in summary
        and "需要处理：无" in summary
    )
    assert "离职交接完成：张三" in replies(out, "zhaoqiang")[0]  # the leaver's manager gets the same summary
    lisi = replies(out, "lisi")
    assert "您接手了张三的客户" in lisi[0] and "客户：3 个" in lisi[0] and "重点商机" in lisi[0]
    assert "***" in lisi[0] and "万元" not in lisi[0]  # the top deals, amounts masked for a rep
    assert "负责人：李四" in lisi[-1] and "金额：***" in lisi[-1]
    assert "您接手了张三的客户" in replies(out, "wangwu")[0]

    assert set(owners(services).values()) == {"lisi", "wangwu"}
    assert {d.owner_id for d in rows(services, DealRow)} == {"lisi", "wangwu"}
    # one Assignment row each (reason: offboarding) for every customer, deal and alert
    assert sorted(a.subject_id for a in offboarding_assignments(services, "customer")) == ids
    assert len(offboarding_assignments(services, "deal")) == 5
    assert len(offboarding_assignments(services, "alert")) == 5
    alerts = rows(services, AlertRow)
    deal_owner = {d.id: d.owner_id for d in rows(services, DealRow)}
    assert all(a.recipient_id == deal_owner[a.subject_id] and a.state == "open" for a in alerts)
    [job] = rows(services, JobRow)
    assert job.state == "done" and job.progress["moved"] == {
        "customers": 5,
        "deals": 5,
        "alerts": 5,
        "skipped": 0,
        "approvals": 0,
    }
    [user] = rows(services, UserRow, id="zhangsan")
    assert user.status == "offboarded"
    actions = [a.action for a in rows(services, AuditRow)]
    assert actions.count("user.offboard") == 1 and actions.count("customer.handover") == 5


def test_named_successor_and_the_leavers_dialog_ends(services: Services) -> None:
    seed(services, n=3, alerts=False)
    out = run(
        services,
        """
        !now 2026-03-10 10:00
        @zhangsan: /推进 客户zhangsan001
        @chenjing: /离职 zhangsan 交接给@李四
        @chenjing > 确认
        !advance 1m
    """,
    )
    assert "李四（指定接手人）" in replies(out, "chenjing")[0]
    assert set(owners(services).values()) == {"lisi"}
    assert count(services, DialogRow, user_id="zhangsan") == 0
    assert "客户：3 个" in replies(out, "lisi")[0]


def test_pending_approvals_of_a_manager_go_to_their_manager(services: Services) -> None:
    seed(services, n=1, alerts=False)
    [deal] = rows(services, DealRow)
    with services.uow_factory() as uow:
        uow.session.add(
            ApprovalRow(
                kind="stage_regression",
                deal_id=deal.id,
                requested_by="zhangsan",
                approver_id="zhaoqiang",
                payload={"from": "lead", "to": "lead", "status": "open"},
                reason="客户预算冻结",
                state="pending",
                created_at=services.clock.now(),
            )
        )
        uow.commit()
    out = run(
        services,
        """
        @chenjing: /离职 @赵强 交接给 @王五
        @chenjing > 确认
        !advance 1m
    """,
    )
    assert "待审批：1 个 → 王总监" in replies(out, "chenjing")[0]
    [approval] = rows(services, ApprovalRow)
    assert approval.approver_id == "wangzong" and approval.state == "pending"
    director = replies(out, "wangzong")
    assert any("以下 1 个待审批申请改由您处理" in r for r in director)
    assert any("商机回退审批" in r and "[1] 批准" in r for r in director)
    assert any(a.action == "approval.reassign" for a in rows(services, AuditRow))


# ---------------------------------------------------------------------------- bad input
def test_bad_requests_are_refused_and_nothing_changes(services: Services) -> None:
    seed(services, n=2, alerts=False)
    with services.uow_factory() as uow:
        lisi, wangwu = uow.users.get("lisi"), uow.users.get("wangwu")
        assert lisi is not None and wangwu is not None
        from core.model import UserStatus

        lisi.status = UserStatus.OFFBOARDED
        uow.users.save(lisi)
        uow.commit()
    out = run(
        services,
        """
        !now 2026-03-10 10:00
        @zhaoqiang: /离职 @张三
        @chenjing: /离职
        @chenjing: /离职 @不存在的人
        @chenjing: /离职 @李四
        @chenjing: /离职 @张三 交接给 @李四
        @chenjing: /离职 @张三 交接给 @张三
        @chenjing: /休假 @王五 至 3月20日
        @chenjing: /离职 @张三 交接给 @王五
        @chenjing: /离职 @张三 交接给
    """,
    )
    manager = replies(out, "zhaoqiang")
    assert "只有人事/管理员可以办理离职交接" in manager[0]
    hr = replies(out, "chenjing")
    assert "请告诉我是哪位同事离职" in hr[0]
    assert "没有找到同事「不存在的人」" in hr[1]
    assert "李四已经办理过离职" in hr[2]
    assert "李四已离职，不能接手客户" in hr[3]
    assert "不能把张三的客户交接给张三本人" in hr[4]
    assert "王五正在休假（至 2026-03-20），不能接手客户" in hr[6]
    assert "请告诉我交接给哪位同事" in hr[7]
    assert set(owners(services).values()) == {"zhangsan"}
    assert count(services, JobRow) == 0
    assert [u.status for u in rows(services, UserRow, id="zhangsan")] == ["active"]


def test_an_ambiguous_name_is_asked_back(services: Services) -> None:
    with services.uow_factory() as uow:
        upsert_users(
            uow,
            "system",
            [UserInput("zhangsan2", "张三", ["rep"], "华南一组", "qianmin")],
            services.clock.now(),
        )
        uow.commit()
    seed(services, n=1, alerts=False)
    out = run(
        services,
        """
        @chenjing: /离职 @张三 交接给 @李四
        @chenjing > 张三（华南一组）
        @chenjing > 确认
        !advance 1m
    """,
    )
    hr = replies(out, "chenjing")
    assert "有 2 位同事叫「张三」，请选择离职的是哪一位" in hr[0]
    assert "离职交接预览：张三" in hr[2] and "zhangsan2，华南一组" in hr[2] and "客户：0 个" in hr[2]
    assert [u.status for u in rows(services, UserRow, id="zhangsan2")] == ["offboarded"]
    assert [u.status for u in rows(services, UserRow, id="zhangsan")] == ["active"]


def test_a_card_is_confirmed_once_and_cancel_changes_nothing(services: Services) -> None:
    seed(services, n=1, alerts=False)
    out = run(
        services,
        """
        @chenjing: /离职 @张三
        @chenjing > 取消
        @chenjing > 确认
    """,
    )
    hr = replies(out, "chenjing")
    assert "已取消，没有做任何改动" in hr[2] and "这张卡片已处理" in hr[3]
    assert count(services, JobRow) == 0


# ---------------------------------------------------------------------------- resume after a kill
def test_a_job_killed_in_the_middle_resumes_without_moving_anything_twice(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    services = make_services(db_url, tmp_path, clock)
    ids = seed(services, n=23)
    run(
        services,
        """
        @chenjing: /离职 @张三
        @chenjing > 确认
    """,
    )
    jobs.job_settings(services).batch = 4
    # the plan and two batches of 4, then the process dies: its state (services, engine) is gone
    assert jobs.run_pending(services, max_steps=3) == 3
    moved_before = {a.subject_id for a in offboarding_assignments(services, "customer")}
    assert len(moved_before) == 8
    services.uow_factory.engine.dispose()
    clock.advance(timedelta(minutes=5))

    restarted = make_services(db_url, tmp_path, clock, demo=False)
    jobs.install(restarted)
    jobs.job_settings(restarted).batch = 4
    assert jobs.unfinished_ids(restarted) == [1]
    jobs.run_pending(restarted)
    jobs.run_pending(restarted)  # a second run finds nothing left to do
    moved = [a.subject_id for a in offboarding_assignments(restarted, "customer")]
    assert sorted(moved) == ids  # nothing missed, nothing twice
    assert len(offboarding_assignments(restarted, "deal")) == 23
    assert len(offboarding_assignments(restarted, "alert")) == 23
    assert set(owners(restarted).values()) == {"lisi", "wangwu"}
    assert count(restarted, JobItemRow, state="pending") == 0
    [job] = rows(restarted, JobRow)
    assert job.state == "done" and job.progress["moved"]["customers"] == 23
    restarted.uow_factory.engine.dispose()


def test_a_customer_reassigned_after_the_plan_is_not_moved_again(services: Services) -> None:
    ids = seed(services, n=3, alerts=False)
    run(
        services,
        """
        @chenjing: /离职 @张三 交接给 @李四
        @chenjing > 确认
    """,
    )
    jobs.run_pending(services, max_steps=1)  # the plan only
    with services.uow_factory() as uow:  # a manager moves one customer meanwhile
        uow.session.get(CustomerRow, ids[0]).owner_id = "wangwu"  # type: ignore[union-attr]
        uow.commit()
    jobs.run_pending(services)
    assert owners(services) == {ids[0]: "wangwu", ids[1]: "lisi", ids[2]: "lisi"}
    assert [a.subject_id for a in offboarding_assignments(services, "customer")] == ids[1:]


# ---------------------------------------------------------------------------- leave
def test_leave_and_back_to_work_move_no_customers(services: Services) -> None:
    seed(services, n=2, alerts=False)
    out = run(
        services,
        """
        !now 2026-03-10 10:00
        @chenjing: /休假 @张三 至 3月20日
        @chenjing: /复职 @张三
        @zhangsan: /复职
        @chenjing: /复职 @陈静
    """,
    )
    hr = replies(out, "chenjing")
    assert "休假至 2026-03-20" in hr[0] and "已为张三复职" in hr[1] and "陈静当前没有在休假" in hr[2]
    assert "张三当前没有在休假" in replies(out, "zhangsan")[-1]
    assert set(owners(services).values()) == {"zhangsan"}


# ---------------------------------------------------------------------------- masked fields, exports, audit
def test_amounts_show_for_director_and_finance_only_and_their_reads_are_audited(services: Services) -> None:
    seed(services, n=1, alerts=False)
    out = run(
        services,
        """
        @zhangsan: /商机 客户zhangsan001
        @zhaoqiang: /商机 客户zhangsan001
        @wangzong: /商机 客户zhangsan001
        @liufang: /客户 客户zhangsan001
    """,
    )
    assert "金额：***" in replies(out, "zhangsan")[0] and "付款条件：***" in replies(out, "zhangsan")[0]
    assert "金额：***" in replies(out, "zhaoqiang")[0]
    director = replies(out, "wangzong")[0]
    assert "金额：10 万元" in director and "付款条件：预付 30%" in director
    assert "金额：10 万元" in replies(out, "liufang")[0]
    reads = [a for a in rows(services, AuditRow) if a.action == "read.sensitive"]
    assert [(a.actor_id, a.after["via"]) for a in reads] == [
        ("wangzong", "deal_card"),
        ("liufang", "customer_card"),
    ]
    assert reads[0].after["fields"] == ["amount", "payment_terms"]


def test_chat_export_is_scoped_masked_confirmed_when_large_and_audited(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    services = make_services(db_url, tmp_path, clock, permissions={"export_confirm_rows": 3})
    seed(services, n=2, alerts=False)
    seed(services, "lisi", n=2, alerts=False)
    out = run(
        services,
        """
        @zhangsan: /导出 商机
        @wangzong: /导出 商机
        @wangzong > 确认导出
        @zhangsan: /导出 工资
        @chenjing: /导出 客户
    """,
    )
    rep = replies(out, "zhangsan")
    assert "已导出商机 2 行" in rep[0] and "***" in rep[0]
    director = replies(out, "wangzong")
    assert "导出确认：商机 4 行" in director[0] and "超过 3 行" in director[0]
    assert "已导出商机 4 行" in director[2]
    assert "请告诉我要导出什么" in rep[1]
    assert "只有" in replies(out, "chenjing")[0]
    folder = tmp_path / "data" / "exports"
    files = sorted(folder.glob("deals-*.csv"))
    by_user = {f.name.split("-")[1]: list(csv.DictReader(f.open(encoding="utf-8-sig"))) for f in files}
    assert {r["owner_userid"] for r in by_user["zhangsan"]} == {"zhangsan"}
    assert {r["amount"] for r in by_user["zhangsan"]} == {"***"}
    assert {r["payment_terms"] for r in by_user["zhangsan"]} == {"***"}
    assert sorted(float(r["amount"]) for r in by_user["wangzong"]) == [100000.0, 100000.0, 200000.0, 200000.0]
    exports = [a for a in rows(services, AuditRow) if a.action == "read.export"]
    assert [(a.actor_id, a.after["rows"], a.after["masked"]) for a in exports] == [
        ("zhangsan", 2, True),
        ("wangzong", 4, False),
    ]
    services.uow_factory.engine.dispose()


def test_audit_trail_for_managers_in_scope_with_amounts_masked(services: Services) -> None:
    seed(services, n=1, alerts=False)
    out = run(
        services,
        """
        @zhangsan: /修改商机 客户zhangsan001 金额 80万
        @zhaoqiang: /审计 客户zhangsan001
        @qianmin: /审计 客户zhangsan001
        @zhangsan: /审计 客户zhangsan001
        @wangzong: /审计 客户zhangsan001
    """,
    )
    manager = replies(out, "zhaoqiang")[0]
    assert "客户「客户zhangsan001」最近" in manager and "新建客户" in manager and "张三" in manager
    assert "修改商机" in manager and "金额：*** → ***" in manager and "800000.0" not in manager
    assert "没有找到客户" in replies(out, "qianmin")[0]  # another team's customer: out of scope
    assert "只有主管/总监/管理员可以查看审计记录" in replies(out, "zhangsan")[-1]
    assert "金额：10 万元 → 80 万元" in replies(out, "wangzong")[0]


def test_the_audit_log_has_no_update_or_delete_path(services: Services) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from storage.repositories import SqlHistoryRepository

    assert not [m for m in dir(SqlHistoryRepository) if m.startswith(("update", "delete", "remove"))]
    seed(services, n=1, alerts=False)
    with services.uow_factory() as uow, pytest.raises(DBAPIError):
        uow.session.execute(text("UPDATE audit_log SET actor_id = 'x'"))
    with services.uow_factory() as uow, pytest.raises(DBAPIError):
        uow.session.execute(text("DELETE FROM audit_log"))
