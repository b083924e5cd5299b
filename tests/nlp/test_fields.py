"""Field-by-field checks of the parser on sentences written for these tests (not from the corpus)."""

from __future__ import annotations

import pytest

from bot.nlp.parser import Parser
from bot.nlp.types import CallLog

from .conftest import at

NOW = "2026-03-10 10:00"  # a Tuesday


def parse(parser: Parser, text: str, now: str = NOW):
    return parser.parse_text(text, at(now))


@pytest.mark.parametrize(
    ("text", "method"),
    [
        ("上午拜访了恒泰科技的王总", "visit"),
        ("今天上门聊了一下需求", "visit"),
        ("和李经理当面谈了两个小时", "visit"),
        ("在展会上碰到了宏远电器的孙总", "visit"),
        ("刘老板来门店看了样品", "visit"),
        ("给张伟打了个电话", "phone"),
        ("华康医疗的刘主任来电问价格", "phone"),
        ("电话沟通了付款方式", "phone"),
        ("致电采购部确认参数", "phone"),
        ("微信上跟陈总聊了方案", "wechat"),
        ("企微问了一下进展", "wechat"),
        ("钉钉私聊了马经理", "wechat"),
        ("他发消息说再等等", "wechat"),
        ("给王总发了邮件，附上白皮书", "email"),
        ("腾讯会议给客户讲了方案", "video"),
        ("钉钉会议上做了远程演示", "video"),
        ("开了视频会议对需求", "video"),
    ],
)
def test_method_cues(parser: Parser, text: str, method: str) -> None:
    assert parse(parser, text).method == method


@pytest.mark.parametrize(
    "text",
    [
        "明天去拜访恒泰科技的王总",  # a plan, not a contact
        "下周三再上门详谈",
        "王总电话 139 0000 1234",  # a phone label
        "联系电话：0571-8888 6666",
        "约了后天见面",
        "恒泰科技的王总说预算批下来了",
    ],
)
def test_no_method_for_plans_and_labels(parser: Parser, text: str) -> None:
    assert parse(parser, text).method is None


@pytest.mark.parametrize(
    ("text", "conclusion"),
    [
        ("王总对方案很满意", "advance"),
        ("对方意向很强，想尽快推进", "advance"),
        ("客户同意先试用", "advance"),
        ("李经理说价格可以接受", "advance"),
        ("客户暂时不考虑", "hold"),  # a negation that is a pause, not a refusal
        ("今年先不考虑，明年再说", "hold"),
        ("要跟领导商量一下", "hold"),
        ("项目先搁置了", "hold"),
        ("对售后很不满意，续约暂缓", "hold"),
        ("没有意向", "reject"),
        ("对方说不需要", "reject"),
        ("客户明确拒绝了", "reject"),
        ("已经选了别家的方案", "reject"),
        ("不考虑我们了", "reject"),
        ("没兴趣，不用再联系了", "reject"),
    ],
)
def test_conclusion(parser: Parser, text: str, conclusion: str) -> None:
    assert parse(parser, text).conclusion == conclusion


@pytest.mark.parametrize(
    "text",
    ["今天给王总发了产品资料", "订单已发货，顺便确认了收货地址", "需求已确认，预算80万", "客户问了一下价格"],
)
def test_neutral_reports_have_no_conclusion(parser: Parser, text: str) -> None:
    assert parse(parser, text).conclusion is None


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("下周三带样机过去演示", "demo"),
        ("明天给他开通试用账号", "demo"),
        ("后天出报价", "quote"),
        ("让我们重新报个价", "quote"),
        ("下周一把合同发过去", "contract"),
        ("周五去签合同", "contract"),
        ("明天把资质文件发过去", "send_material"),
        ("下周四出方案", "send_material"),
        ("下周二再上门详谈", "visit"),
        ("约好周五去他们公司面谈", "visit"),
        ("明天上午再打", "call"),
        ("3月16日电话回访", "call"),
        ("下周二拉个群对方案", "group_chat"),
    ],
)
def test_next_action(parser: Parser, text: str, action: str) -> None:
    assert parse(parser, text).next_action == action


@pytest.mark.parametrize(
    "text",
    [
        "再联系",
        "过两天跟进一下",
        "报价已发",
        "已经把合同发给他们法务了",
        "上周演示完了",
        "他说下周一给反馈",
        "下周一他把需求清单发过来",
        "等会我打给你吧",
    ],
)
def test_vague_or_done_steps_are_not_next_actions(parser: Parser, text: str) -> None:
    assert parse(parser, text).next_action is None


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("需求明确了", "qualified"),
        ("确认需求后再报价", "qualified"),
        ("演示做完了，客户挺满意", "demo"),
        ("样机试用完了", "demo"),
        ("报价发了，总价30万", "quote"),
        ("上周已报价", "quote"),
        ("合同在法务那边审", "negotiation"),
        ("正在谈价格", "negotiation"),
        ("今天签约了", "won"),
        ("合同已盖章", "won"),
        ("中标了！", "won"),
        ("这单丢了", "lost"),
        ("客户选了别家", "lost"),
    ],
)
def test_stage(parser: Parser, text: str, stage: str) -> None:
    assert parse(parser, text).stage == stage


@pytest.mark.parametrize(
    "text",
    ["下周三演示", "明天出报价", "准备签合同", "估计下周能签", "还没报价", "需求不明确"],
)
def test_plans_are_not_stages(parser: Parser, text: str) -> None:
    assert parse(parser, text).stage is None


