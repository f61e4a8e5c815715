"""The catalog: products, prices and coupons.

Prices are immutable in what they charge (``unit_amount``, ``currency``, ``recurring``); only
``active``, ``nickname``, ``lookup_key`` and ``metadata`` change, as in Stripe. A lookup key is
unique among prices unless ``transfer_lookup_key=true`` moves it. Coupons take ``percent_off``
(a decimal, kept exactly as sent for the arithmetic) or ``amount_off`` with ``currency``, and a
``duration`` of ``once``, ``repeating`` (with ``duration_in_months``) or ``forever``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import errors, ids
from ..context import Context
from ..listing import filter_created, page
from ..params import Params, apply_metadata
from ..routing import Router
from ..schema import (
    Amount,
    Array,
    Boolean,
    Currency,
    DecimalText,
    Enum,
    Hash,
    Integer,
    Metadata,
    String,
    Timestamp,
    accepts,
    listing,
)
from ..store import render

routes = Router()

INTERVALS = ("day", "week", "month", "year")
TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")

_PRODUCT_DATA: dict[str, Any] = {
    "active": Boolean(),
    "id": String(),
    "metadata": Metadata(),
    "name": String(required=True),
    "statement_descriptor": String(max_length=22),
    "unit_label": String(max_length=12),
}


# Products ------------------------------------------------------------------------------------


def _new_product(ctx: Context, params: Params, *, object_id: str | None = None) -> dict[str, Any]:
    product = ctx.create(
        "product",
        {
            "active": params.bool("active") if "active" in params else True,
            "default_price": None,
            "description": params.str("description"),
            "images": params.str_list("images"),
            "marketing_features": [],
            "name": params.require_str("name"),
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": params.str("statement_descriptor"),
            "tax_code": None,
            "tax_details": None,
            "type": "service",
            "unit_label": params.str("unit_label"),
            "updated": ctx.now(),
            "url": params.str("url"),
        },
        object_id=object_id,
    )
    apply_metadata(product, params)
    ctx.emit("product.created", product)
    return product


@routes.post(
    "/v1/products",
    accepts(
        "ProductCreateParams",
        **_PRODUCT_DATA,
        description=String(max_length=40000),
        images=Array(String()),
        url=String(),
    ),
)
def create_product(ctx: Context, params: Params) -> dict[str, Any]:
    object_id = params.str("id")
    if object_id and ctx.store.get("product", object_id):
        raise errors.invalid_request(
            "Product already exists.", param="id", code="resource_already_exists"
        )
    return render(_new_product(ctx, params, object_id=object_id))


@routes.get("/v1/products/{product}", accepts("ProductRetrieveParams"))
def retrieve_product(ctx: Context, params: Params, product: str) -> dict[str, Any]:
    return render(ctx.store.require("product", product))


@routes.post(
    "/v1/products/{product}",
    accepts(
        "ProductUpdateParams",
        active=Boolean(),
        default_price=String(),
        description=String(max_length=40000, unset=True),
        metadata=Metadata(unset=True),
        name=String(),
        statement_descriptor=String(max_length=22),
        unit_label=String(max_length=12, unset=True),
        url=String(unset=True),
    ),
)
def update_product(ctx: Context, params: Params, product: str) -> dict[str, Any]:
    found = ctx.store.require("product", product)
    with ctx.events.updating(found, "product.updated"):
        for key in ("name", "description", "statement_descriptor", "unit_label", "url"):
            if key in params:
                found[key] = params.str(key) or None
        if "active" in params:
            found["active"] = params.bool("active")
        if "default_price" in params:
            price_id = params.str("default_price")
            if price_id:
                ctx.store.require("price", price_id, param="default_price")
            found["default_price"] = price_id or None
        apply_metadata(found, params)
        found["updated"] = ctx.now()
    return render(found)


@routes.delete("/v1/products/{product}", accepts("ProductDeleteParams", expand=False))
def delete_product(ctx: Context, params: Params, product: str) -> dict[str, Any]:
    found = ctx.store.require("product", product)
    if any(price["product"] == product for price in ctx.store.all("price")):
        raise errors.invalid_request(
            "This product cannot be deleted because it has one or more user-created prices."
        )
    ctx.emit("product.deleted", found)
    return ctx.store.delete(found)


@routes.get("/v1/products", listing("ProductListParams", active=Boolean(), ids=Array(String())))
def list_products(ctx: Context, params: Params) -> dict[str, Any]:
    products = filter_created(ctx.store.all("product"), params)
    if "active" in params:
        active = params.bool("active")
        products = [p for p in products if p["active"] == active]
    wanted = params.str_list("ids")
    if wanted:
        products = [p for p in products if p["id"] in wanted]
    return page(products, params, "/v1/products")


# Prices --------------------------------------------------------------------------------------


def _take_lookup_key(ctx: Context, price: dict[str, Any], key: str | None, transfer: bool) -> None:
    if key:
        for other in ctx.store.all("price"):
            if other is not price and other["lookup_key"] == key:
                if not transfer:
                    raise errors.invalid_request(
                        f"A price ({other['id']}) already uses that lookup key.",
                        param="lookup_key",
                    )
                with ctx.events.updating(other, "price.updated"):
                    other["lookup_key"] = None
    price["lookup_key"] = key or None


@routes.post(
    "/v1/prices",
    accepts(
        "PriceCreateParams",
        active=Boolean(),
        currency=Currency(required=True),
        lookup_key=String(max_length=200),
        metadata=Metadata(),
        nickname=String(),
        product=String(),
        product_data=Hash(_PRODUCT_DATA),
        recurring=Hash(
            {
                "interval": Enum(*INTERVALS, required=True),
                "interval_count": Integer(minimum=1),
            }
        ),
        tax_behavior=Enum(*TAX_BEHAVIORS),
        transfer_lookup_key=Boolean(),
        unit_amount=Amount(),
    ),
)
def create_price(ctx: Context, params: Params) -> dict[str, Any]:
    currency = params.require_str("currency").lower()
    unit_amount = params.int("unit_amount", minimum=0)
    if unit_amount is None:
        raise errors.missing_param("unit_amount")
    product_id = params.str("product")
    product_data = params.sub("product_data")
    if product_id:
        product = ctx.store.require("product", product_id, param="product")
    elif product_data is not None:
        product = _new_product(ctx, product_data)
    else:
        raise errors.missing_param("product")
    recurring_params = params.sub("recurring")
    recurring = None
    if recurring_params is not None:
        recurring = {
            "interval": recurring_params.require_str("interval", choices=INTERVALS),
            "interval_count": recurring_params.int("interval_count", minimum=1) or 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    price = ctx.create(
        "price",
        {
            "active": params.bool("active") if "active" in params else True,
            "billing_scheme": "per_unit",
            "currency": currency,
            "custom_unit_amount": None,
            "lookup_key": None,
            "nickname": params.str("nickname"),
            "product": product["id"],
            "recurring": recurring,
            "tax_behavior": params.str("tax_behavior") or "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        },
    )
    _take_lookup_key(ctx, price, params.str("lookup_key"), bool(params.bool("transfer_lookup_key")))
    apply_metadata(price, params)
    ctx.emit("price.created", price)
    return render(price)


@routes.get("/v1/prices/{price}", accepts("PriceRetrieveParams"))
def retrieve_price(ctx: Context, params: Params, price: str) -> dict[str, Any]:
    return render(ctx.store.require("price", price))


@routes.post(
    "/v1/prices/{price}",
    accepts(
        "PriceUpdateParams",
        active=Boolean(),
        lookup_key=String(max_length=200),
        metadata=Metadata(unset=True),
        nickname=String(),
        transfer_lookup_key=Boolean(),
    ),
)
def update_price(ctx: Context, params: Params, price: str) -> dict[str, Any]:
    found = ctx.store.require("price", price)
    with ctx.events.updating(found, "price.updated"):
        if "active" in params:
            found["active"] = params.bool("active")
        if "nickname" in params:
            found["nickname"] = params.str("nickname") or None
        if "lookup_key" in params:
            _take_lookup_key(
                ctx, found, params.str("lookup_key"), bool(params.bool("transfer_lookup_key"))
            )
        apply_metadata(found, params)
    return render(found)


@routes.get(
    "/v1/prices",
    listing(
        "PriceListParams",
        active=Boolean(),
        currency=Currency(),
        lookup_keys=Array(String()),
        product=String(),
        recurring=Hash({"interval": Enum(*INTERVALS)}),
        type=Enum("one_time", "recurring"),
    ),
)
def list_prices(ctx: Context, params: Params) -> dict[str, Any]:
    prices = filter_created(ctx.store.all("price"), params)
    product = params.str("product")
    if product:
        prices = [p for p in prices if p["product"] == product]
    if "active" in params:
        active = params.bool("active")
        prices = [p for p in prices if p["active"] == active]
    kind = params.str("type")
    if kind:
        prices = [p for p in prices if p["type"] == kind]
    currency = params.str("currency")
    if currency:
        prices = [p for p in prices if p["currency"] == currency.lower()]
    lookup_keys = params.str_list("lookup_keys")
    if lookup_keys:
        prices = [p for p in prices if p["lookup_key"] in lookup_keys]
    recurring = params.sub("recurring")
    if recurring is not None and recurring.str("interval"):
        interval = recurring.str("interval")
        prices = [p for p in prices if p["recurring"] and p["recurring"]["interval"] == interval]
    return page(prices, params, "/v1/prices")


def plan_from_price(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` object Stripe still shows on subscription items for a recurring price."""
    recurring = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": False,
        "metadata": dict(price["metadata"]),
        "meter": None,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


