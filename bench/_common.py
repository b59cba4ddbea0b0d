"""Shared pieces of the benchmarks: a throw-away PostgreSQL database migrated like the test suite's,
an asset owner tenant, a deterministic generator of lender case files, a child process that reports
its peak memory, and optional phase timers.

Imported by ``bench/*.py`` after they have appended ``<repo>/platform`` to ``sys.path``; it imports
``arrears`` lazily (inside functions) so that it can itself be imported first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = str(ROOT / "platform")
if PLATFORM not in sys.path:
    sys.path.append(PLATFORM)  # append, never prepend: the stdlib ``platform`` module must win

OWNER_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
APP_ROLE = "arrears_app"
# Fixed benchmark keys for personal data (never used outside benchmarks).
PII_KEY = "bYq0m3Pq9V6p7m4c5Zb2y1N8h0s-2Jx3kL4rT5uV6wA="
PII_INDEX_KEY = "bench-index-key-0123456789abcdefghijklmnop"
PASSWORD = "Bench-Pass-2026!"


# --- output ---------------------------------------------------------------------------------------


def say(message: str) -> None:
    print(message, flush=True)


def result_line(
    bench: str, value: float, baseline: float, target: str, *, unit: str = "s", **extra: Any
) -> str:
    """The benchmark's figure as one JSON object: always the last line printed."""
    return json.dumps(
        {
            "bench": bench,
            "value": round(value, 3),
            "unit": unit,
            "baseline": round(baseline, 3),
            "ratio": round(value / baseline, 3),
            "target": target,
            **extra,
        },
        ensure_ascii=False,
    )


def rss_mb() -> float:
    """The current resident set size of this process (Linux)."""
    return _proc_status_mb("VmRSS")


def self_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


# --- database and application -----------------------------------------------------------------------


@dataclass
class Env:
    name: str
    owner_url: str
    app_url: str
    workdir: Path
    config: dict[str, Any]


