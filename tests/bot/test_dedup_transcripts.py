"""The real-time duplicate check in chat: link, ask with evidence, or create."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.services import Services
from storage.models import ContactRow, CustomerRow
from tests.transcript import replies, run


def count(services: Services, row: type) -> int:
    with services.uow_factory() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(row)))


def test_variants_of_the_same_company_link(services: Services) -> None:
    out = run(services, """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /新客户 杭州恒康医疗有限公司 王芳
        @zhangsan: /新客户 恆康醫療 李雷
    """)
    answers = replies(out, "zhangsan")
    assert "已关联到已有客户" in answers[1] and "已关联到已有客户" in answers[2]
    assert count(services, CustomerRow) == 1 and count(services, ContactRow) == 3


def test_a_known_phone_under_another_company_asks_with_evidence(services: Services) -> None:
    out = run(services, """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /新客户 顺驰冷链 梁经理 138-1234-5678
        @zhangsan > 关联到已有客户
        @zhangsan: /新客户 恒康医疗器械有限公司 张总 138-1234-5678
    """)
    _, ask, linked, same = replies(out, "zhangsan")
    assert "是否关联到「恒康医疗」？" in ask and "手机号已登记在 恒康医疗（张伟） 名下" in ask
    assert "已关联到已有客户" in linked
    # the full legal name with the same phone is the same firm: linked without asking
    assert "已关联到已有客户" in same and same.count("手机号相同") == 1
    assert count(services, CustomerRow) == 1


def test_a_similar_name_asks_and_the_rep_can_create_anyway(services: Services) -> None:
    out = run(services, """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /新客户 恒唐医疗 李四
        @zhangsan > 新建客户
        @zhangsan > 新建客户
    """)
    answers = replies(out, "zhangsan")
    assert "是否关联到" in answers[1] and "相似" in answers[1]
    assert "客户已建档" in answers[2]
    assert "已处理" in answers[3]
    assert count(services, CustomerRow) == 2


def test_different_companies_are_not_linked(services: Services) -> None:
    run(services, """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /新客户 顺驰冷链 梁经理 13998765432
    """)
    assert count(services, CustomerRow) == 2
