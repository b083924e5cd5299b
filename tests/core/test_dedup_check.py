"""The real-time check: link / ask / new, evidence, ambiguity, and the in-memory index."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.textconv import make_normalizer
from core.dedup.check import CustomerInput, DedupIndex, DedupThresholds, ExistingRecord, check
from core.dedup.keys import blocking_keys
from core.dedup.normalize import Normalizer


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    return make_normalizer()


@pytest.fixture()
def index(norm: Normalizer) -> DedupIndex:
    idx = DedupIndex(norm)
    for rid, cid, name, company, phone in [
        ("p1", "c1", "侯倩", "成都恒嘉网络科技有限公司", "174-8490-7570"),
        ("p2", "c1", "李强", "成都恒嘉网络科技有限公司", "13912345678"),
        ("p3", "c2", "王芳", "武汉宏远食品有限公司", "13900000001"),
        ("p4", "c3", "赵敏", "厦门宏远食品有限公司", "13900000002"),
        ("p5", "c4", "蒋杰晨", "济南明宏食品有限公司", "15323011908"),
    ]:
        idx.add(ExistingRecord(record_id=rid, customer_id=cid, name=name, company=company, phone=phone))
    return idx


def test_same_phone_links_customer_and_contact(index: DedupIndex) -> None:
    d = index.check(CustomerInput(name="侯总", company="恒嘉网络科技", phone="+86 174 8490 7570"))
    assert (d.decision, d.customer_id, d.contact_decision, d.contact_id) == ("link", "c1", "link", "p1")
    assert "手机号相同" in d.contact_evidence


def test_new_person_at_known_company(index: DedupIndex) -> None:
    d = index.check(CustomerInput(name="张伟", company="恒嘉网络科技(成都)股份有限公司", phone="13500000000"))
    assert (d.decision, d.customer_id, d.contact_decision) == ("link", "c1", "new")


def test_sound_alike_company_is_a_question_with_evidence(index: DedupIndex) -> None:
    d = index.check(CustomerInput(name="刘洋", company="济南鸣宏食品有限公司"))
    assert d.decision == "ask" and d.customer_id == "c4"
    assert d.question is not None and d.question.startswith("是否关联到 济南明宏食品有限公司")
    assert "公司名同音" in d.question


def test_two_equally_likely_customers_ask(index: DedupIndex) -> None:
    d = index.check(CustomerInput(name="孙丽", company="宏远食品"))
    assert d.decision == "ask"
    assert {c.customer_id for c in d.candidates} == {"c2", "c3"}


def test_unrelated_is_new(index: DedupIndex) -> None:
    d = index.check(CustomerInput(name="孙丽", company="上海云帆物流有限公司", phone="13012345678"))
    assert d.decision == "new" and d.customer_id is None and d.question is None


def test_thresholds_move_the_bands(norm: Normalizer) -> None:
    cands = [ExistingRecord(record_id="p1", customer_id="c1", company="成都恒嘉网络科技有限公司")]
    new = CustomerInput(company="恒嘉网络科技")  # scores 93: city missing on one side
    assert check(new, cands, DedupThresholds(auto=90, ask=70), norm).decision == "link"
    assert check(new, cands, DedupThresholds(auto=95, ask=70), norm).decision == "ask"
    assert check(new, cands, DedupThresholds(auto=99, ask=95), norm).decision == "new"


def test_thresholds_validate() -> None:
    with pytest.raises(ValidationError):
        DedupThresholds(auto=70, ask=90)
    with pytest.raises(ValidationError):
        DedupThresholds(auto=120, ask=70)


def test_blocking_keys(norm: Normalizer) -> None:
    keys = blocking_keys(norm.record("x", "侯倩", "成都恒嘉网络科技有限公司", "174-8490-7570", "A@b.cn"))
    assert {"p:17484907570", "e:a@b.cn", "c:恒嘉网络科技"} <= keys
    assert any(k.startswith("s:") for k in keys) and any(k.startswith("b:") for k in keys)
    assert any(k.startswith("g:恒|") for k in keys) and any(k.startswith("g:嘉|") for k in keys)