@contextlib.contextmanager
def environment(prefix: str) -> Iterator[Env]:
    """A temporary database ``<prefix>_<pid>`` migrated as the owner, a temporary directory (the
    app's instance path and the benchmark's files); both are removed whatever happens."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(OWNER_URL)
    name = f"{prefix}_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}_"))
    previous_instance = os.environ.get("ARREARS_INSTANCE_PATH")
    # create_app() reads (and in development writes) instance/: keep it out of the repository.
    os.environ["ARREARS_INSTANCE_PATH"] = str(workdir / "instance")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        owner_url = base.set(database=name).render_as_string(hide_password=False)
        app_url = base.set(database=name, username=APP_ROLE, password=None).render_as_string(
            hide_password=False
        )
        env = Env(name, owner_url, app_url, workdir, app_config(owner_url, app_url))
        migrate(env.config)
        yield env
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()
            shutil.rmtree(workdir, ignore_errors=True)
            if previous_instance is None:
                os.environ.pop("ARREARS_INSTANCE_PATH", None)
            else:
                os.environ["ARREARS_INSTANCE_PATH"] = previous_instance


def app_config(owner_url: str, app_url: str) -> dict[str, Any]:
    return {
        "ARREARS_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": app_url,
        "DATABASE_MIGRATION_URL": owner_url,
        "REDIS_URL": "",  # no Redis: jobs run inline
        "REDIS_KEY_PREFIX": f"arrears-bench-{os.getpid()}",
        "SERVER_NAME": "localhost",
        "PII_KEYS": PII_KEY,
        "PII_INDEX_KEY": PII_INDEX_KEY,
        "BABEL_DEFAULT_LOCALE": "en",
    }


def migrate(config: dict[str, Any]) -> None:
    from flask_migrate import upgrade

    from arrears.app import create_app

    app = create_app(config)
    with app.app_context():
        upgrade()
        _dispose(app)


def _dispose(app: Any) -> None:
    from arrears.extensions import db

    db.session.remove()
    db.engine.dispose()


@contextlib.contextmanager
def app_context(config: dict[str, Any]) -> Iterator[Any]:
    from arrears.app import create_app

    app = create_app(config)
    with app.app_context():
        try:
            yield app
        finally:
            _dispose(app)


def make_owner(slug: str) -> int:
    """An asset owner tenant (inside an app context); returns its id."""
    from arrears.orgs import orgs

    org = orgs.create_organisation(
        None,
        kind="asset_owner",
        slug=slug,
        name=f"Bench {slug}",
        admin_email=f"admin@{slug}.bench.example",
        admin_name=f"Admin {slug}",
        admin_password=PASSWORD,
    )
    return int(org.id)


def load_org(org_id: int) -> Any:
    from arrears.extensions import db
    from arrears.models import Organisation

    org = db.session.get(Organisation, org_id)
    if org is None:
        raise SystemExit(f"organisation {org_id} not found")
    return org


# --- child process with peak memory -------------------------------------------------------------


def _proc_status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _child_loop(conn: Any) -> None:
    """The child: wait for one job, run it, send back its result (or the error)."""
    job = conn.recv()
    if job is None:
        return
    target, args = job
    try:
        outcome = {"ok": True, **target(*args)}
    except BaseException as exc:  # reported to the parent, which fails loudly
        import traceback

        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    outcome["vmhwm_mb"] = round(_proc_status_mb("VmHWM"), 1)  # this address space's own peak
    conn.send(outcome)
    conn.close()


class Child:
    """A fresh (spawned) interpreter for the measured run, started EARLY, while this process is still
    small: on Linux a child's ru_maxrss starts from the RSS of the process image it was forked from
    (the kernel carries the pre-exec peak over exec), so a child spawned by a parent that already
    holds 200 MB would report at least 200 MB. It then waits for its one job."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(target=_child_loop, args=(child_conn,), daemon=True)
        self.before = children_peak_mb()
        self.process.start()
        child_conn.close()
        self.used = False

    def run(self, target: Callable[..., dict[str, Any]], *args: Any) -> tuple[dict[str, Any], float]:
        """Run ``target(*args)`` in the child; returns its result and its peak RSS in MB, read with
        getrusage(RUSAGE_CHILDREN) once it has been waited for."""
        self.used = True
        self.conn.send((target, args))
        try:
            outcome = self.conn.recv()
        except EOFError:
            outcome = {"ok": False, "error": "the child process died without a result"}
        self.process.join()
        peak = children_peak_mb()
        if self.before and self.before >= peak:
            say(f"warning: an earlier child peaked at {self.before:.0f} MB; peak_mb may not be this child's")
        if not outcome.get("ok"):
            raise SystemExit(f"child failed: {outcome.get('error')}\n{outcome.get('traceback', '')}")
        return outcome, peak

    def close(self) -> None:
        if self.process.is_alive():
            if not self.used:
                with contextlib.suppress(OSError):
                    self.conn.send(None)
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join()
        self.conn.close()


# --- phase timers (optional, ``--phases``) --------------------------------------------------------


