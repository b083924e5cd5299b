"""`crmbot jobs [--run] [--all]`: tracked jobs (offboarding handovers) with their progress.

`--run` resumes every unfinished job now (the database part, and with WeCom enabled one round of
离职继承 transfers and polls); `crmbot serve` does the same in the background.
"""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import guarded, services_from

STATE_ZH = {
    "pending": "待开始",
    "running": "进行中",
    "done": "已完成",
    "failed": "失败",
    "cancelled": "已取消",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("jobs", help="查看离职交接等后台任务的进度")
    p.add_argument("--run", action="store_true", help="立即继续所有未完成的任务")
    p.add_argument("--limit", type=int, default=20, help="显示最近多少个任务")
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def run(args: argparse.Namespace) -> int:
    from bot import jobs

    services = services_from(args)
    if args.run:
        jobs.install(services)
        steps = asyncio.run(_run_all(services))
        print(f"已继续未完成的任务（{steps} 步）。")
    with services.uow_factory() as uow:
        rows = [(j, uow.jobs.count_items(j.id or 0)) for j in uow.jobs.recent(args.limit)]
        users = {u.id: u.name for u in uow.users.list(include_offboarded=True)}
    if not rows:
        print("还没有任何任务。")
        return 0
    for job, counts in rows:
        who = users.get(str(job.params.get("leaver")), job.params.get("leaver"))
        when = job.created_at.astimezone(services.tz).strftime("%Y-%m-%d %H:%M")
        error = f"  最近错误：{job.progress['last_error']}" if job.progress.get("last_error") else ""
        print(
            f"#{job.id}\t{job.kind}\t{STATE_ZH.get(job.state, job.state)}\t{who}\t{when}\t"
            f"{jobs.describe(job, counts)}{error}"
        )
    return 0


async def _run_all(services: object) -> int:
    from bot import jobs

    settings = services.settings  # type: ignore[attr-defined]
    if not settings.wecom.enabled:
        return await jobs.run_pending_async(services)  # type: ignore[arg-type]
    from bot.channels.wecom.client import WeComClient

    client = WeComClient(settings.wecom)
    try:
        return await jobs.run_pending_async(services, client)  # type: ignore[arg-type]
    finally:
        await client.close()
