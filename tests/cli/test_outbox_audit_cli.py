"""`crmbot outbox --failed/--retry` and `crmbot audit`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.cli.main import main
from bot.services import Services
from tests.transcript import run


def _url(services: Services) -> str:
    return services.uow_factory.engine.url.render_as_string(hide_password=False)


def test_failed_messages_are_listed_and_requeued(sqlite_services: Services, capsys: pytest.CaptureFixture[str]
                                                  ) -> None:
    services = sqlite_services
    run(services, "@zhangsan: /帮助")  # the console drain delivers it
    with services.uow_factory() as uow:
        uow.outbox.add(channel="wecom", user_id="zhangsan", recipient="ZhangSan", kind="text",
                       body={"text": "您好"}, now=services.clock.now())
        uow.commit()
    with services.uow_factory() as uow:
        [msg] = uow.outbox.claim_due(services.clock.now(), channels=["wecom"])
        uow.outbox.mark_failed(msg.id, services.clock.now(), "errcode 40058 invalid parameter")
        uow.commit()
    assert main(["outbox", "--failed", "--database", _url(services)]) == 0
    out = capsys.readouterr().out
    assert "40058" in out and "共 1 条" in out
    assert main(["outbox", "--retry", "--database", _url(services)]) == 0
    assert "已将 1 条" in capsys.readouterr().out
    with services.uow_factory() as uow:
        # the CLI runs on the real clock: the row is due from now on
        assert len(uow.outbox.claim_due(datetime.now(UTC) + timedelta(seconds=1), channels=["wecom"])) == 1


def test_audit_lists_changes_by_user_and_subject(sqlite_services: Services,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run(sqlite_services, """
        !now 2026-03-10 09:00
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /无效 恒康医疗 重复录入
    """)
    assert main(["audit", "--user", "zhangsan", "--subject", "customer:1", "--database",
                 _url(sqlite_services)]) == 0
    out = capsys.readouterr().out
    assert "customer.invalid" in out and "customer.create" in out and "重复录入" in out
    assert main(["audit", "--since", "2026-13-01", "--database", _url(sqlite_services)]) == 1