class Phases:
    """Inclusive wall time spent in named functions, by wrapping them at run time (the application
    code is not changed; the wrappers cost well under a microsecond per call)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._undo: list[tuple[Any, str, Any]] = []
        self.missing: list[str] = []

    def wrap(self, owner: Any, attribute: str, label: str) -> None:
        original = owner.__dict__.get(attribute)
        if original is None:  # the code under test changed: time what exists
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{attribute}")
            return
        func = original.__func__ if isinstance(original, staticmethod | classmethod) else original
        seconds, calls = self.seconds, self.calls
        seconds.setdefault(label, 0.0)
        calls.setdefault(label, 0)
        clock = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return func(*args, **kwargs)
            finally:
                seconds[label] += clock() - start
                calls[label] += 1

        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def wrap_iterator(self, owner: Any, attribute: str, label: str) -> None:
        """Time each ``next()`` of the iterator a function returns (lazy readers)."""
        original = owner.__dict__.get(attribute)
        if original is None:
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{attribute}")
            return
        seconds, calls = self.seconds, self.calls
        seconds.setdefault(label, 0.0)
        calls.setdefault(label, 0)
        clock = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = iter(original(*args, **kwargs))
            while True:
                start = clock()
                try:
                    item = next(iterator)
                except StopIteration:
                    seconds[label] += clock() - start
                    return
                seconds[label] += clock() - start
                calls[label] += 1
                yield item

        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def undo(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()

    def report(self) -> dict[str, dict[str, float]]:
        out = {k: {"s": round(v, 3), "calls": self.calls[k]} for k, v in self.seconds.items()}
        for name in self.missing:
            out[f"(not in this version: {name})"] = {"s": 0.0, "calls": 0}
        return out


def print_phases(phases: dict[str, dict[str, float]], total: float) -> None:
    say(f"phases (inclusive wall time, nested phases are part of their parent; total {total:.2f} s):")
    for label, data in phases.items():
        share = 100 * data["s"] / total if total else 0.0
        say(f"  {label:<58} {data['s']:>8.2f} s {share:>5.1f}%  {int(data['calls']):>9} calls")


def print_profile(profile: Any, limit: int = 30) -> None:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    say(out.getvalue())


# --- lender case files ------------------------------------------------------------------------------

HEADERS = [
    "序号",
    "借据号",
    "客户姓名",
    "身份证号",
    "手机号码",
    "电子邮箱",
    "借款日期",
    "借款金额(元)",
    "到期日",
    "逾期天数",
    "本金余额",
    "利息",
    "罚息",
    "费用",
    "欠款总额",
    "产品",
    "省份",
    "城市",
    "家庭地址",
    "单位名称",
    "联系人姓名",
    "联系人关系",
    "联系人电话",
]
# The field keys the import maps these headers to (序号 is ignored).
FIELD_KEYS = [
    None,
    "loan_no",
    "name",
    "id_number",
    "mobile",
    "email",
    "loan_date",
    "loan_amount",
    "due_date",
    "lender_dpd",
    "principal",
    "interest",
    "penalty",
    "fee",
    "total",
    "product",
    "province",
    "city",
    "address",
    "employer",
    "contact_name",
    "contact_relation",
    "contact_phone",
]
# (province, city, district, area code of the ID number), as in cases_bank_zh.xlsx
PLACES = [
    ("陕西省", "西安市", "雁塔区", "610113"),
    ("广东省", "广州市", "天河区", "440106"),
    ("湖北省", "武汉市", "武昌区", "420106"),
    ("四川省", "成都市", "武侯区", "510107"),
    ("江苏省", "南京市", "玄武区", "320102"),
    ("浙江省", "杭州市", "西湖区", "330106"),
    ("广东省", "深圳市", "南山区", "440305"),
    ("上海市", "上海市", "徐汇区", "310104"),
    ("山东省", "济南市", "历下区", "370102"),
    ("北京市", "北京市", "东城区", "110101"),
]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志文海云辉鹏飞雪婷宇"
    "浩然子轩梓涵欣怡佳琪嘉俊峰晨阳东雨"
)
PRODUCTS = ["信用卡", "经营贷", "现金贷", "车贷", "消费贷"]
EMPLOYERS = ["某某贸易有限公司", "个体经营", "某某科技有限公司", None]
RELATIONS = ["同事", "兄弟", "母亲", "配偶", "父亲", "姐妹", "朋友"]
STREETS = ["中山路", "人民路", "建设路", "解放路", "和平路", "长江路", "南京路"]
MOBILE_PREFIXES = ["13", "14", "15", "16", "17", "18", "19"]
AS_OF = dt.date(2026, 11, 1)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character of the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


@dataclass
class Person:
    name: str
    id_number: str
    mobile: str
    email: str | None
    place: tuple[str, str, str, str]
    address: str
    employer: str | None


def _cents(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(rng.randint(int(low * 100), int(high * 100))) / 100


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _person(rng: random.Random, used_ids: set[str]) -> Person:
    place = rng.choice(PLACES)
    while True:
        born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(14600))
        first17 = f"{place[3]}{born:%Y%m%d}{rng.randrange(1000):03d}"
        id_number = first17 + id_check_digit(first17)
        if id_number not in used_ids:
            used_ids.add(id_number)
            break
    mobile = rng.choice(MOBILE_PREFIXES[1:] if rng.random() < 0.5 else MOBILE_PREFIXES) + "".join(
        rng.choice("0123456789") for _ in range(9)
    )
    email = f"user{rng.randrange(1_000_000):06d}@example.cn" if rng.random() < 0.67 else None
    address = f"{place[0]}{place[1]}{place[2]}{rng.choice(STREETS)}{rng.randint(1, 400)}号"
    return Person(_name(rng), id_number, mobile, email, place, address, rng.choice(EMPLOYERS))


def case_rows(count: int, seed: int = 20261101) -> Iterator[list[Any]]:
    """``count`` data rows of a lender file laid out like cases_bank_zh.xlsx (23 columns, the same
    mix of cell types: numbers, dates, and a few dates, amounts and phones typed as text). About 2%
    of the rows are a further loan of an earlier debtor. Deterministic for a given seed."""
    rng = random.Random(seed)
    used_ids: set[str] = set()
    recent: list[Person] = []
    for number in range(1, count + 1):
        if recent and rng.random() < 0.02:
            person = rng.choice(recent)
        else:
            person = _person(rng, used_ids)
            recent.append(person)
            if len(recent) > 500:
                recent.pop(0)
        loan_date = AS_OF - dt.timedelta(days=rng.randint(120, 1100))
        due_date = min(loan_date + dt.timedelta(days=rng.choice((90, 180, 365))), AS_OF)
        loan_amount = _cents(rng, 500, 200_000)
        principal = (loan_amount * Decimal(rng.randint(20, 95)) / 100).quantize(Decimal("0.01"))
        interest = (principal * Decimal(rng.randint(1, 10)) / 100).quantize(Decimal("0.01"))
        penalty = (principal * Decimal(rng.randint(0, 8)) / 100).quantize(Decimal("0.01"))
        fee = rng.choice((0, 0, 30, 50, 100))
        total = principal + interest + penalty + fee
        mobile: Any = int(person.mobile)
        if rng.random() < 0.055:
            m = person.mobile
            mobile = f"+86 {m[:3]} {m[3:7]} {m[7:]}"
        loan_cell: Any = dt.datetime.combine(loan_date, dt.time())
        if rng.random() < 0.06:
            loan_cell = f"{loan_date:%Y/%m/%d}"
        amount_cell: Any = float(loan_amount)
        if rng.random() < 0.075:
            amount_cell = f"{loan_amount:,.2f}"
        due_cell: Any = dt.datetime.combine(due_date, dt.time())
        if rng.random() < 0.055:
            due_cell = f"{due_date.year}年{due_date.month}月{due_date.day}日"
        place = person.place
        yield [
            number,
            f"BK2026{number:08d}",
            person.name,
            person.id_number,
            mobile,
            person.email,
            loan_cell,
            amount_cell,
            due_cell,
            (AS_OF - due_date).days,
            float(principal),
            float(interest),
            float(penalty),
            fee,
            float(total),
            rng.choice(PRODUCTS),
            place[0],
            place[1],
            person.address,
            person.employer,
            _name(rng),
            rng.choice(RELATIONS),
            int(rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(9))),
        ]


def write_case_file(path: Path, count: int, seed: int = 20261101) -> dict[str, Any]:
    """A lender's .xlsx: a title, a blank row, the header, ``count`` rows, a 合计 (totals) row and a
    second sheet of notes, written with xlsxwriter in constant-memory mode."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("逾期案件")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_string(0, 0, "某银行信用卡逾期案件清单（2026年11月）")
    sheet.write_row(2, 0, HEADERS)
    total = Decimal("0.00")
    row_index = 2
    for row_index, row in enumerate(case_rows(count, seed), 3):
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                sheet.write_datetime(row_index, col, value, date_format)
            elif isinstance(value, str):
                sheet.write_string(row_index, col, value)
            else:
                sheet.write_number(row_index, col, value)
        total += Decimal(repr(row[14]))
    sheet.write_string(row_index + 1, 0, "合计")
    sheet.write_number(row_index + 1, 14, float(total))
    notes = workbook.add_worksheet("说明")
    for i, line in enumerate(("说明", "1. 金额单位：元", f"2. 逾期天数按{AS_OF.isoformat()}计算")):
        notes.write_string(i, 0, line)
    workbook.close()
    return {"rows": count, "total_outstanding": total, "bytes": path.stat().st_size}


