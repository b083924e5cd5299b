"""离职继承: batching resigned/transfer_customer by 100 and polling transfer_result through pages."""

from __future__ import annotations

import pytest

from bot.channels.wecom.client import (
    TRANSFER_DONE,
    TRANSFER_OVER_LIMIT,
    TRANSFER_REFUSED,
    TRANSFER_WAITING,
    WeComAPIError,
    WeComClient,
)
from tests.fakes.wecom import FakeWeCom


async def test_250_contacts_in_3_calls_then_polling_until_settled(fake: FakeWeCom) -> None:
    contacts = [f"wmEXT{i:04d}" for i in range(250)]
    for c in contacts[:10]:
        fake.set_transfer_outcome(c, "refused")
    for c in contacts[10:15]:
        fake.set_transfer_outcome(c, "over_limit")
    for c in contacts[15:40]:
        fake.set_transfer_outcome(c, "waiting_then_done", waiting_polls=2)
    fake.set_transfer_outcome(contacts[-1], "invalid")

    client = WeComClient(fake.settings())
    try:
        started = await client.transfer_resigned_customers("zhangsan", "lisi", contacts)
        assert fake.calls_to("externalcontact/resigned/transfer_customer") == 3
        assert [s.external_userid for s in started] == contacts
        assert [s.external_userid for s in started if s.errcode != 0] == [contacts[-1]]

        rounds = []
        while True:
            statuses = await client.resigned_transfer_results("zhangsan", "lisi")
            rounds.append(statuses)
            if all(s.settled for s in statuses):
                break
            assert len(rounds) < 10
        # 249 started contacts, 100 per page → 3 pages per poll; the waiting ones settle on poll 3
        assert len(rounds) == 3
        assert fake.calls_to("externalcontact/resigned/transfer_result") == 9
        first = {s.external_userid: s.status for s in rounds[0]}
        assert first[contacts[20]] == TRANSFER_WAITING
        final = {s.external_userid: s.status for s in rounds[-1]}
        assert len(final) == 249
        assert {c for c, st in final.items() if st == TRANSFER_REFUSED} == set(contacts[:10])
        assert {c for c, st in final.items() if st == TRANSFER_OVER_LIMIT} == set(contacts[10:15])
        assert sum(st == TRANSFER_DONE for st in final.values()) == 234
    finally:
        await client.close()


async def test_more_than_100_per_call_is_a_request_error(fake: FakeWeCom) -> None:
    client = WeComClient(fake.settings())
    try:
        payload = {
            "handover_userid": "a",
            "takeover_userid": "b",
            "external_userid": [f"w{i}" for i in range(101)],
        }
        with pytest.raises(WeComAPIError) as err:
            await client.call("externalcontact/resigned/transfer_customer", json_body=payload)
        assert not err.value.retryable
    finally:
        await client.close()


async def test_a_failed_batch_is_retryable_and_rerunning_moves_nothing_twice(fake: FakeWeCom) -> None:
    contacts = [f"wm{i}" for i in range(150)]
    client = WeComClient(fake.settings())
    try:
        fake.fail_next("externalcontact/resigned/transfer_customer", "http500")
        with pytest.raises(WeComAPIError) as err:
            await client.transfer_resigned_customers("zhangsan", "lisi", contacts)
        assert err.value.retryable
        started = await client.transfer_resigned_customers("zhangsan", "lisi", contacts)
        assert all(s.errcode == 0 for s in started)
        statuses = await client.resigned_transfer_results("zhangsan", "lisi")
        assert sorted(s.external_userid for s in statuses) == sorted(contacts)
    finally:
        await client.close()
