"""Users and the org: bulk upsert from a users file, and the demo org."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core import audit
from core.errors import InvalidInput
from core.model import ROLE_NAMES_ZH, Role, User, UserStatus
from core.ports import UnitOfWork

ROLE_WORDS: dict[str, Role] = {r.value: r for r in Role} | {v: k for k, v in ROLE_NAMES_ZH.items()} | {
    "经理": Role.MANAGER, "销售主管": Role.MANAGER, "销售总监": Role.DIRECTOR, "hrbp": Role.HR,
}


@dataclass
class UserInput:
    id: str
    name: str
    roles: list[str] = field(default_factory=lambda: ["rep"])
    team: str | None = None
    manager_id: str | None = None
    regions: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    capacity: int | None = None
    wecom_userid: str | None = None
    dingtalk_staffid: str | None = None


def parse_roles(words: list[str], where: str) -> frozenset[Role]:
    roles = set()
    for word in words:
        role = ROLE_WORDS.get(word.strip().lower()) or ROLE_WORDS.get(word.strip())
        if role is None:
            options = "、".join(r.value for r in Role)
            raise InvalidInput(f"{where}：未知角色「{word}」（可选：{options}，或 销售/主管/总监/财务/人事/管理员）。")
        roles.add(role)
    return frozenset(roles or {Role.REP})


def upsert_users(uow: UnitOfWork, actor_id: str, rows: list[UserInput], now: datetime) -> tuple[int, int]:
    """Create or update users; every row is validated before anything is written."""
    problems: list[str] = []
    ids = [r.id for r in rows]
    seen: set[str] = set()
    parsed: list[User] = []
    for n, row in enumerate(rows, 1):
        where = f"第 {n} 行（{row.id or '无ID'}）"
        if not row.id or not row.name:
            problems.append(f"{where}：userid 和 name 不能为空")
            continue
        if row.id in seen:
            problems.append(f"{where}：userid 重复")
        seen.add(row.id)
        try:
            roles = parse_roles(row.roles, where)
        except InvalidInput as err:
            problems.append(err.message)
            continue
        if row.manager_id and row.manager_id not in ids and uow.users.get(row.manager_id) is None:
            problems.append(f"{where}：主管「{row.manager_id}」不存在")
        if row.capacity is not None and not 0 <= row.capacity <= 10000:
            problems.append(f"{where}：容量应在 0 到 10000 之间")
        existing = uow.users.get(row.id)
        parsed.append(User(
            id=row.id, name=row.name, roles=roles, team=row.team or None, manager_id=row.manager_id or None,
            regions=tuple(row.regions), products=tuple(row.products),
            capacity=row.capacity if row.capacity is not None else (existing.capacity if existing else 15),
            status=existing.status if existing else UserStatus.ACTIVE,
            leave_until=existing.leave_until if existing else None,
            wecom_userid=row.wecom_userid or None, dingtalk_staffid=row.dingtalk_staffid or None,
        ))
    if problems:
        raise InvalidInput("用户文件有问题，没有导入任何数据：\n" + "\n".join(problems))
    created = updated = 0
    for user in parsed:
        before = uow.users.get(user.id)
        uow.users.save(user)
        if before is None:
            created += 1
            audit.record(uow, actor_id=actor_id, action="user.create", subject_type="user", subject_id=user.id,
                         now=now, after=audit.snapshot(user))
        else:
            b, a = audit.changed(audit.snapshot(before), audit.snapshot(user))
            if a:
                updated += 1
                audit.record(uow, actor_id=actor_id, action="user.update", subject_type="user",
                             subject_id=user.id, now=now, before=b, after=a)
    return created, updated


DEMO_ORG: list[UserInput] = [
    UserInput("wangzong", "王总监", ["director"], None, None, ["华东", "华南"]),
    UserInput("liufang", "刘芳", ["finance"]),
    UserInput("chenjing", "陈静", ["hr"]),
    UserInput("admin", "管理员", ["admin"]),
    UserInput("zhaoqiang", "赵强", ["manager"], "华东一组", "wangzong", ["华东"], ["监护仪", "耗材"]),
    UserInput("qianmin", "钱敏", ["manager"], "华南一组", "wangzong", ["华南"], ["监护仪", "耗材"]),
    UserInput("zhangsan", "张三", ["rep"], "华东一组", "zhaoqiang", ["华东"], ["监护仪"]),
    UserInput("lisi", "李四", ["rep"], "华东一组", "zhaoqiang", ["华东"], ["监护仪", "耗材"]),
    UserInput("wangwu", "王五", ["rep"], "华东一组", "zhaoqiang", ["华东"], ["耗材"]),
    UserInput("zhaoliu", "赵六", ["rep"], "华南一组", "qianmin", ["华南"], ["监护仪"]),
    UserInput("sunqi", "孙七", ["rep"], "华南一组", "qianmin", ["华南"], ["监护仪", "耗材"]),
    UserInput("zhouba", "周八", ["rep"], "华南一组", "qianmin", ["华南"], ["耗材"]),
]
