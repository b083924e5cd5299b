"""QA: the stage and approval replies say what actually changed."""

from __future__ import annotations

from pathlib import Path

from bot.services import Services
from tests.transcript import replies, run


def test_approving_a_frozen_field_edit_says_which_field_changed(services: Services, tmp_path: Path) -> None:
    for name in ("req.pdf", "quote.pdf", "contract.pdf"):
        (tmp_path / name).write_bytes(b"%PDF-1.4 " + name.encode())
    out = run(
        services,
        f"""
        !now 2026-03-10 10:00
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /推进 恒康医疗 初步接触
        @zhangsan: /推进 恒康医疗 需求确认
        @zhangsan 📎 {tmp_path / "req.pdf"} /推进 恒康医疗 方案演示
        @zhangsan: /修改商机 恒康医疗 金额 50万
        @zhangsan: /推进 恒康医疗 报价
        @zhangsan 📎 {tmp_path / "quote.pdf"} /推进 恒康医疗 合同评审
        @zhangsan 📎 {tmp_path / "contract.pdf"} /推进 恒康医疗 已签约
        @zhangsan: /修改商机 恒康医疗 金额 60万 客户追加
        @zhaoqiang > 批准
    """,
    )
    decided = replies(out, "zhaoqiang")[-1]
    assert "已批准" in decided and "金额" in decided and "阶段" not in decided
