"""Realistic, deterministic demo cases for the demo owners (same data on every run, so seeding again
changes nothing)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from arrears.cases.imports.engine import rows_table, run_table
from arrears.cases.imports.normalize import _CHECK, _WEIGHTS
from arrears.extensions import db
from arrears.tenancy.models import Organisation

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董"
    "袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉斌宇浩凯健俊帆帅旭宁龙林欢阳建"
)
PLACES = [
    ("北京市", "北京市", "110101", "东城区"),
    ("上海市", "上海市", "310104", "徐汇区"),
    ("广东省", "广州市", "440106", "天河区"),
    ("广东省", "深圳市", "440305", "南山区"),
    ("浙江省", "杭州市", "330106", "西湖区"),
    ("江苏省", "南京市", "320102", "玄武区"),
    ("四川省", "成都市", "510107", "武侯区"),
    ("湖北省", "武汉市", "420106", "武昌区"),
    ("陕西省", "西安市", "610113", "雁塔区"),
    ("山东省", "济南市", "370102", "历下区"),
]
PRODUCTS = [
    ("信用卡", 3000, 60000),
    ("消费贷", 1000, 50000),
    ("现金贷", 500, 20000),
    ("车贷", 30000, 200000),
    ("经营贷", 50000, 500000),
]
RELATIONS = ["配偶", "父亲", "母亲", "兄弟", "姐妹", "同事", "朋友"]
STREETS = ["人民路", "中山路", "解放路", "建设路", "和平路"]
EMPLOYERS = ["某某科技有限公司", "某某贸易有限公司", "个体经营", "", "某某制造有限公司"]


def _id_number(rng: random.Random, area: str) -> str:
    born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 40))
    body = f"{area}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(0, 10**9):09d}"


def items(prefix: str, count: int, seed: int, as_of: dt.date) -> list[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 (demo data, not secrets)
    out = []
    for i in range(1, count + 1):
        province, city, area, district = rng.choice(PLACES)
        product, low, high = rng.choice(PRODUCTS)
        amount = Decimal(rng.randrange(low * 100, high * 100)) / 100
        loan_date = as_of - dt.timedelta(days=rng.randrange(60, 900))
        term = rng.choice([3, 6, 12, 24, 36])
        due = min(
            as_of - dt.timedelta(days=rng.choice([3, 8, 15, 25, 40, 55, 75, 95, 150, 240, 400])),
            loan_date + dt.timedelta(days=30 * term),
        )
        principal = (amount * Decimal(rng.randrange(20, 95)) / 100).quantize(Decimal("0.01"))
        interest = (principal * Decimal(rng.randrange(2, 15)) / 100).quantize(Decimal("0.01"))
        penalty = (principal * Decimal(rng.randrange(0, 6)) / 100).quantize(Decimal("0.01"))
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2])))
        out.append(
            {
                "loan_no": f"{prefix}{as_of:%Y%m}{i:06d}",
                "name": name,
                "id_number": _id_number(rng, area),
                "mobile": _mobile(rng),
                "email": f"user{rng.randrange(100000, 999999)}@example.cn",
                "loan_date": loan_date.isoformat(),
                "loan_amount": str(amount),
                "term": term,
                "due_date": due.isoformat(),
                "principal": str(principal),
                "interest": str(interest),
                "penalty": str(penalty),
                "fee": rng.choice(["0", "30", "50", "100"]),
                "product": product,
                "province": province,
                "city": city,
                "address": f"{province}{city}{district}{rng.choice(STREETS)}{rng.randrange(1, 300)}号",
                "employer": rng.choice(EMPLOYERS),
                "contact_name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                "contact_relation": rng.choice(RELATIONS),
                "contact_phone": _mobile(rng),
                "tags": rng.choice(["", "首逾", "失联", "vip", "分期", ""]),
            }
        )
    return out


def seed_cases(org: Organisation, prefix: str, count: int, seed: int) -> dict[str, int]:
    """Upsert the demo cases (call inside the owner's tenant; commits)."""

    as_of = dt.date(2026, 11, 1)
    report = run_table(org.id, rows_table(items(prefix, count, seed, as_of)), "demo", dry_run=False)
    db.session.commit()
    return {"imported": report.imported, "updated": report.updated, "rejected": report.rejected}
