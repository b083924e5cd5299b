"""General rules added for unseen wording: time of day, spaced dictation, run-ons, context companies."""

from __future__ import annotations

from datetime import date

import pytest

from bot.nlp.normalize import clauses, join_split_words
from bot.nlp.parser import Parser
from tests.nlp.conftest import at


@pytest.mark.parametrize(
    ("text", "now", "followup"),
    [
        ("给苏宁易购的张磊打电话没人接，下午再打", "2026-01-30 19:45", date(2026, 1, 30)),
        ("客户说在开会，那我晚上再打给他", "2026-03-24 10:05", date(2026, 3, 24)),
        ("今天就把报价发过去", "2026-06-23 14:10", date(2026, 6, 23)),
        ("下午拜访了恒康医疗的张伟", "2026-03-10 16:40", None),  # done, not planned
        ("周五晚上东阿阿胶的采购打电话来说我们中标了", "2026-09-11 18:10", None),  # today, told
        ("周五晚上再约他吃饭", "2026-09-09 18:10", date(2026, 9, 11)),
        ("他说过两天再说", "2026-04-15 10:00", None),  # vague
        ("预计六月中签", "2026-05-25 14:25", None),  # a guess
    ],
)
def test_follow_up_dates(parser: Parser, text: str, now: str, followup: date | None) -> None:
    assert parser.parse_text(text, at(now)).next_followup == followup


def test_spaced_dictation_is_closed_up_around_one_character_words() -> None:
    assert join_split_words("我们 中标 了 合同金额 二百万") == "我们 中标了 合同金额 二百万"
    assert join_split_words("约 他 本周 四 下午 电话") == "约他 本周四 下午 电话"


def test_run_on_message_is_cut_where_the_subject_changes() -> None:
    text = "前天去的玲珑轮胎今天温经理回电话说方案通过了要一份正式报价明天发"
    parts = [c.text for c in clauses(text, split_run_on=True)]
    assert parts[0] == "前天去的玲珑轮胎"
    assert any(p.endswith("明天发") for p in parts)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("晚上跟奥克斯空调的吴经理吃了个饭 合同基本谈妥了 金额一百二十来万", "amount", 1200000),
        ("晚上跟奥克斯空调的吴经理吃了个饭 合同基本谈妥了 下周二签", "stage", "negotiation"),
        ("我们 中标 了 合同金额 二百万", "stage", "won"),
        ("样机测试通过了，下一步走采购", "stage", "demo"),
        ("准备下周一去广州做商务谈判", "stage", None),
        ("深圳大学 图书馆 的 邱老师 发来消息", "company", "深圳大学"),
        ("瑞丰银行信息科技部的陈科长说年后再说", "company", "瑞丰银行"),
        ("跟星巴克签了！！一期合同额2.3亿", "company", "星巴克"),
        ("紫金矿业那边温经理说设备方案OK的", "company", "紫金矿业"),
        ("今天拜访的徐福记不是决策人", "contact_name", None),
        ("刚和东方雨虹的习总微信语音聊了二十分钟，让明天把合同发过去", "method", "wechat"),
        ("雅戈尔的吉经理说今年不做数字化了", "conclusion", "reject"),
        ("海信的苗总说今年不考虑了，明年再看", "conclusion", "hold"),
        ("中通快递的吴经理看完我们的演示后说功能太简单，不满足需求", "conclusion", "reject"),
        ("中通快递的吴经理看完我们的演示后说功能太简单", "next_action", None),
    ],
)
def test_unseen_phrasings(parser: Parser, text: str, field: str, value: object) -> None:
    assert getattr(parser.parse_text(text, at("2026-06-10 10:00")), field) == value


@pytest.mark.parametrize(
    ("text", "contact", "company"),
    [
        ("跟中仓智运的仓储经理韦强见了面", "韦强", "中仓智运"),  # not 储经理: 仓储 is the job
        ("见到了宏泰冷链的物流总监闫冬，聊得很好", "闫冬", "宏泰冷链"),
        ("晚上和中联重装的采购部长孔德明见面吃了个饭", "孔德明", "中联重装"),
        ("和云启科技CIO雷鸣开了个视频会议", "雷鸣", "云启科技"),
        ("跟信达云服的采购负责人苗青过了一遍报价", "苗青", "信达云服"),
    ],
)
def test_a_full_name_after_a_job_word(parser: Parser, text: str, contact: str, company: str) -> None:
    out = parser.parse_text(text, at("2026-03-10 10:00"))
    assert (out.contact_name, out.company) == (contact, company)


