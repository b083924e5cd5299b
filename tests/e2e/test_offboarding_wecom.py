"""Offboarding on WeCom end to end: HR's command and 确认 through encrypted callbacks, the handover job
in the running app, 离职继承 against the fake (≤100 contacts per call), polling across runs, refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot import jobs
from bot.app import BotApp, build_app
from bot.clock import FakeClock
from core.usecases.users import DEMO_ORG, UserInput, upsert_users
from storage.models import ContactRow, CustomerRow, JobItemRow, JobRow
from tests.conftest import make_settings
from tests.e2e.conftest import eventually
from tests.fakes.wecom import FakeWeCom, WeComDriver

TRANSFER = "externalcontact/resigned/transfer_customer"
RESULT = "externalcontact/resigned/transfer_result"


async def start(
    db_url: str, tmp_path: Path, clock: FakeClock, fake: FakeWeCom
) -> tuple[BotApp, web.AppRunner, str]:
    bot = build_app(make_settings(db_url, tmp_path, wecom=fake.settings().model_dump()), clock=clock)
    jobs.setup(bot)  # a no-op when bot.app already wires it
    settings = jobs.job_settings(bot.services)
    settings.loop_seconds, settings.poll_interval = 0.05, timedelta(minutes=10)
    with bot.services.uow_factory() as uow:
        users = [UserInput(**{**u.__dict__, "wecom_userid": u.id.capitalize()}) for u in DEMO_ORG]
        upsert_users(uow, "system", users, clock.now())
        now = clock.now()
        for i in range(125):  # 125 customers with two WeCom contacts each: 250 external contacts
            customer = CustomerRow(
                name=f"企微客户{i:03d}",
                name_key=f"企微客户{i:03d}",
                owner_id="zhangsan",
                team="华东一组",
                status="active",
                source="import",
                lead_state="contacted",
                created_at=now,
                updated_at=now,
            )
            uow.session.add(customer)
            uow.session.flush()
            for j in range(2):
                n = i * 2 + j
                uow.session.add(
                    ContactRow(
                        customer_id=customer.id,
                        name=f"联系人{n}",
                        external_userid=f"wm_{n:03d}",
                        created_at=now,
                    )
                )
        uow.commit()
    runner = web.AppRunner(bot.web, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return bot, runner, f"http://127.0.0.1:{port}"


def items(bot: BotApp) -> dict[str, dict[str, Any]]:
    with bot.services.uow_factory() as uow:
        rows = uow.session.scalars(select(JobItemRow).where(JobItemRow.subject_type == "contact"))
        return {r.subject_id: {"state": r.state, **r.result} for r in rows}


def job_row(bot: BotApp) -> JobRow | None:
    with bot.services.uow_factory() as uow:
        row = uow.session.scalars(select(JobRow)).first()
        if row is not None:
            uow.session.expunge(row)
        return row


async def test_offboarding_moves_wecom_contacts_in_batches_and_reports_refusals(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    fake = FakeWeCom()
    await fake.start()
    fake.set_transfer_outcome("wm_005", "refused")
    fake.set_transfer_outcome("wm_006", "over_limit")
    fake.set_transfer_outcome("wm_007", "invalid")  # refused when the transfer is started (errcode 40096)
    for n in range(10, 20):
        fake.set_transfer_outcome(f"wm_{n:03d}", "waiting_then_done", waiting_polls=1)
    bot, runner, base = await start(db_url, tmp_path, clock, fake)
    try:
        async with WeComDriver(fake, f"{base}/wecom/callback") as driver:
            assert await driver.send_text("Chenjing", "/离职 @张三 交接给 @李四 个人原因") == 200
            cards = await eventually(lambda: [m for m in fake.sent if m.msgtype == "template_card"])
            card = cards[0].body["template_card"]
            assert "离职交接预览" in str(card) and "250 位外部联系人" in str(card)
            confirm = next(b["key"] for b in card["button_list"] if b["text"] == "确认")
            assert await driver.click("Chenjing", confirm, card["task_id"]) == 200

            # the CRM part finishes and the transfers start: 250 contacts → 3 calls of ≤100
            await eventually(lambda: fake.calls_to(TRANSFER) == 3 and fake.calls_to(RESULT) >= 3)
            job = await eventually(lambda: (j := job_row(bot)) and j.progress.get("polls") == 1 and j)
            assert job.state == "running"  # some contacts are still waiting: the job did not block on them
            with bot.services.uow_factory() as uow:
                owners = set(uow.session.scalars(select(CustomerRow.owner_id)))
            assert owners == {"lisi"}
            await eventually(lambda: any("离职交接完成：张三" in t for t in fake.texts_to("Chenjing")))
            summary = next(t for t in fake.texts_to("Chenjing") if "离职交接完成" in t)
            assert "已转移客户" in summary and "125" in summary and "企业微信客户" in summary
            calls_after_first_poll = fake.calls_to(RESULT)

            # no poll before the interval; after it, one more round settles everything
            clock.advance(timedelta(minutes=11))
            done = await eventually(lambda: (j := job_row(bot)) and j.state == "done" and j)
            assert done.progress["polls"] == 2
            assert fake.calls_to(RESULT) == calls_after_first_poll * 2  # same pages, once more
            assert fake.calls_to(TRANSFER) == 3  # nothing was started twice

            got = items(bot)
            assert len(got) == 250
            assert got["wm_005"]["state"] == "failed" and got["wm_005"]["outcome"] == "refused"
            assert got["wm_006"]["outcome"] == "over_limit"
            assert got["wm_007"]["outcome"] == "failed" and got["wm_007"]["errcode"] == 40096
            assert got["wm_012"]["state"] == "done"
            assert sum(1 for v in got.values() if v["state"] == "done") == 247
            assert {v["takeover"] for v in got.values()} == {"Lisi"}

            report = await eventually(
                lambda: [t for t in fake.texts_to("Chenjing") if "企业微信客户迁移结果" in t]
            )
            assert "客户拒绝 1" in report[0] and "已迁移 247" in report[0] and "企微客户002" in report[0]
            await eventually(lambda: any("企业微信客户迁移结果" in t for t in fake.texts_to("Zhaoqiang")))
            # the leaver's own messages are refused from the confirmation on
            assert await driver.send_text("Zhangsan", "/帮助") == 200
            await eventually(lambda: any("账号已停用" in t for t in fake.texts_to("Zhangsan")))
            with bot.services.uow_factory() as uow:
                assert uow.session.scalar(select(func.count()).select_from(JobRow)) == 1
    finally:
        await runner.cleanup()
        await fake.close()