@pytest.mark.parametrize(
    ("text", "pains"),
    [
        ("嫌价格太高", ["price"]),
        ("预算紧，想要个折扣", ["price"]),
        ("在跟友商对比", ["competitor"]),
        ("别家便宜一半", ["competitor", "price"]),
        ("担心交期太长", ["delivery"]),
        ("上次到货晚了一周", ["delivery"]),
        ("售后响应太慢", ["after_sales"]),
        ("维修等了两周", ["after_sales"]),
        ("对维保服务很感兴趣", []),
        ("价格可以接受", []),
        ("去做交付启动会", []),
    ],
)
def test_pain_points(parser: Parser, text: str, pains: list[str]) -> None:
    assert parse(parser, text).pain_points == pains


@pytest.mark.parametrize(
    ("text", "contact", "company"),
    [
        ("拜访了恒康医疗的张伟", "张伟", "恒康医疗"),
        ("和瑞安医疗器械有限公司采购部刘主任见面", "刘主任", "瑞安医疗器械有限公司"),
        ("江宁区人民医院设备科赵科长说", "赵科长", "江宁区人民医院"),
        ("给智信通的杨帆回了电话", "杨帆", "智信通"),
        ("美妆品牌花语的负责人周倩说", "周倩", "花语"),
        ("跟小刘一起去了江北中心医院，见了器械科马主任", "马主任", "江北中心医院"),
        ("今天拜访的酷玩潮品，徐老板说再看看", "徐老板", "酷玩潮品"),
        ("给鲜果时光的采购经理打了电话", None, "鲜果时光"),
        ("淘宝店主罗小军来电", "罗小军", None),
        ("南通海达纺机有限公司的罗厂长", "罗厂长", "南通海达纺机有限公司"),
        ("设计总监吴总对涂料挺认可", "吴总", None),
    ],
)
def test_contact_and_company(parser: Parser, text: str, contact: str | None, company: str | None) -> None:
    r = parse(parser, text)
    assert (r.contact_name, r.company) == (contact, company)


def test_known_names_from_the_database_win(parser: Parser) -> None:
    p = Parser()
    p.add_names(companies=["千里马"], contacts=["欧阳娜娜"])
    r = p.parse_text("今天见了千里马欧阳娜娜，聊得不错", at(NOW))
    assert (r.company, r.contact_name) == ("千里马", "欧阳娜娜")
    assert r.confidence["company"] >= 0.9


def test_voice_input_with_filler_words(parser: Parser) -> None:
    r = parse(
        parser,
        "嗯 那个 上午去了顺驰冷链 呃 见了他们运营的梁经理 就是说 他们 对价格 比较敏感 然后 下周一 再过去一趟",
    )
    assert r.method == "visit"
    assert r.company == "顺驰冷链"
    assert r.contact_name == "梁经理"
    assert r.next_action == "visit"
    assert str(r.next_followup) == "2026-03-16"


def test_full_width_and_spaced_numbers(parser: Parser) -> None:
    r = parse(parser, "王总手机１３８　１２３４　５６７８，预算５０万，下周五报价")
    assert r.phone == "13812345678"
    assert r.amount == 500000
    assert str(r.next_followup) == "2026-03-20"


def test_amount_phone_and_date_do_not_mix(parser: Parser) -> None:
    r = parse(parser, "总价12.5万，订单号20260310001，电话0571-8723 6610，8.20去签")
    assert r.amount == 125000
    assert r.phone == "057187236610"
    assert str(r.next_followup) == "2026-08-20"


def test_confidence_for_every_stated_field(parser: Parser) -> None:
    r = parse(parser, "下午拜访了恒康医疗的张伟 138 1234 5678，预算50万，约好下周三演示")
    stated = {k for k, v in r.to_output().items() if v not in (None, [])}
    assert stated <= set(r.confidence)
    assert all(0 < c <= 1 for c in r.confidence.values())


def test_call_log(parser: Parser) -> None:
    call = CallLog(
        call_id="C1",
        customer_phone="+86 139 0158 7726",
        started_at=at("2026-03-11 10:02"),
        duration_s=612,
        transcript="销售：喂您好 请问是宏达机械的刘主任吗 客户：对 方案没问题 就是价格还得再谈谈 销售：明天下午给您回个电话",
    )
    r = parser.parse_call(call)
    assert r.phone == "13901587726"
    assert r.method == "phone"
    assert r.effective is True
    assert (r.contact_name, r.company) == ("刘主任", "宏达机械")
    assert r.next_action == "call"
    assert str(r.next_followup) == "2026-03-12"


@pytest.mark.parametrize(
    ("duration", "transcript", "effective"),
    [
        (480, "客户：合同我们看过了", True),
        (479, "客户：合同我们看过了", False),
        (900, "客户：你们售后太慢了", False),
        (900, "客户：多少钱 有没有优惠", False),  # not one of the business words
        (600, "客户：能不能再给点折扣", True),
        (0, "", False),
    ],
)
def test_call_effectiveness(parser: Parser, duration: int, transcript: str, effective: bool) -> None:
    call = CallLog(
        call_id="C",
        customer_phone="13800000000",
        started_at=at(NOW),
        duration_s=duration,
        transcript=transcript,
    )
    assert parser.parse_call(call).effective is effective


def test_chat_messages_have_no_effective(parser: Parser) -> None:
    assert parse(parser, "今天电话沟通了合同条款").effective is None
