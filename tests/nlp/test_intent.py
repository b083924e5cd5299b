import pytest

from bot.nlp.parser import Parser


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("你好", "greeting"),
        ("您好！", "greeting"),
        ("在吗", "greeting"),
        ("hello", "greeting"),
        ("怎么用", "help"),
        ("帮助", "help"),
        ("/help", "help"),
        ("你能做什么？", "help"),
        ("张伟的电话是多少", "lookup"),
        ("查一下恒康医疗", "lookup"),
        ("恒康医疗现在什么阶段？", "lookup"),
        ("怎么联系瑞安医疗的刘主任", "lookup"),
        ("谢谢", "smalltalk"),
        ("好的", "smalltalk"),
        ("哈哈哈", "smalltalk"),
        ("下午拜访了恒康医疗的张伟，预算50万，约好下周三演示", "followup"),
        ("给王总打了电话，他说暂缓", "followup"),
        ("嗯 那个 上午去了顺驰冷链 见了梁经理", "followup"),
        ("刘主任问能不能便宜点？我说明天给他报价", "followup"),
    ],
)
def test_intent(parser: Parser, text: str, intent: str) -> None:
    assert parser.intent(text) == intent
