"""A rep on WeCom, end to end: encrypted callback → inbox → router → use case → outbox → fake WeCom."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.clock import FakeClock
from storage.models import CustomerRow, FollowUpRow, InboxRow
from tests.e2e.conftest import eventually, start_bot
from tests.fakes.wecom import FakeWeCom, WeComDriver


def _count(bot: object, row: type) -> int:
    with bot.services.uow_factory() as uow:  # type: ignore[attr-defined]
        return int(uow.session.scalar(select(func.count()).select_from(row)))


async def test_encrypted_text_becomes_a_stored_followup_and_a_reply(db_url: str, tmp_path: Path,
                                                                     clock: FakeClock) -> None:
    fake = FakeWeCom()
    await fake.start()
    bot, runner, base = await start_bot(db_url, tmp_path, clock, wecom=fake.settings().model_dump())
    try:
        async with WeComDriver(fake, f"{base}/wecom/callback") as driver:
            assert await driver.send_text("Zhangsan", "/新客户 恒康医疗 张伟 13812345678") == 200
            await eventually(lambda: [m for m in fake.sent if m.touser == "Zhangsan"])
            # a card without buttons goes out as text on WeCom
            assert "客户已建档" in fake.texts_to("Zhangsan")[0] and "张伟" in fake.texts_to("Zhangsan")[0]
            assert await driver.send_text("Zhangsan", "/跟进 恒康医疗 拜访 推进 演示 2026-03-18") == 200
            await eventually(lambda: _count(bot, FollowUpRow) == 1)
            await eventually(lambda: len([m for m in fake.sent if m.touser == "Zhangsan"]) == 2)
            # an unknown WeCom user is refused politely and nothing is stored
            assert await driver.send_text("Stranger", "/新客户 某公司") == 200
            await eventually(lambda: fake.texts_to("Stranger"))
            assert "还不是 crmbot 的用户" in fake.texts_to("Stranger")[0]
            assert _count(bot, CustomerRow) == 1
    finally:
        await runner.cleanup()
        await fake.close()


async def test_a_flood_of_duplicate_deliveries_records_one_followup(db_url: str, tmp_path: Path,
                                                                    clock: FakeClock) -> None:
    fake = FakeWeCom()
    await fake.start()
    bot, runner, base = await start_bot(db_url, tmp_path, clock, wecom=fake.settings().model_dump())
    try:
        async with WeComDriver(fake, f"{base}/wecom/callback") as driver:
            await driver.send_text("Zhangsan", "/新客户 恒康医疗 张伟 13812345678")
            await eventually(lambda: fake.sent)
            xml = driver.text_xml("Zhangsan", "/跟进 恒康医疗 电话 推进 报价 2026-03-12")
            statuses = await driver.deliver(xml, times=1000, concurrent=True)
            assert set(statuses) == {200}
            await eventually(lambda: _count(bot, FollowUpRow) == 1)
            await bot.dispatcher.drain()
            assert _count(bot, FollowUpRow) == 1
            assert _count(bot, InboxRow) == 2
            await eventually(lambda: len(fake.sent) == 2)
    finally:
        await runner.cleanup()
        await fake.close()


async def test_send_faults_are_retried_and_nothing_is_sent_twice(db_url: str, tmp_path: Path,
                                                                 clock: FakeClock) -> None:
    fake = FakeWeCom()
    await fake.start()
    bot, runner, base = await start_bot(db_url, tmp_path, clock, wecom=fake.settings().model_dump())
    try:
        fake.fail_next("message/send", "http500", 45009, "expired_token")
        async with WeComDriver(fake, f"{base}/wecom/callback") as driver:
            await driver.send_text("Zhangsan", "/帮助")
            # the outbox backs off: move the clock past the retry delays
            for _ in range(200):
                clock.advance(timedelta(seconds=30))
                bot.kick()
                if fake.texts_to("Zhangsan"):
                    break
                await asyncio.sleep(0.1)
            texts = await eventually(lambda: fake.texts_to("Zhangsan"))
            assert len(texts) >= 1 and "crmbot" in texts[0]
            await asyncio.sleep(0.3)
            assert len([m for m in fake.sent if m.touser == "Zhangsan"]) == len(texts)
    finally:
        await runner.cleanup()
        await fake.close()


async def test_a_card_click_updates_the_crm_and_the_card(db_url: str, tmp_path: Path, clock: FakeClock) -> None:
    import pytest

    pytest.importorskip("bot.nlp.parser")
    fake = FakeWeCom()
    await fake.start()
    bot, runner, base = await start_bot(db_url, tmp_path, clock, wecom=fake.settings().model_dump())
    try:
        async with WeComDriver(fake, f"{base}/wecom/callback") as driver:
            await driver.send_text("Zhangsan", "拜访了恒康医疗张伟，预算50万，明天发报价")
            cards = await eventually(lambda: [m for m in fake.sent if m.msgtype == "template_card"])
            card = cards[0].body["template_card"]
            cancel = next(b["key"] for b in card["button_list"] if b["text"] == "取消")
            assert await driver.click("Zhangsan", cancel, card["task_id"]) == 200
            await eventually(lambda: fake.updates or [m for m in fake.sent if m.touser == "Zhangsan"][1:])
            assert fake.updates, [m.body for m in fake.sent]
            assert "已取消" in str(fake.updates[-1])
            with bot.services.uow_factory() as uow:
                [followup] = list(uow.session.scalars(select(FollowUpRow)))
                assert followup.status == "voided"
            # pressing again (a later second: the same second is a platform retry, dropped by the inbox)
            await driver.click("Zhangsan", cancel, card["task_id"], create_time=int(time.time()) + 5)
            await eventually(lambda: any("已处理" in t for t in fake.texts_to("Zhangsan")))
    finally:
        await runner.cleanup()
        await fake.close()
