"""Money: an integer amount in the currency's minor unit plus its ISO 4217 code, as Stripe has it.

USD 12.34 is `Money(1234, "usd")`; JPY has no minor unit, so ¥500 is `Money(500, "jpy")`.
No floats anywhere: parsing goes through `Decimal`, formatting through integer arithmetic.
This is the one place that turns what a person types into money and money into text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Self

# Stripe's presentment currencies, lowercase as its API wants them.
# https://docs.stripe.com/currencies
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())
TWO_DECIMAL = frozenset(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn bzd
    cad cdf chf cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd hkd
    hnl htg huf idr ils inr isk jmd kes kgs khr kyd kzt lak lbp lkr lrd lsl mad mdl mkd mmk mnt
    mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln qar ron rsd rub
    sar sbd scr sek sgd shp sle sos srd std szl thb tjs top try ttd twd tzs uah uyu uzs wst xcd
    yer zar zmw
    """.split()
)
CURRENCIES = ZERO_DECIMAL | TWO_DECIMAL | THREE_DECIMAL

# Stripe accepts charges and refunds only in whole steps of these currencies: three-decimal
# amounts must end in 0, and ISK, though two-decimal in the API, in whole krónur.
_CHARGE_STEP = {**dict.fromkeys(THREE_DECIMAL, 10), "isk": 100}

# The largest amount anyone may type: far above any real charge, far below BIGINT overflow.
MAX_AMOUNT = 10**12 - 1

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}
_NUMBER = re.compile(r"(?P<whole>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<fraction>\d+))?")


class MoneyError(ValueError):
    """An amount or currency that cannot be represented; the message is fit for a person."""


