"""`crmbot users import users.csv` and `crmbot users list`."""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

from bot.cli.common import fail, guarded, services_from
from core.errors import InvalidInput
from core.usecases.users import UserInput, upsert_users

HEADERS = {
    "userid": "id", "user_id": "id", "id": "id", "用户id": "id", "工号": "id", "账号": "id",
    "name": "name", "姓名": "name", "名字": "name",
    "roles": "roles", "role": "roles", "角色": "roles",
    "team": "team", "团队": "team", "小组": "team",
    "manager": "manager", "主管": "manager", "上级": "manager",
    "regions": "regions", "region": "regions", "区域": "regions",
    "products": "products", "product": "products", "产品线": "products", "产品": "products",
    "capacity": "capacity", "容量": "capacity",
    "wecom_userid": "wecom", "企业微信id": "wecom", "企业微信": "wecom",
    "dingtalk_staffid": "dingtalk", "钉钉id": "dingtalk", "钉钉": "dingtalk",
}
_LIST_SPLIT = re.compile(r"[|,，、;；/\s]+")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("users", help="导入或查看用户")
    p.add_argument("action", choices=["import", "list"])
    p.add_argument("file", nargs="?", help="users.csv（列：userid,name,roles,team,manager,regions,products,"
                                           "capacity,wecom_userid,dingtalk_staffid；也接受中文表头）")
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def _split(value: str | None) -> list[str]:
    return [v for v in _LIST_SPLIT.split(value or "") if v]


def read_users_csv(path: Path) -> list[UserInput]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput(f"{path} 的编码无法识别（支持 UTF-8 和 GBK）。")
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise InvalidInput(f"{path} 是空文件或没有表头。")
    mapping = {h: HEADERS.get(h.strip().lower()) for h in reader.fieldnames}
    if "id" not in mapping.values() or "name" not in mapping.values():
        raise InvalidInput(f"{path} 缺少 userid 或 name 列（表头：{', '.join(reader.fieldnames)}）。")
    rows = []
    for record in reader:
        v = {mapping[k]: (val or "").strip() for k, val in record.items() if k and mapping.get(k)}
        capacity = v.get("capacity")
        if capacity and not capacity.isdigit():
            raise InvalidInput(f"用户 {v.get('id')} 的容量「{capacity}」不是整数。")
        rows.append(UserInput(
            id=v.get("id", ""), name=v.get("name", ""), roles=_split(v.get("roles")) or ["rep"],
            team=v.get("team") or None, manager_id=v.get("manager") or None, regions=_split(v.get("regions")),
            products=_split(v.get("products")), capacity=int(capacity) if capacity else None,
            wecom_userid=v.get("wecom") or None, dingtalk_staffid=v.get("dingtalk") or None,
        ))
    return rows


def run(args: argparse.Namespace) -> int:
    services = services_from(args)
    if args.action == "list":
        with services.uow_factory() as uow:
            for u in uow.users.list(include_offboarded=True):
                print(f"{u.id}\t{u.name}\t{'/'.join(sorted(u.roles))}\t{u.team or ''}\t{u.status.value}")
        return 0
    if not args.file:
        return fail("请指定用户文件：crmbot users import users.csv")
    path = Path(args.file)
    if not path.exists():
        return fail(f"找不到文件：{path}")
    try:
        rows = read_users_csv(path)
        with services.uow_factory() as uow:
            created, updated = upsert_users(uow, "cli", rows, services.clock.now())
            uow.commit()
    except InvalidInput as err:
        return fail(err.message)
    print(f"导入完成：新建 {created} 人，更新 {updated} 人，共 {len(rows)} 行。")
    return 0
