"""/帮助: what the bot can do, generated from the registered commands."""

from __future__ import annotations

from bot.context import Context
from bot.router import Router

router = Router("help")

INTRO = (
    "我是 crmbot，您的销售助手。直接用一句话告诉我跟进情况就行，例如：\n"
    "  下午拜访了恒康医疗的张伟 138 1234 5678，关注交付周期，预算50万，下周三约演示\n"
    "也可以使用以下命令："
)

EVERYDAY = ("新客户", "跟进", "客户", "商机", "推进")


@router.command("帮助", usage="/帮助", help="查看可用命令", aliases=("help", "?", "？"))
def show_help(ctx: Context, args: str) -> None:
    # what a rep uses every day first, then each feature's commands in the order the features are built
    registered = ctx.services.router.all_commands()
    commands = sorted(registered, key=lambda c: (EVERYDAY.index(c.name) if c.name in EVERYDAY else len(EVERYDAY),
                                                 registered.index(c)))
    lines = [INTRO] + [f"  {c.usage} —— {c.help}" for c in commands if c.name != "帮助"]
    lines.append("发送「取消」可以结束正在进行的问答。")
    ctx.reply("\n".join(lines))