# Coupons -------------------------------------------------------------------------------------


@routes.post(
    "/v1/coupons",
    accepts(
        "CouponCreateParams",
        amount_off=Amount(minimum=1),
        currency=Currency(),
        duration=Enum("forever", "once", "repeating"),
        duration_in_months=Integer(minimum=1),
        id=String(),
        max_redemptions=Integer(minimum=1),
        metadata=Metadata(unset=True),
        name=String(max_length=40),
        percent_off=DecimalText(),
        redeem_by=Timestamp(),
    ),
)
def create_coupon(ctx: Context, params: Params) -> dict[str, Any]:
    percent_text = params.decimal_str("percent_off")
    amount_off = params.int("amount_off", minimum=1)
    if (percent_text is None) == (amount_off is None):
        raise errors.invalid_request(
            "You must pass exactly one of percent_off or amount_off.",
            param="percent_off",
            replayable=False,
        )
    if percent_text is not None and not Decimal(0) < Decimal(percent_text) <= Decimal(100):
        raise errors.invalid_param(
            "Percent off must be greater than 0 and at most 100.", param="percent_off"
        )
    currency = params.str("currency")
    if amount_off is not None and not currency:
        raise errors.missing_param("currency")
    duration = params.str("duration", choices=("once", "repeating", "forever")) or "once"
    months = params.int("duration_in_months", minimum=1)
    if duration == "repeating" and months is None:
        raise errors.missing_param("duration_in_months")
    object_id = params.str("id") or ids.random_token(8)
    if ctx.store.get("coupon", object_id):
        raise errors.invalid_request(
            "Coupon already exists.", param="id", code="resource_already_exists"
        )
    coupon = ctx.create(
        "coupon",
        {
            "amount_off": amount_off,
            "currency": currency.lower() if currency else None,
            "duration": duration,
            "duration_in_months": months if duration == "repeating" else None,
            "max_redemptions": params.int("max_redemptions", minimum=1),
            "name": params.str("name"),
            "percent_off": float(percent_text) if percent_text is not None else None,
            "redeem_by": params.int("redeem_by"),
            "times_redeemed": 0,
            "valid": True,
            "_percent_off_text": percent_text,
        },
        object_id=object_id,
    )
    apply_metadata(coupon, params)
    ctx.emit("coupon.created", coupon)
    return render(coupon)


