"""Stripe's currencies for a US account: the codes it accepts, their minor units, the limits.

``SUPPORTED`` is the list a US Stripe account may charge in (three-letter ISO codes, lower
case, as the API takes them); anything else is refused with Stripe's "Invalid currency"
error. ``ZERO_DECIMAL`` currencies have no minor unit (``1000 jpy`` is ¥1,000). Every amount is
at most eight digits of minor units (99,999,999: $999,999.99), past which Stripe answers
``amount_too_large``.
"""

from __future__ import annotations

SUPPORTED: tuple[str, ...] = (
    "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd",
    "bdt", "bgn", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf",
    "chf", "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk", "dop", "dzd", "egp", "etb",
    "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl", "htg",
    "huf", "idr", "ils", "inr", "isk", "jmd", "jpy", "kes", "kgs", "khr", "kmf", "krw", "kyd",
    "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk", "mnt", "mop",
    "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "pab",
    "pen", "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd",
    "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl", "thb", "tjs", "top", "try",
    "ttd", "twd", "tzs", "uah", "ugx", "uyu", "uzs", "vnd", "vuv", "wst", "xaf", "xcd", "xof",
    "xpf", "yer", "zar", "zmw",
)  # fmt: skip

ZERO_DECIMAL = frozenset(
    ("bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv")
) | {"xaf", "xof", "xpf"}

MAXIMUM_AMOUNT = 99_999_999

# The smallest charge per currency (Stripe's "minimum and maximum charge amounts").
MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "jpy": 50}


def is_supported(code: str) -> bool:
    return code in _SUPPORTED_SET


_SUPPORTED_SET = frozenset(SUPPORTED)


def display(amount: int, currency: str) -> str:
    """An amount as Stripe words it in messages: ``$999,999.99``, ``¥1,000``, ``12.50 EUR``."""
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if currency in ZERO_DECIMAL:
        major = f"{amount:,}"
        return f"{sign}¥{major}" if currency == "jpy" else f"{sign}{major} {currency.upper()}"
    major = f"{amount // 100:,}.{amount % 100:02d}"
    if currency == "usd":
        return f"{sign}${major}"
    return f"{sign}{major} {currency.upper()}"
