import pytest

from bot.nlp.amount import AmountExtractor
from bot.nlp.normalize import fold
from bot.nlp.numerals import cn_to_number


@pytest.fixture(scope="module")
def amounts() -> AmountExtractor:
    return AmountExtractor()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("预算50万", 500_000),
        ("预算五十万", 500_000),
        ("金额1.2亿", 120_000_000),
        ("预算30w", 300_000),
        ("升级费3k", 3_000),
        ("人民币叁拾万元", 300_000),
        ("合同额120万元", 1_200_000),
        ("合同额一百二十万", 1_200_000),
        ("预算两千万", 20_000_000),
        ("总价36.8万", 368_000),
        ("总价十二万五千", 125_000),
        ("金额两万八", 28_000),
        ("报价５０万", 500_000),  # full-width
        ("共计5000元", 5_000),
        ("预算在1.5个亿左右", 150_000_000),
        ("预算12万8", 128_000),  # spoken: 12万8千
        ("预算1万5左右", 15_000),
        ("预算50万 对方还在比较", 500_000),  # a word after a space is not a measure word
        ("预算一千二百万 周四再聊", 12_000_000),
        ("合同金额30万周五签", 300_000),
        ("金额还是九十八万对吧", 980_000),
        ("20台监护仪，预算120万", 1_200_000),
        ("首付款30%已到账，合同额240万", 2_400_000),
    ],
)
def test_amounts(amounts: AmountExtractor, text: str, value: float) -> None:
    best = amounts.best(fold(text))
    assert best is not None and best.value == value


@pytest.mark.parametrize(
    "text",
    [
        "要20台监护仪",
        "打9折",
        "比别家贵了15%",
        "价格再降五个点",
        "铝板幕墙2万平",
        "月销目前20万左右",
        "一般十几万",
        "三四十万吧",
        "三千卷的话可以给到九五折",
        "智慧黑板60块",
        "年产50万台",
        "采购 20 台",
        "三元食品的采购",
        "#############",
    ],
)
def test_not_amounts(amounts: AmountExtractor, text: str) -> None:
    assert amounts.best(fold(text)) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("一百零八", 108),
        ("三千五", 3500),
        ("两万三", 23000),
        ("一亿二千万", 120_000_000),
        ("叁拾", 30),
        ("三四", None),
    ],
)
def test_chinese_numerals(text: str, value: float | None) -> None:
    assert cn_to_number(text) == value