@routes.get("/v1/coupons/{coupon}", accepts("CouponRetrieveParams"))
def retrieve_coupon(ctx: Context, params: Params, coupon: str) -> dict[str, Any]:
    return render(ctx.store.require("coupon", coupon))


@routes.post(
    "/v1/coupons/{coupon}",
    accepts("CouponUpdateParams", metadata=Metadata(unset=True), name=String(max_length=40)),
)
def update_coupon(ctx: Context, params: Params, coupon: str) -> dict[str, Any]:
    found = ctx.store.require("coupon", coupon)
    with ctx.events.updating(found, "coupon.updated"):
        if "name" in params:
            found["name"] = params.str("name") or None
        apply_metadata(found, params)
    return render(found)


@routes.delete("/v1/coupons/{coupon}", accepts("CouponDeleteParams", expand=False))
def delete_coupon(ctx: Context, params: Params, coupon: str) -> dict[str, Any]:
    found = ctx.store.require("coupon", coupon)
    found["valid"] = False
    ctx.emit("coupon.deleted", found)
    return ctx.store.delete(found)


@routes.get("/v1/coupons", listing("CouponListParams"))
def list_coupons(ctx: Context, params: Params) -> dict[str, Any]:
    return page(filter_created(ctx.store.all("coupon"), params), params, "/v1/coupons")


def redeemable_coupon(ctx: Context, coupon_id: str, *, param: str) -> dict[str, Any]:
    """A coupon that may be applied now, or Stripe's error for an expired or used-up one."""
    coupon = ctx.store.require("coupon", coupon_id, param=param)
    if coupon["redeem_by"] is not None and coupon["redeem_by"] < ctx.now():
        raise errors.invalid_request(f"Coupon expired: {coupon_id}", param=param)
    limit = coupon["max_redemptions"]
    if limit is not None and coupon["times_redeemed"] >= limit:
        raise errors.invalid_request(
            f"Coupon {coupon_id} has been redeemed the maximum number of times.", param=param
        )
    return coupon