@pytest.mark.parametrize(
    ("text", "stage", "conclusion"),
    [
        ("人民医院骨科聂主任 签了！一百八十八万", "won", "advance"),
        ("合家欢超市下了第一批订单", "won", "advance"),
        ("物业采购说维保合同三年共计96万元已签", "won", "advance"),
        ("邮件已发 附件是产品手册和报价", "quote", None),
        ("筑联科技的黎经理说被总部统一采购了 我们出局", "lost", "reject"),
        ("他们在别家下了订单", "lost", "reject"),
        ("客户说准备签了", None, "advance"),  # a plan, not a milestone: but an attitude
        ("你们的报价方式是怎样的", None, None),  # a question about quoting
        ("寒假前不谈了", None, "hold"),
        ("说不想再合作了", None, "reject"),
    ],
)
def test_milestones_and_attitudes_in_other_words(parser: Parser, text: str, stage: str | None,
                                                 conclusion: str | None) -> None:
    out = parser.parse_text(text, at("2026-03-10 10:00"))
    assert (out.stage, out.conclusion) == (stage, conclusion)


@pytest.mark.parametrize(
    ("text", "company"),
    [
        ("速达传动 报价发了 18.5w", "速达传动"),
        ("家家乐 15号 打电话", "家家乐"),
        ("海纳云，下周五再碰一下", "海纳云"),
        ("今天 拜访了 恒康医疗", "恒康医疗"),  # a time word opens the note, not a name
        ("张伟 说 下周再谈", None),  # a person
        ("报价 已发 对方在看", None),
        ("刚才 电话 没人接", None),
    ],
)
def test_a_note_that_opens_with_the_customers_name(parser: Parser, text: str, company: str | None) -> None:
    assert parser.parse_text(text, at("2026-03-10 10:00")).company == company


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("周三去鼎峰机电", "visit"),
        ("我约了周二过去讲一下", "visit"),
        ("要求我们明天派人过去", "visit"),
        ("让我们下周一去总部谈合同", "contract"),
        ("下下周三去总部签字", "contract"),
        ("说要报一下华东到西南的干线运价 周五给他", "quote"),
        ("他说上次演示的那个版本还在内部评估", None),  # a demo in the past
        ("去年买的设备还在用", None),
    ],
)
def test_next_steps_in_other_words(parser: Parser, text: str, action: str | None) -> None:
    assert parser.parse_text(text, at("2026-03-10 10:00")).next_action == action


@pytest.mark.parametrize(
    ("text", "pains"),
    [
        ("说 题库系统 做得 比 我们 好 的 有好几家 而且 都 比 我们 便宜", ["competitor", "price"]),  # dictation spacing
        ("说报价比海峰那边每吨贵了将近20块", ["competitor", "price"]),
        ("被华翔拿走了，采购说主要是价格差了3个点", ["competitor", "price"]),
        ("樊处长说效果可以，但今年财政紧", ["price"]),
        ("就是上次那批货到得太晚了", ["delivery"]),
        ("他们玉米种子包衣剂一直用先正达的，没兴趣换", ["competitor"]),
        ("价格比去年涨了", ["price"]),  # a comparison with last year is no competitor
    ],
)
def test_concerns_in_other_words(parser: Parser, text: str, pains: list[str]) -> None:
    assert parser.parse_text(text, at("2026-03-10 10:00")).pain_points == pains


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("华固商砼的采购Amy发来V信，说报价贵了", "Amy"),
        ("天润汽车零部件有限公司 采购 Kevin 邮件 回复 说 quote 收到 了", "Kevin"),
        ("今天 跟 Tony 去 visit 了 宏昌橡胶，见了 他们 的 采购经理 黄丽华", "黄丽华"),  # Tony came along
        ("用 Excel 发了报价给他", None),
    ],
)
def test_english_names_of_buyers(parser: Parser, text: str, contact: str | None) -> None:
    assert parser.parse_text(text, at("2026-03-10 10:00")).contact_name == contact


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("江城水务的管材采购今天出了结果，我们第三，没 中标", "lost"),  # a lost bid, spaced dictation
        ("恒驰汽车的招标结果出来了，我们排第二，这个包被华翔拿走了", "lost"),
        ("永康医药招标结果公示了，我们中了！！！", "won"),
        ("采购赵姐说我们已经跟现在的供应商签了三年长约，暂时不需要", None),  # not our contract
        ("孙工说送样达标，可以进入商务谈判了", None),  # the negotiation has not started
        ("报价他转给领导了，在走审批", "quote"),
        ("牧场经理说挤奶设备的试用很满意", "demo"),
        ("黎律师看完了我们合同管理系统的演示，觉得还行", "demo"),
    ],
)
def test_bids_trials_and_quotes_said_differently(parser: Parser, text: str, stage: str | None) -> None:
    assert parser.parse_text(text, at("2026-03-10 10:00")).stage == stage


