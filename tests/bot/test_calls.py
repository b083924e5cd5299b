"""Call logs: import and API, attached by phone, idempotent by call_id; unknown numbers ask the rep."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import build_app
from bot.calls import ingest
from bot.channels.console import drain_console, find_button, press, send_message
from bot.services import Services
from core.errors import InvalidInput
from storage.models import CallLogRow, CustomerRow, FollowUpRow
from tests.conftest import DATA
from tests.transcript import run

pytest.importorskip("bot.nlp.parser")

CALL = {"call_id": "CL-1", "rep": "zhangsan", "customer_phone": "+86 139 0158 7726",
        "started_at": "2026-03-11T10:02:00+08:00", "duration_s": 612,
        "transcript": "销售：喂您好，请问是瑞安医疗器械的刘主任吗 客户：对我是 销售：方案您看了吗 客户：看了 就是价格还得再谈谈 "
                      "你们能不能给个折扣 销售：我明天下午给您回个电话 客户：行"}


def rows(services: Services, row: type) -> list:
    with services.uow_factory() as uow:
        out = list(uow.session.scalars(select(row).order_by(row.id)))
        uow.session.expunge_all()
        return out


def test_a_known_number_becomes_an_effective_phone_followup_once(services: Services) -> None:
    run(services, "!now 2026-03-11 09:00\n@zhangsan: /新客户 瑞安医疗器械 刘主任 13901587726")
    first = ingest(services, CALL)
    again = ingest(services, CALL)
    assert (first.status, again.status) == ("recorded", "duplicate")
    [followup] = rows(services, FollowUpRow)
    assert followup.method == "phone" and followup.source == "call_log" and followup.effective is True
    assert followup.call_id == "CL-1" and str(followup.next_followup_on) == "2026-03-12"
    assert followup.occurred_at.isoformat().startswith("2026-03-11T02:02")


def test_an_unknown_number_asks_the_rep_who_can_create_the_customer(services: Services) -> None:
    call = {**CALL, "customer_phone": "0571-8723 6610", "call_id": "CL-2"}
    assert ingest(services, call).status == "unknown_number"
    printed: list[str] = []
    drain_console(services, printed.append)
    assert "新号码，是否新建客户？" in printed[0] and "057187236610" in printed[0]
    pressed = find_button(services, "zhangsan", "新建客户")
    press(services, pressed)
    drain_console(services, printed.append)
    [customer] = rows(services, CustomerRow)
    assert customer.name == "瑞安医疗器械" and customer.source == "call_log"
    [followup] = rows(services, FollowUpRow)
    assert followup.call_id == "CL-2"
    assert "已新建客户并记录通话" in printed[-1]


def test_unknown_number_without_company_asks_for_it(services: Services) -> None:
    call = {**CALL, "call_id": "CL-3", "customer_phone": "13712345678", "transcript": "客户：喂 销售：您好 明天再聊"}
    assert ingest(services, call).status == "unknown_number"
    printed: list[str] = []
    drain_console(services, printed.append)
    press(services, find_button(services, "zhangsan", "新建客户"))
    send_message(services, "zhangsan", "顺驰冷链 梁经理")
    drain_console(services, printed.append)
    assert [c.name for c in rows(services, CustomerRow)] == ["顺驰冷链"]
    assert len(rows(services, FollowUpRow)) == 1


@pytest.mark.parametrize("bad", [
    {"rep": "zhangsan"},
    {**CALL, "started_at": "yesterday"},
    {**CALL, "duration_s": -5},
    "not an object",
])
def test_malformed_call_logs_are_refused(services: Services, bad: object) -> None:
    with pytest.raises(InvalidInput):
        ingest(services, bad)
    assert rows(services, CallLogRow) == []


def test_the_dev_corpus_imports_through_the_cli(services: Services, tmp_path: Path) -> None:
    from bot.cli.main import main

    path = tmp_path / "calls.jsonl"
    lines = [json.dumps({k: v for k, v in json.loads(x).items() if k != "expect"}, ensure_ascii=False)
             for x in (DATA / "calls.dev.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    path.write_text("\n".join([*lines, "{not json"]) + "\n", encoding="utf-8")
    url = str(services.uow_factory.engine.url.render_as_string(hide_password=False))
    assert main(["calls", "import", str(path), "--database", url]) == 1  # one malformed line
    assert len(rows(services, CallLogRow)) == len(lines)
    assert main(["calls", "import", str(path), "--database", url]) == 1
    assert len(rows(services, CallLogRow)) == len(lines)  # re-import creates nothing new


async def test_post_api_calls(services: Services) -> None:
    services.settings.api.token = "s3cret"
    bot = build_app(services.settings, services=services)
    async with TestClient(TestServer(bot.web)) as client:
        r = await client.post("/api/calls", json=CALL)
        assert r.status == 401
        auth = {"Authorization": "Bearer s3cret"}
        r = await client.post("/api/calls", json=CALL, headers=auth)
        assert r.status == 201 and (await r.json())["status"] == "unknown_number"
        r = await client.post("/api/calls", json=CALL, headers=auth)
        assert r.status == 200 and (await r.json())["status"] == "duplicate"
        r = await client.post("/api/calls", data=b"{oops", headers=auth)
        assert r.status == 400 and "JSON" in (await r.json())["error"]
        r = await client.post("/api/calls", json={"call_id": "x"}, headers=auth)
        assert r.status == 400
    assert len(rows(services, CallLogRow)) == 1
