from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billing.money import (
    CURRENCIES,
    MAX_AMOUNT,
    THREE_DECIMAL,
    ZERO_DECIMAL,
    Money,
    MoneyError,
    exponent,
    format_amount,
)

currencies = st.sampled_from(sorted(CURRENCIES))
amounts = st.integers(min_value=0, max_value=MAX_AMOUNT)


def test_stripe_exponents_match_its_documented_lists():
    assert exponent("usd") == 2
    assert exponent("USD") == 2
    assert exponent("jpy") == 0
    assert exponent("krw") == 0
    assert exponent("kwd") == 3
    assert (
        set("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
        == ZERO_DECIMAL
    )
    assert set("bhd jod kwd omr tnd".split()) == THREE_DECIMAL
    assert len(CURRENCIES) >= 135


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("12.34", "usd", 1234),
        ("12", "usd", 1200),
        ("12.3", "usd", 1230),
        (".5", "usd", 50),
        ("0.01", "usd", 1),
        ("$1,234.56", "usd", 123456),
        ("1,234.56 USD", "usd", 123456),
        ("  7.00 ", "eur", 700),
        ("€7", "eur", 700),
        ("1234", "jpy", 1234),
        ("¥1,234", "jpy", 1234),
        ("5.124", "kwd", 5124),
        ("0", "usd", 0),
    ],
)
def test_parse_reads_what_people_type(typed, currency, minor):
    assert Money.parse(typed, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("typed", "currency", "message"),
    [
        ("12.345", "usd", "at most 2 decimals"),
        ("12.5", "jpy", "no minor unit"),
        ("5.1245", "kwd", "at most 3 decimals"),
        ("-5", "usd", "without a sign"),
        ("+5", "usd", "without a sign"),
        ("", "usd", "Enter an amount"),
        ("   ", "usd", "Enter an amount"),
        ("abc", "usd", "is not an amount"),
        ("1e3", "usd", "is not an amount"),
        ("1,23", "usd", "is not an amount"),
        ("12.34.56", "usd", "is not an amount"),
        ("1 234", "usd", "is not an amount"),
        ("NaN", "usd", "is not an amount"),
        ("Infinity", "usd", "is not an amount"),
        (".", "usd", "is not an amount"),
        ("10000000000.00", "usd", "too large"),
        ("12.34", "xyz", "not a currency"),
        ("12.34", "", "not a currency"),
    ],
)
def test_parse_rejects_what_cannot_be_represented(typed, currency, message):
    with pytest.raises(MoneyError, match=message):
        Money.parse(typed, currency)


def test_money_refuses_floats_and_unknown_currencies():
    with pytest.raises(MoneyError):
        Money(12.34, "usd")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(True, "usd")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(1, "zzz")


def test_currency_is_normalized_to_stripes_lowercase():
    assert Money(100, "USD").currency == "usd"


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(123456, "usd"), "$1,234.56"),
        (Money(-300, "eur"), "-€3.00"),
        (Money(5, "gbp"), "£0.05"),
        (Money(500, "jpy"), "¥500"),
        (Money(12340, "kwd"), "12.340 KWD"),
        (Money(100, "chf"), "1.00 CHF"),
        (Money(0, "usd"), "$0.00"),
    ],
)
def test_format_for_screens(money, shown):
    assert money.format() == shown
    assert str(money) == shown


def test_format_amount_shows_a_dash_for_unknown():
    assert format_amount(None, "usd") == "—"
    assert format_amount(250, "usd") == "$2.50"


def test_arithmetic_refuses_mixed_currencies():
    assert Money(100, "usd") + Money(50, "usd") == Money(150, "usd")
    assert Money(100, "usd") - Money(150, "usd") == Money(-50, "usd")
    assert Money(100, "usd") > Money(99, "usd")
    with pytest.raises(MoneyError, match="Cannot combine USD with EUR"):
        Money(100, "usd") + Money(100, "eur")
    with pytest.raises(MoneyError):
        _ = Money(100, "usd") < Money(100, "jpy")


def test_chargeable_amounts_follow_stripes_special_cases():
    assert Money(5120, "kwd").is_chargeable()
    assert not Money(5124, "kwd").is_chargeable()
    assert Money(500, "isk").is_chargeable()
    assert not Money(550, "isk").is_chargeable()
    assert Money(1, "usd").is_chargeable()


@given(amount=amounts, currency=currencies)
def test_formatted_money_parses_back_to_itself(amount, currency):
    money = Money(amount, currency)

    assert Money.parse(money.format(), currency) == money
    assert Money.parse(money.plain(), currency) == money


@given(amount=st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT), currency=currencies)
def test_decimal_value_is_exact(amount, currency):
    money = Money(amount, currency)

    assert money.to_decimal() == Decimal(amount) / Decimal(10) ** exponent(currency)


@given(
    whole=st.integers(min_value=0, max_value=10**6),
    extra=st.integers(min_value=1, max_value=3),
    currency=currencies,
)
def test_more_decimals_than_the_currency_has_are_rejected(whole, extra, currency):
    places = exponent(currency) + extra
    typed = f"{whole}.{'1' * places}"

    with pytest.raises(MoneyError):
        Money.parse(typed, currency)


@given(text=st.text(max_size=20), currency=currencies)
def test_parse_either_returns_representable_money_or_a_clear_error(text, currency):
    try:
        money = Money.parse(text, currency)
    except MoneyError as error:
        message = str(error)
        money = None
    else:
        message = ""

    if money is None:
        assert message
    else:
        assert isinstance(money.amount, int)
        assert 0 <= money.amount <= MAX_AMOUNT


@given(amount=st.integers(min_value=MAX_AMOUNT + 1, max_value=10**20), currency=currencies)
def test_amounts_above_the_maximum_are_rejected(amount, currency):
    assume(amount > MAX_AMOUNT)

    with pytest.raises(MoneyError, match="too large"):
        Money.parse(Money(amount, currency).plain(), currency)
