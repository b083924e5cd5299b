"""A rep on DingTalk, end to end through the Stream fake; and WeCom + DingTalk in one app."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from storage.models import FollowUpRow
from tests.e2e.conftest import eventually, start_bot
from tests.fakes.dingtalk import FakeDingTalk, bot_audio, bot_text, card_callback
from tests.fakes.wecom import FakeWeCom, WeComDriver

pytest.importorskip("bot.nlp.parser")


def _followups(bot: object) -> list[FollowUpRow]:
    with bot.services.uow_factory() as uow:  # type: ignore[attr-defined]
        rows = list(uow.session.scalars(select(FollowUpRow)))
        uow.session.expunge_all()
        return rows


def _count(bot: object) -> int:
    with bot.services.uow_factory() as uow:  # type: ignore[attr-defined]
        return int(uow.session.scalar(select(func.count()).select_from(FollowUpRow)))


async def test_a_voice_message_becomes_a_confirmed_followup(db_url: str, tmp_path: Path, clock: FakeClock) -> None:
    with FakeDingTalk() as fake:
        bot, runner, _ = await start_bot(db_url, tmp_path, clock, dingtalk=fake.settings().model_dump())
        try:
            fake.push_bot_message(bot_audio("嗯 那个 上午去了顺驰冷链 见了他们运营的梁经理 对方很有兴趣 下周三过去演示",
                                             staff_id="staff_zhangsan", msg_id="voice-1"))
            await eventually(lambda: fake.cards)
            [(track, card)] = fake.cards.items()
            params = card["params"]
            assert "来自语音" in str(params) and "梁经理" in str(params)
            [followup] = _followups(bot)
            assert followup.source == "voice" and followup.method == "visit"
            # 确认 on the card: the CRM is updated and the card is updated for everyone
            with bot.services.uow_factory() as uow:
                row = uow.cards.get(track) or uow.cards.by_ref(track)
                confirm = next(b["action_id"] for b in row.body["buttons"] if b["label"] == "确认")
            fake.push_card_callback(card_callback("staff_zhangsan", track, confirm))
            await eventually(lambda: fake.cards[track]["updates"])
            assert "已确认" in str(fake.cards[track]["updates"][-1])
            # an unknown staff member is refused politely
            fake.push_bot_message(bot_text("你好", staff_id="staff_stranger", msg_id="m-x"))
            await eventually(lambda: [m for m in fake.sent_messages if "staff_stranger" in m["userIds"]])
            assert _count(bot) == 1
        finally:
            await runner.cleanup()


async def test_duplicate_frames_and_a_dropped_connection_lose_and_double_nothing(
        db_url: str, tmp_path: Path, clock: FakeClock) -> None:
    with FakeDingTalk() as fake:
        bot, runner, _ = await start_bot(db_url, tmp_path, clock, dingtalk=fake.settings().model_dump())
        try:
            fake.push_bot_message(bot_text("/新客户 恒康医疗 张伟 13812345678", staff_id="staff_zhangsan", msg_id="a"))
            await eventually(lambda: fake.sent_messages or fake.cards)
            frame = bot_text("/跟进 恒康医疗 电话 推进 报价 2026-03-12", staff_id="staff_zhangsan", msg_id="dup")
            fake.push_many([fake.bot_frame(frame) for _ in range(1000)])
            fake.drop_connection(after_frames=1)
            fake.push_bot_message(bot_text("/跟进 恒康医疗 拜访 推进 演示 2026-03-13", staff_id="staff_zhangsan",
                                            msg_id="after-drop"))
            await eventually(lambda: _count(bot) == 2, timeout=30)
            await bot.dispatcher.drain()
            assert _count(bot) == 2
        finally:
            await runner.cleanup()


async def test_wecom_and_dingtalk_side_by_side(db_url: str, tmp_path: Path, clock: FakeClock) -> None:
    wecom = FakeWeCom()
    await wecom.start()
    with FakeDingTalk() as ding:
        bot, runner, base = await start_bot(db_url, tmp_path, clock, wecom=wecom.settings().model_dump(),
                                            dingtalk=ding.settings().model_dump())
        try:
            assert sorted(bot.senders) == ["dingtalk", "wecom"]
            async with WeComDriver(wecom, f"{base}/wecom/callback") as driver:
                await driver.send_text("Zhangsan", "/新客户 恒康医疗 张伟 13812345678")
                ding.push_bot_message(bot_text("/新客户 顺驰冷链 梁经理 13998765432", staff_id="staff_lisi",
                                               msg_id="d1"))
                await eventually(lambda: wecom.texts_to("Zhangsan"))
                await eventually(lambda: ding.sent_messages or ding.cards)
                assert "恒康医疗" in wecom.texts_to("Zhangsan")[0]
                assert "顺驰冷链" in str(ding.sent_messages) + str(ding.cards)
        finally:
            await runner.cleanup()
            await wecom.close()