def exponent(currency: str) -> int:
    """Number of decimals of `currency`'s minor unit (0, 2 or 3)."""
    currency = normalize_currency(currency)
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def normalize_currency(currency: str) -> str:
    code = currency.strip().lower()
    if code not in CURRENCIES:
        raise MoneyError(
            f"{currency.strip().upper() or 'An empty code'} is not a currency we can bill in."
        )
    return code


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise MoneyError(f"Amounts are whole minor units, not {type(self.amount).__name__}.")
        code = normalize_currency(self.currency)
        if code != self.currency:
            object.__setattr__(self, "currency", code)

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Self:
        """What a person typed ("12.34", "$1,234.50", "1234" for JPY) as money.

        Rejects signs, more decimals than the currency has, malformed thousands separators,
        exponents and anything above MAX_AMOUNT, with a message that says why.
        """
        currency = normalize_currency(currency)
        places = exponent(currency)
        cleaned = text.strip()
        code = currency.upper()
        if cleaned.upper().endswith(code):
            cleaned = cleaned[: -len(code)].strip()
        symbol = _SYMBOLS.get(currency)
        if symbol and cleaned.startswith(symbol):
            cleaned = cleaned[len(symbol) :].strip()
        if not cleaned:
            raise MoneyError("Enter an amount.")
        if cleaned[0] in "+-−":
            raise MoneyError("Enter the amount without a sign.")
        match = _NUMBER.fullmatch(cleaned)
        if match is None or not (match["whole"] or match["fraction"]):
            raise MoneyError(f"“{text.strip()}” is not an amount.")
        fraction = match["fraction"] or ""
        if len(fraction) > places:
            if places == 0:
                raise MoneyError(f"{code} has no minor unit: enter a whole amount.")
            raise MoneyError(f"{code} amounts have at most {places} decimals.")
        whole = int((match["whole"] or "0").replace(",", ""))
        amount = whole * 10**places + int(fraction.ljust(places, "0") or "0")
        if amount > MAX_AMOUNT:
            raise MoneyError("That amount is too large.")
        return cls(amount, currency)

    def to_decimal(self) -> Decimal:
        """The amount in major units, exactly (for exports; never for arithmetic on money)."""
        return Decimal(self.amount).scaleb(-exponent(self.currency))

    def plain(self) -> str:
        """Digits with the currency's decimals and no grouping: "1234.50", "1234" (JPY)."""
        places = exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        major, minor = divmod(abs(self.amount), 10**places)
        return f"{sign}{major}.{minor:0{places}d}" if places else f"{sign}{major}"

    def format(self) -> str:
        """For screens: "$1,234.50", "-€3.00", "¥500", "12.340 KWD"."""
        places = exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        major, minor = divmod(abs(self.amount), 10**places)
        digits = f"{major:,}" + (f".{minor:0{places}d}" if places else "")
        symbol = _SYMBOLS.get(self.currency)
        if symbol:
            return f"{sign}{symbol}{digits}"
        return f"{sign}{digits} {self.currency.upper()}"

    def __str__(self) -> str:
        return self.format()

    def is_chargeable(self) -> bool:
        """Whether Stripe accepts this amount for a charge or refund (see _CHARGE_STEP)."""
        return self.amount % _CHARGE_STEP.get(self.currency, 1) == 0

    def _same_currency(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"Cannot combine money with {type(other).__name__}.")
        if other.currency != self.currency:
            raise MoneyError(
                f"Cannot combine {self.currency.upper()} with {other.currency.upper()}."
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same_currency(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same_currency(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same_currency(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same_currency(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same_currency(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same_currency(other).amount


def format_amount(amount: int | None, currency: str) -> str:
    """Format minor units for a template; an unknown amount shows as a dash."""
    if amount is None:
        return "—"
    return Money(amount, currency).format()


# The same formatting written by PostgreSQL, for the audit CSV export, which has the database
# write a million rows' amounts (billing/diffs.py, `show_sql`). Each takes SQL expressions and
# gives one; a test holds them to `format()` for every currency and for amounts at the edges.


def grouped_sql(amount: str) -> str:
    """`f"{amount:,}"` of an integer SQL expression, bigint's extremes included."""
    return f"CASE WHEN {amount} < 0 THEN '-' ELSE '' END || {_digits_sql(amount, 0)}"


# The one bigint whose absolute value is not a bigint.
_LOWEST = -(2**63)


def _digits_sql(amount: str, places: int) -> str:
    """The digits `format()` writes of the integer SQL amount's absolute value in minor units,
    worked out in bigint arithmetic (numeric's, with the same digits, cost the audit export
    more); the lowest bigint, which has no absolute value in bigint, as a constant."""
    unit = 10**places
    lowest = f"{-_LOWEST // unit:,}" + (f".{-_LOWEST % unit:0{places}d}" if places else "")
    amount = f"({amount})::bigint"  # abs() of int's own lowest would overflow an int
    digits = _abs_digits_sql(f"abs({amount})", places)
    return f"CASE WHEN {amount} = {_LOWEST} THEN '{lowest}' ELSE {digits} END"


def _abs_digits_sql(absolute: str, places: int) -> str:
    """The digits of a non-negative bigint SQL expression in minor units."""
    if not places:
        return (
            f"CASE WHEN {absolute} < 1000 THEN ({absolute})::text "
            f"ELSE to_char({absolute}, 'FM9,999,999,999,999,999,999,990') END"
        )
    unit = 10**places
    return (
        f"{_abs_digits_sql(f'({absolute} / {unit})', 0)} || '.' || "
        f"lpad(mod({absolute}, {unit})::text, {places}, '0')"
    )


def format_sql(amount: str, currency: str) -> str:
    """`Money(amount, currency).format()` of an SQL amount in minor units and an SQL currency
    code that is one of CURRENCIES (the caller checks)."""
    by_symbol = " ".join(
        f"WHEN '{code}' THEN '{symbol}' || {_digits_sql(amount, exponent(code))}"
        for code, symbol in _SYMBOLS.items()
    )
    by_places = (
        f"CASE WHEN {currency} IN ({_codes_sql(ZERO_DECIMAL)}) THEN {_digits_sql(amount, 0)} "
        f"WHEN {currency} IN ({_codes_sql(THREE_DECIMAL)}) THEN {_digits_sql(amount, 3)} "
        f"ELSE {_digits_sql(amount, 2)} END"
    )
    return (
        f"CASE WHEN {amount} < 0 THEN '-' ELSE '' END || "
        f"CASE {currency} {by_symbol} ELSE {by_places} || ' ' || upper({currency}) END"
    )


def currencies_sql() -> str:
    """CURRENCIES as an SQL list, for `currency IN (...)`."""
    return _codes_sql(CURRENCIES)


def _codes_sql(codes: frozenset[str]) -> str:
    return ", ".join(f"'{code}'" for code in sorted(codes))
