"""QA: `crmbot audit` with a customer name or an unknown user answers, instead of a silent 「共 0 条」."""

from __future__ import annotations

import pytest

from bot.cli.main import main
from bot.services import Services
from tests.transcript import run


def _url(services: Services) -> str:
    return services.uow_factory.engine.url.render_as_string(hide_password=False)


def test_audit_subject_by_customer_name_and_unknown_names(
    sqlite_services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    run(
        sqlite_services,
        """
        !now 2026-03-10 09:00
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /无效 恒康医疗 重复录入
    """,
    )
    db = ["--database", _url(sqlite_services)]
    assert main(["audit", "--subject", "恒康医疗", *db]) == 0
    out = capsys.readouterr().out
    assert "customer.invalid" in out and "customer:1" in out
    assert main(["audit", "--subject", "不存在的公司", *db]) == 1
    assert "没有找到客户「不存在的公司」" in capsys.readouterr().err
    assert main(["audit", "--user", "nobody", *db]) == 1
    assert "没有用户「nobody」" in capsys.readouterr().err
