"""The crmbot command line, run as a user would (subprocess for exit codes and output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def crmbot(*args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBOT_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli.main", *args], cwd=cwd, input=stdin, text=True,
                          capture_output=True, env={**full_env, "PYTHONPATH": str(ROOT)}, timeout=120)


def test_init_demo_chat_script_and_export(tmp_path: Path) -> None:
    assert crmbot("init", "--demo", cwd=tmp_path).returncode == 0
    script = "!now 2026-03-10 16:40\n@zhangsan: /新客户 恒康医疗 张伟 13812345678\n"
    r = crmbot("chat", "--script", "-", cwd=tmp_path, stdin=script)
    assert r.returncode == 0, r.stderr
    assert "→ zhangsan: 【客户已建档】" in r.stdout
    r = crmbot("export", "--what", "contacts", "--format", "jsonl", cwd=tmp_path)
    row = json.loads(r.stdout.splitlines()[0])
    assert row["phone"] == "13812345678" and row["phone_normalized"] == "13812345678"
    assert row["created_at"] == "2026-03-10T16:40:00+08:00"
    r = crmbot("export", "--what", "deals", "--format", "csv", "--out", "deals.csv", cwd=tmp_path)
    header = (tmp_path / "deals.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("id,customer_id,owner_userid,title,stage,status,amount")


def test_malformed_script_line_exits_non_zero_with_the_line_number(tmp_path: Path) -> None:
    r = crmbot("chat", "--demo", "--script", "-", cwd=tmp_path, stdin="@zhangsan: /帮助\nhello there\n")
    assert r.returncode == 2
    assert "第 2 行" in r.stderr


def test_users_import_with_chinese_headers_and_bad_rows(tmp_path: Path) -> None:
    good = tmp_path / "users.csv"
    good.write_text("工号,姓名,角色,团队,主管,区域,产品线,容量,企业微信ID\n"
                    "boss,赵强,主管,华东,,华东,监护仪,20,ZhaoQiang\n"
                    "zs,张三,销售,华东,boss,华东|华北,监护仪,15,ZhangSan\n", encoding="gbk")
    r = crmbot("users", "import", str(good), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "新建 2 人" in r.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("userid,name,roles,manager\nx,某人,wizard,\ny,某某,rep,ghost\n", encoding="utf-8")
    r = crmbot("users", "import", str(bad), cwd=tmp_path)
    assert r.returncode == 1
    assert "未知角色「wizard」" in r.stderr and "主管「ghost」不存在" in r.stderr
    listed = crmbot("users", "list", cwd=tmp_path).stdout
    assert "zs\t张三" in listed and "x\t" not in listed


def test_bad_config_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "crmbot.toml"
    cfg.write_text('[dedup]\nauto = "high"\n', encoding="utf-8")
    r = crmbot("init", cwd=tmp_path)
    assert r.returncode == 1
    assert "dedup.auto" in r.stderr and "crmbot.toml" in r.stderr
    cfg.write_text("[dedup\n", encoding="utf-8")
    r = crmbot("init", cwd=tmp_path)
    assert r.returncode == 1 and "格式错误" in r.stderr


def test_env_overrides_nested_settings(tmp_path: Path) -> None:
    from bot.settings import load_settings

    cfg = tmp_path / "c.toml"
    cfg.write_text('[dedup]\nauto = 95\nask = 70\n', encoding="utf-8")
    os.environ["CRMBOT_DEDUP__ASK"] = "80"
    try:
        s = load_settings(cfg)
    finally:
        del os.environ["CRMBOT_DEDUP__ASK"]
    assert (s.dedup.auto, s.dedup.ask) == (95, 80)


def test_corrupted_sqlite_file_gets_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "broken.db"
    db.write_bytes(b"this is not a database" * 100)
    r = crmbot("init", "--database", f"sqlite:///{db}", cwd=tmp_path)
    assert r.returncode == 1
    assert "损坏" in r.stderr or "无法读取" in r.stderr
    assert db.read_bytes().startswith(b"this is not a database")


def test_postgres_down_gets_a_clear_error(tmp_path: Path) -> None:
    r = crmbot("init", "--database", "postgresql://postgres@127.0.0.1:1/none", cwd=tmp_path)
    assert r.returncode == 1
    assert "无法连接数据库" in r.stderr


@pytest.mark.parametrize("what", ["customers", "contacts", "deals", "followups", "stage_changes", "assignments",
                                  "alerts", "audit"])
def test_every_export_runs_on_an_empty_database(tmp_path: Path, what: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["export", "--what", what, "--format", "csv", "--out", "x.csv"]) == 0
    assert (tmp_path / "x.csv").read_text(encoding="utf-8").startswith("id,")


def test_locked_sqlite_file_gets_a_clear_error(tmp_path: Path) -> None:
    import sqlite3

    from sqlalchemy import event

    from storage.db import StorageError, create_db_engine, upgrade

    db = tmp_path / "locked.db"
    holder = sqlite3.connect(db)
    holder.execute("CREATE TABLE x (a)")
    holder.commit()
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the lock
    try:
        engine = create_db_engine(f"sqlite:///{db}")
        # do not wait the production 15 s for the lock in a test
        event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout=200"), insert=True)
        with pytest.raises(StorageError) as err:
            upgrade(engine)
        assert "锁定" in str(err.value)
    finally:
        holder.rollback()
        holder.close()


def test_interactive_chat_reads_lines_and_presses_buttons_by_number(tmp_path: Path) -> None:
    r = crmbot("chat", "--demo", "--as", "zhangsan", cwd=tmp_path,
               stdin="/新客户 恒康医疗 张伟 13812345678\n/新客户 恒唐医疗 李四\n2\n")
    assert r.returncode == 0, r.stderr
    assert "客户已建档" in r.stdout and "是否关联到" in r.stdout
    assert r.stdout.count("客户已建档") == 2  # "2" pressed 新建客户


def test_chat_as_unknown_user_fails_clearly(tmp_path: Path) -> None:
    r = crmbot("chat", "--demo", "--as", "ghost", cwd=tmp_path, stdin="")
    assert r.returncode == 1 and "没有用户「ghost」" in r.stderr


def _start_serve(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    """`crmbot serve` on a free port, its /healthz answered; the port is in `proc.args`."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBOT_")}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "serve", "--port", str(port), *extra],
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    body = None
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                body = json.loads(resp.read())
                break
        except OSError:
            time.sleep(0.2)
    if body != {"status": "ok", "channels": []}:
        proc.kill()
        raise AssertionError(f"/healthz answered {body}: {proc.communicate()[1][-2000:]}")
    return proc


def _stop_serve(proc: subprocess.Popen[str]) -> str:
    import signal

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def test_serve_answers_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = _start_serve(tmp_path)
    try:
        assert "尚未配置企业微信或钉钉" in _stop_serve(proc)
    finally:
        if proc.poll() is None:
            proc.kill()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_serve_with_workers_starts_them_and_stops_them_all_on_sigterm(tmp_path: Path) -> None:
    import time

    proc = _start_serve(tmp_path, "--workers", "2")
    try:
        workers: list[int] = []
        for _ in range(100):  # the resource tracker is a child too: wait for both workers
            workers = [p for p in _children(proc.pid)
                       if "spawn_main" in _cmdline(p) and "resource_tracker" not in _cmdline(p)]
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2
        assert "处理进程：2" in _stop_serve(proc)
        assert not [p for p in workers if Path(f"/proc/{p}").exists()]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_refuses_an_impossible_number_of_workers(tmp_path: Path) -> None:
    r = crmbot("serve", "--workers", "500", cwd=tmp_path)
    assert r.returncode == 2 and "--workers 应在 0 到 64 之间" in r.stderr
