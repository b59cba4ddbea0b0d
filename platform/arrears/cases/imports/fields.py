"""The fields a case file can carry, their synonyms in Chinese and English, and header mapping."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arrears.cases.imports import normalize as n


@dataclass(frozen=True)
class Field:
    key: str
    label: str  # English label (the console translates it)
    parse: Callable[[Any], Any]
    synonyms: tuple[str, ...]
    required: bool = False
    missing_reason: str = ""


def _opt_text(limit: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        cleaned = n.text(value)
        if len(cleaned) > limit:
            raise n.CellError(f"longer than {limit} characters")
        return cleaned

    return parse


def _tags(value: Any) -> list[str]:
    return sorted({t.strip() for t in re.split(r"[,，;；、|/]", n.text(value)) if t.strip()})


FIELDS: tuple[Field, ...] = (
    Field(
        "loan_no",
        "Loan number",
        _opt_text(64),
        (
            "借据号",
            "借据编号",
            "贷款编号",
            "贷款账号",
            "借款编号",
            "合同号",
            "合同编号",
            "案件编号",
            "loan no",
            "loan number",
            "loan id",
            "contract no",
            "contract number",
        ),
        True,
        "loan number missing",
    ),
    Field(
        "name",
        "Debtor name",
        _opt_text(120),
        (
            "客户姓名",
            "姓名",
            "借款人",
            "借款人姓名",
            "客户名称",
            "债务人",
            "borrower name",
            "borrower",
            "customer name",
            "debtor name",
            "name",
        ),
        True,
        "debtor name missing",
    ),
    Field(
        "id_number",
        "ID number",
        n.id_number,
        (
            "身份证号",
            "身份证号码",
            "证件号码",
            "证件号",
            "身份证",
            "id number",
            "id no",
            "national id",
            "id card number",
        ),
        True,
        "ID number missing",
    ),
    Field(
        "mobile",
        "Mobile",
        n.mobile,
        (
            "手机号码",
            "手机号",
            "手机",
            "移动电话",
            "联系电话",
            "mobile",
            "mobile phone",
            "mobile number",
            "cell phone",
            "phone",
        ),
    ),
    Field("email", "E-mail", n.email, ("电子邮箱", "邮箱", "电子邮件", "email", "e-mail", "email address")),
    Field(
        "loan_date",
        "Loan date",
        n.date,
        (
            "借款日期",
            "放款日期",
            "贷款日期",
            "起贷日",
            "发放日期",
            "loan date",
            "disbursement date",
            "disbursed on",
        ),
    ),
    Field(
        "loan_amount",
        "Loan amount",
        n.amount,
        (
            "借款金额",
            "贷款金额",
            "放款金额",
            "合同金额",
            "授信金额",
            "loan amount",
            "amount borrowed",
            "principal amount",
        ),
    ),
    Field("term", "Term (periods)", n.count, ("期数", "借款期限", "贷款期限", "总期数", "term", "tenor")),
    Field(
        "due_date",
        "Due date",
        n.date,
        (
            "到期日",
            "到期日期",
            "应还日期",
            "最后还款日",
            "最后还款日期",
            "due date",
            "maturity date",
            "last due date",
        ),
        True,
        "due date missing",
    ),
    Field(
        "lender_dpd", "Days past due (lender)", n.count, ("逾期天数", "days past due", "dpd", "overdue days")
    ),
    Field(
        "principal",
        "Principal outstanding",
        n.amount,
        (
            "本金余额",
            "剩余本金",
            "逾期本金",
            "本金",
            "principal outstanding",
            "principal balance",
            "outstanding principal",
            "principal",
        ),
        True,
        "principal missing",
    ),
    Field(
        "interest", "Interest", n.amount, ("利息", "逾期利息", "利息余额", "interest", "interest outstanding")
    ),
    Field(
        "penalty",
        "Penalty",
        n.amount,
        ("罚息", "违约金", "滞纳金", "penalty", "penalty interest", "late fee"),
    ),
    Field("fee", "Fees", n.amount, ("费用", "手续费", "其他费用", "fees", "fee", "charges")),
    Field(
        "total",
        "Total outstanding",
        n.amount,
        (
            "欠款总额",
            "逾期总额",
            "应还总额",
            "欠款金额",
            "剩余应还",
            "total outstanding",
            "total due",
            "outstanding",
            "total",
        ),
    ),
    Field(
        "product",
        "Product",
        _opt_text(64),
        ("产品", "产品名称", "产品类型", "贷款产品", "product", "product name"),
    ),
    Field("province", "Province", _opt_text(32), ("省份", "省", "所在省", "province")),
    Field("city", "City", _opt_text(32), ("城市", "市", "所在城市", "city")),
    Field("region", "Region", _opt_text(64), ("区域", "地区", "大区", "region", "area")),
    Field(
        "address",
        "Home address",
        _opt_text(300),
        ("家庭地址", "地址", "居住地址", "住址", "户籍地址", "address", "home address"),
    ),
    Field(
        "work_address", "Work address", _opt_text(300), ("单位地址", "工作地址", "公司地址", "work address")
    ),
    Field(
        "employer",
        "Employer",
        _opt_text(200),
        ("单位名称", "工作单位", "公司名称", "employer", "company", "employer name"),
    ),
    Field(
        "contact_name",
        "Contact name",
        _opt_text(120),
        ("联系人姓名", "紧急联系人", "联系人", "contact name", "emergency contact"),
    ),
    Field(
        "contact_relation",
        "Contact relation",
        _opt_text(32),
        ("联系人关系", "与借款人关系", "关系", "contact relation", "relationship", "relation"),
    ),
    Field(
        "contact_phone",
        "Contact phone",
        n.phone,
        ("联系人电话", "联系人手机", "紧急联系人电话", "contact mobile", "contact phone"),
    ),
    Field(
        "account_no",
        "Account number",
        _opt_text(64),
        ("账户号", "卡账户", "账号", "account number", "account no"),
    ),
    Field("card_no", "Card number", _opt_text(32), ("卡号", "信用卡号", "card number", "card no")),
    Field("card_type", "Card type", _opt_text(32), ("卡类型", "卡种", "card type")),
    Field("statement_date", "Statement date", n.date, ("账单日", "账单日期", "statement date")),
    Field(
        "min_payment",
        "Minimum payment",
        n.amount,
        ("最低还款额", "最低还款", "minimum payment", "min payment"),
    ),
    Field("tags", "Tags", _tags, ("标签", "tags", "labels")),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}
IGNORED = {"序号", "编号", "行号", "no", "#", "seq", "index"}
SUMMARY_WORDS = {"合计", "总计", "小计", "汇总", "total", "totals", "sum", "grand total"}


def header_key(value: Any) -> str:
    """Compare headers without case, spaces, punctuation and a trailing unit such as (元)."""
    raw = n.text(value).lower()
    raw = re.sub(r"[（(][^）)]*[）)]$", "", raw)
    return re.sub(r"[\s_\-:：*./]", "", raw)


_SYNONYMS: dict[str, str] = {}
for _field in FIELDS:
    for _syn in (_field.key, *_field.synonyms):
        _SYNONYMS.setdefault(header_key(_syn), _field.key)


def field_for_header(value: Any) -> str | None:
    return _SYNONYMS.get(header_key(value))


def auto_mapping(headers: Sequence[Any]) -> dict[str, int]:
    """``{field key: column index}`` for the headers we recognise; the first column wins a tie."""
    mapping: dict[str, int] = {}
    for index, header in enumerate(headers):
        key = field_for_header(header)
        if key is not None and key not in mapping:
            mapping[key] = index
    return mapping


def header_score(row: Sequence[Any]) -> int:
    return sum(1 for cell in row if field_for_header(cell) is not None)


def is_summary_row(row: Sequence[Any]) -> bool:
    for cell in row:
        if not n.is_blank(cell):
            return header_key(cell) in SUMMARY_WORDS
    return False
