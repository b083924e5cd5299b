"""Features meeting in chat: a manager's new lead is assigned and announced; a captioned file
becomes stage evidence through the free-text path."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.services import Services
from storage.models import CustomerRow, EvidenceFileRow
from tests.transcript import replies, run


def rows(services: Services, row: type) -> list:
    with services.uow_factory() as uow:
        out = list(uow.session.scalars(select(row).order_by(row.id)))
        uow.session.expunge_all()
        return out


def test_a_managers_lead_goes_round_robin_and_the_rep_is_told(services: Services) -> None:
    out = run(services, """
        !now 2026-03-10 09:00
        @zhaoqiang: /新客户 恒康医疗 张伟 13812345678
    """)
    [customer] = rows(services, CustomerRow)
    assert customer.owner_id in {"zhangsan", "lisi", "wangwu"}
    assert any("恒康医疗" in r for r in replies(out, customer.owner_id))


def test_a_file_with_a_caption_is_stored_as_evidence(services: Services, tmp_path: Path) -> None:
    doc = tmp_path / "需求说明.pdf"
    doc.write_bytes(b"%PDF-1.4 requirements")
    out = run(services, f"""
        !now 2026-03-10 09:00
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan 📎 {doc} 需求文档 恒康医疗
    """)
    assert rows(services, EvidenceFileRow), out
    assert rows(services, EvidenceFileRow)[0].filename == "需求说明.pdf"