@pytest.mark.parametrize(
    ("text", "company", "contact"),
    [
        ("跟 龙泉县教育局 装备股 的 万股长 见了面", "龙泉县教育局", "万股长"),
        ("武汉同济医院 麻醉科 的 费主任 说 先用着", "武汉同济医院", "费主任"),
        ("新城控股 的 邢总 说 项目 叫停 了", "新城控股", "邢总"),  # 控股 is a company word, not a unit
        ("平和保险经纪 的 业务总监 冯晓东 约了 会", "平和保险经纪", "冯晓东"),
    ],
)
def test_units_and_roles_are_not_the_customer(parser: Parser, text: str, company: str, contact: str) -> None:
    out = parser.parse_text(text, at("2026-03-10 10:00"))
    assert (out.company, out.contact_name) == (company, contact)


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("他说可以，让我明天把合铜草稿发他", "contract"),  # an input-method slip
        ("老板觉得贵了，要我们再降一点，下周三给他们从新报一下", "quote"),
        ("鸿泰建材的 Lisa 要一个 quote，deadline 是这周五", "quote"),
        ("让我这周四把合同带过去", "contract"),
        ("启航电机马工要规格书，明天发", "send_material"),
        ("下周二我带方案过去讲", "visit"),
        ("餐饮总监说后厨设备的合同节后第一天签", "contract"),
        ("节前最后一次拜访洋河酒厂魏主任", None),  # 节前 is when it happened
    ],
)
def test_next_steps_with_slips_and_english(parser: Parser, text: str, action: str | None) -> None:
    assert parser.parse_text(text, at("2026-03-10 10:00")).next_action == action


@pytest.mark.parametrize(
    ("text", "now", "followup"),
    [
        ("周六 还在 厂里，高工 说 没问题，让 我 周一 去 签 补充协议", "2026-07-25 10:00", date(2026, 7, 27)),
        ("她说11月3号之前定下来，让我下周一把正式报价发她", "2026-10-20 10:00", date(2026, 10, 26)),
        ("周五之前给答复", "2026-03-10 10:00", date(2026, 3, 13)),  # the only date: still the one
    ],
)
def test_today_and_the_customers_deadline_give_way_to_our_next_date(parser: Parser, text: str, now: str,
                                                                     followup: date) -> None:
    assert parser.parse_text(text, at(now)).next_followup == followup


@pytest.mark.parametrize(
    "transcript",
    [
        "客户：喂 是小王吧 我是华北电力设计院的卜工 我这会儿忙 你明天上午再打来吧 销售：好的卜工",
        "客户：喂 我现在在开车 销售：赵总 想问下预算 客户：回头再说吧 周四你再打过来 销售：好的好的",
    ],
)
def test_a_customer_asking_to_be_called_back(parser: Parser, transcript: str) -> None:
    from bot.nlp.types import CallLog

    call = CallLog.model_validate({"call_id": "c1", "rep": "zhangsan", "customer_phone": "13812345678",
                                   "started_at": "2026-03-10T10:00:00+08:00", "duration_s": 60,
                                   "transcript": transcript})
    assert parser.parse_call(call).next_action == "call"


def _call(transcript: str) -> object:
    from bot.nlp.types import CallLog

    return CallLog.model_validate({"call_id": "c1", "rep": "zhangsan", "customer_phone": "13812345678",
                                   "started_at": "2026-03-10T10:00:00+08:00", "duration_s": 60,
                                   "transcript": transcript})


def test_the_callers_own_company_is_not_the_customer(parser: Parser) -> None:
    out = parser.parse_call(_call("坐席：您好 我是云仓科技的 客户：不需要 谢谢"))  # type: ignore[arg-type]
    assert out.company is None
    out = parser.parse_call(_call("客户：喂 是小王吧 我是华北电力设计院的卜工 你明天上午再打来吧 销售：好的卜工"))  # type: ignore[arg-type]
    assert (out.company, out.contact_name) == ("华北电力设计院", "卜工")  # the customer introducing himself


def test_last_years_figure_gives_way_to_this_years(parser: Parser) -> None:
    out = parser.parse_call(_call("坐席：保费预算大概多少 客户：去年是八十万左右 今年车多了 估计一百万"))  # type: ignore[arg-type]
    assert out.amount == 1_000_000