def case_items(count: int, seed: int = 20261101) -> Iterator[dict[str, Any]]:
    """The same rows as records keyed by import field (for ``engine.rows_table``)."""
    for row in case_rows(count, seed):
        yield {key: value for key, value in zip(FIELD_KEYS, row, strict=True) if key and value is not None}


def time_sql(engine: Any, phases: Phases) -> None:
    """Add the database's own time per statement kind (cursor execute, one call per round trip) to
    ``phases``: "sql: INSERT INTO debtors" etc. Bind processing (encryption) happens before it."""
    import re

    from sqlalchemy import event

    clock = time.perf_counter
    pattern = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM|SELECT .*? FROM|SELECT)\s+(\w+)?", re.S)

    def label(statement: str) -> str:
        match = pattern.match(statement)
        if not match:
            return "sql: " + statement.split(None, 1)[0]
        verb = match.group(1).split()[0]
        return f"sql: {verb} {match.group(2) or ''}".rstrip()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        conn.info.setdefault("bench_started", []).append(clock())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        started = conn.info["bench_started"].pop()
        key = label(statement)
        phases.seconds[key] = phases.seconds.get(key, 0.0) + clock() - started
        phases.calls[key] = phases.calls.get(key, 0) + 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)


def watch_memory(owner: Any, attribute: str, marks: dict[str, float], name: str) -> None:
    """Record this process's RSS and peak RSS just before and just after one call of a function (for
    calls made once or a few times; where in the run the peak memory happens)."""
    original = owner.__dict__[attribute]

    def watched(*args: Any, **kwargs: Any) -> Any:
        marks[f"{name}_rss_before_mb"] = round(rss_mb(), 1)
        marks[f"{name}_peak_before_mb"] = round(self_peak_mb(), 1)
        try:
            return original(*args, **kwargs)
        finally:
            marks[f"{name}_rss_after_mb"] = round(rss_mb(), 1)
            marks[f"{name}_peak_after_mb"] = round(self_peak_mb(), 1)

    setattr(owner, attribute, watched)


def owner_sql(env: Env, *statements: str) -> list[Any]:
    """Run statements as the database owner, outside any transaction (VACUUM may run); returns the
    first column of each statement's first row (None when it returns none)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(env.owner_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            out = []
            for statement in statements:
                result = conn.execute(text(statement))
                out.append(result.scalar() if result.returns_rows else None)
            return out
    finally:
        engine.dispose()


def code_version() -> str:
    """The commit measured, "+dirty" when platform/ or migrations/ has uncommitted changes. Call it
    after the measured child has been waited for (git is a child process too)."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    return sha + ("+dirty" if git("status", "--porcelain", "--", "platform", "migrations") else "")
