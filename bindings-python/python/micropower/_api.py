"""Every function of the core, typed: `Decimal` and `datetime.date` in and out.

Each function names its arguments as the core's JSON facade does (`micropower_core::json`, the shared
vectors), converts them to the wire form, makes one native call and converts the result back. Nothing is
decided here: the core checks every argument (a float for money, an unknown period, a bad date all come
back as the core's own errors).

Arguments that are objects (a tariff, a plan, an account snapshot, …) are dicts or records with the core's
field names; money in them may be `Decimal`, `int` or a decimal string, dates `datetime.date` or
"YYYY-MM-DD".
"""

import datetime
import json
from decimal import Decimal
from typing import Any, Mapping, Union

from . import _native
from ._records import Installment, OpenPaygoToken, Record, RecordList, from_wire
from ._wire import json_default

#: Money and energy: exact. An int is exact too; a decimal string is read by the core. Never a float.
Money = Union[Decimal, int, str]
#: A date, or its YYYY-MM-DD text.
Day = Union[datetime.date, str]
#: An object argument: a dict or a record with the core's field names.
Obj = Mapping[str, Any]

__all__ = [
    "call",
    "round_money",
    "normalize_serial",
    "normalize_phone",
    "locate_village",
    "customer_record",
    "registration_field_errors",
    "register",
    "reassign_device",
    "unit_price",
    "energy_for_money",
    "accrue_access_rate",
    "installment_schedule",
    "create_installment_plan",
    "create_plan",
    "plan_summary",
    "edit_plan_total",
    "edit_installment",
    "eaas_price",
    "allocate_payment",
    "allocate_plan_payment",
    "validate_payment",
    "agent_terms",
    "agent_sale",
    "agent_handover",
    "openpaygo_generate",
    "openpaygo_decode",
    "openpaygo_tokens_for_request",
    "revenue_report",
    "energy_sold",
    "debt_aging",
    "portfolio_at_risk",
    "par_30_60_90",
    "collection_rate",
]


def _raw(function, args):
    """One native call; arguments that are None are left out (the core's default applies)."""
    given = {name: value for name, value in args.items() if value is not None}
    return json.loads(_native.call(function, json.dumps(given, default=json_default)))


def _record(function, args, record=Record):
    return from_wire(_raw(function, args), record=record)


def _records(function, args, record=Record):
    return RecordList(from_wire(_raw(function, args), record=record))


def call(function, args):
    """Any core function by its name in the JSON facade, with its argument object (a dict; Decimal and
    date values are converted). Returns the result with records, Decimals and dates."""
    result = _raw(function, dict(args))
    if isinstance(result, list):
        return RecordList(from_wire(result))
    if isinstance(result, str):
        return Decimal(result) if function in _DECIMAL_RESULTS else result
    return from_wire(result)


# The functions whose whole result is a decimal string.
_DECIMAL_RESULTS = frozenset({"round_money", "unit_price", "eaas_price"})


# --- money -----------------------------------------------------------------------------------------


def round_money(amount, currency):
    """`amount` rounded half up to the currency's minor unit (TZS 0 digits, KES 2)."""
    return Decimal(_raw("round_money", {"amount": amount, "currency": currency}))


# --- registry --------------------------------------------------------------------------------------


def normalize_serial(raw):
    """The canonical serial: trimmed, upper-case, without spaces and dashes; 1-32 of A-Z0-9."""
    return _raw("normalize_serial", {"raw": raw})


def normalize_phone(raw, region=None):
    """A phone number in E.164; `region` (e.g. "TZ") for numbers written without +."""
    return _raw("normalize_phone", {"raw": raw, "region": region})


def locate_village(hierarchy, village_id):
    """The village's location (`cluster_id`, `area_id`, `village_id`) in `hierarchy`
    ({"clusters": [...], "areas": [...], "villages": [...]})."""
    return _record("locate_village", {"hierarchy": hierarchy, "village_id": village_id})


def customer_record(id, customer, phone_region=None):
    """A customer's record from the fields an operator typed (`name`, `surname`, `phone` and/or `phones`,
    `village_id`, `geo`, `national_id`): names trimmed and required, phones in E.164 without repeats."""
    return _record("customer_record", {"id": id, "customer": customer, "phone_region": phone_region})


def registration_field_errors(request):
    """Every offline rule of a registration form, each failure tied to its field (`field`, `code`,
    `message`)."""
    return _records("registration_field_errors", {"request": request})


def register(request, context):
    """Checks a registration (customer and device together) and returns the records to store."""
    return _record("register", {"request": request, "context": context})


def reassign_device(serial, device_exists, new_owner_id, new_owner=None):
    """Moves a device to another customer (`new_owner`: the customer record, None when it is not known);
    returns the new owner's id."""
    return _raw(
        "reassign_device",
        {"serial": serial, "device_exists": device_exists, "new_owner": new_owner, "new_owner_id": new_owner_id},
    )


# --- tariffs and access rate ----------------------------------------------------------------------


def unit_price(tariff):
    """`price_per_kwh` plus every fee's price per kWh."""
    return Decimal(_raw("unit_price", {"tariff": tariff}))


def energy_for_money(tariff, net_amount):
    """The kWh that `net_amount` buys under `tariff` (`kwh`, `cost`, `credit`)."""
    return _record("energy_for_money", {"tariff": tariff, "net_amount": net_amount})


def accrue_access_rate(rate, registered_on, now, state=None):
    """Charges every access-rate period due by `now` and not charged yet (`state`, `new_periods`,
    `new_debt`); idempotent."""
    return _record("accrue_access_rate", {"rate": rate, "registered_on": registered_on, "state": state, "now": now})


# --- plans ----------------------------------------------------------------------------------------


def installment_schedule(total_cost, down_payment, installments, period, start_date, currency,
                         minimum_payment=None):
    """The installments of a sale: floor split, remainder last, month-end clamping. `period` is
    "weekly", "monthly" or "every_N_days". Returns `Installment`s (`number`, `due_date`, `amount`)."""
    terms = {
        "total_cost": total_cost,
        "down_payment": down_payment,
        "installments": installments,
        "period": period,
        "start_date": start_date,
    }
    if minimum_payment is not None:
        terms["minimum_payment"] = minimum_payment
    return _records("installment_schedule", {"terms": terms, "currency": currency}, Installment)


def create_installment_plan(id, currency, terms, down_payment_paid=True):  # noqa: A002 - the core's name
    """A new installment plan from `terms` (total_cost, down_payment, installments, period, start_date)."""
    return _record(
        "create_installment_plan",
        {"id": id, "currency": currency, "terms": terms, "down_payment_paid": down_payment_paid},
    )


def create_plan(id, plan, down_payment_paid=True):  # noqa: A002 - the core's name
    """A plan sold with or without a device: installments or energy-as-a-service."""
    return _record("create_plan", {"id": id, "plan": plan, "down_payment_paid": down_payment_paid})


def plan_summary(plan):
    """Totals, paid, outstanding and what remains on each installment."""
    return _record("plan_summary", {"plan": plan})


def edit_plan_total(plan, edit):
    """The plan with a new total (refused below what was paid)."""
    return _record("edit_plan_total", {"plan": plan, "edit": edit})


def edit_installment(plan, number, amount):
    """The plan with one untouched installment changed (0 removes it)."""
    return _record("edit_installment", {"plan": plan, "number": number, "amount": amount})


def agent_terms(terms):
    """An agent's terms checked (rates from 0 to 1, a ceiling in the currency's units), in canonical form."""
    return _record("agent_terms", {"terms": terms})


def agent_sale(terms, balance, allocation):
    """The ledger lines (sale, commission by what the money paid) of an agent's cash sale and the balance
    after it; RiskCeilingExceededError when the balance would pass the agent's risk ceiling."""
    return _record("agent_sale", {"terms": terms, "balance": balance, "allocation": allocation})


def agent_handover(terms, balance, amount, currency):
    """The handover line (-amount) of cash an agent hands over to the office, and the balance after it."""
    return _record("agent_handover", {"terms": terms, "balance": balance, "amount": amount, "currency": currency})


def eaas_price(plan, days):
    """The price of `days` days of energy-as-a-service."""
    return Decimal(_raw("eaas_price", {"plan": plan, "days": days}))


# --- payments -------------------------------------------------------------------------------------


def allocate_payment(snapshot, payment):
    """What a payment that has arrived pays for: debts first, then a token request."""
    return _record("allocate_payment", {"snapshot": snapshot, "payment": payment})


def allocate_plan_payment(plan, amount, currency, credit_balance=None):
    """A payment against a device-less plan."""
    return _record(
        "allocate_plan_payment",
        {"plan": plan, "credit_balance": credit_balance, "amount": amount, "currency": currency},
    )


def validate_payment(snapshot, request):
    """Whether a payment would be accepted, before the money moves."""
    return _record("validate_payment", {"snapshot": snapshot, "request": request})


# --- OpenPAYGO ------------------------------------------------------------------------------------


def openpaygo_generate(secret_key, starting_code, count, kind, value=None, time_divider=1,
                       restricted_digits=False, extended=False):
    """One OpenPAYGO token after `count` (the device's last count). `kind` is "add_time", "set_time",
    "disable_payg" or "counter_sync"; `value` the days to add or set (int or Decimal). `starting_code` None
    derives it from the key. Returns an `OpenPaygoToken` (`code`: str, `count`: int)."""
    return _record(
        "openpaygo_generate",
        {
            "secret_key": secret_key,
            "starting_code": starting_code,
            "count": count,
            "kind": kind,
            "value": value,
            "time_divider": time_divider,
            "restricted_digits": restricted_digits,
            "extended": extended,
        },
        OpenPaygoToken,
    )


def openpaygo_decode(secret_key, token, starting_code=None, state=None, time_divider=1, restricted_digits=False,
                     extended=False):
    """What a device with this key and `state` ({"last_count", "used_counts"}) does with `token`
    (`kind`, `value`, `count`, `state`)."""
    return _record(
        "openpaygo_decode",
        {
            "secret_key": secret_key,
            "starting_code": starting_code,
            "token": token,
            "state": state,
            "time_divider": time_divider,
            "restricted_digits": restricted_digits,
            "extended": extended,
        },
    )


def openpaygo_tokens_for_request(device, request):
    """The tokens for a token request on an OpenPAYGO device (`tokens`, `new_count`)."""
    return _record("openpaygo_tokens_for_request", {"device": device, "request": request})


# --- reports --------------------------------------------------------------------------------------


def _continuing(args, so_far):
    if so_far is not None:
        args["so_far"] = so_far
    return args


def _grouped(args, by, names):
    if by is not None:
        args["by"] = by
    if names is not None:
        args["names"] = names
    return args


def revenue_report(payments, currency, from_, to, group_by, by="none", so_far=None, names=None):
    """Revenue per period ("day", "week", "month") split by allocation kind, and by "cluster", "area",
    "village" or "kind" (`rows`, `by_kind`, `total`); each row's `group` is `{id, name}`, the name from
    `names` (the registry: `{clusters, areas, villages}`), null when it does not know the id. Every report
    takes `so_far`: the report of earlier records under the same arguments, which the answer continues, to
    fold records in page by page."""
    args = {"payments": payments, "currency": currency, "from": from_, "to": to, "group_by": group_by, "by": by}
    return _record("revenue_report", _grouped(_continuing(args, so_far), None, names))


def energy_sold(payments, from_, to, group_by, currency=None, so_far=None):
    """kWh sold per period (and their money when `currency` is given)."""
    args = {"payments": payments, "currency": currency, "from": from_, "to": to, "group_by": group_by}
    return _record("energy_sold", _continuing(args, so_far))


def _with_access_rates(args, access_rates):
    if access_rates is not None:
        args["access_rates"] = access_rates
    return args


def debt_aging(installments, currency, as_of, access_rates=None, so_far=None, by=None, names=None):
    """Outstanding installment debt by days overdue: current, 1-30, 31-60, 61-90, over 90; and the meters'
    access-rate debt (`access_rates`: their accounts as stored) accrued up to `as_of`, as its own line.
    Split `by` "cluster", "area" or "village", it adds `groups`: the same aging of each place's records,
    each with `group` `{id, name}` (names from `names`, as `revenue_report`)."""
    args = {"installments": installments, "currency": currency, "as_of": as_of}
    return _record("debt_aging", _grouped(_continuing(_with_access_rates(args, access_rates), so_far), by, names))


def portfolio_at_risk(installments, currency, as_of, days, access_rates=None, so_far=None, by=None, names=None):
    """PAR `days`: the outstanding balance of plans with an installment overdue more than `days` days (and of
    meters whose oldest unpaid access-rate fee is), over everything outstanding. Folded in with `so_far`,
    every installment of a plan must come in the same call. `by` and `names` split it by place (see
    `debt_aging`)."""
    args = {"installments": installments, "currency": currency, "as_of": as_of, "days": days}
    args = _continuing(_with_access_rates(args, access_rates), so_far)
    return _record("portfolio_at_risk", _grouped(args, by, names))


def par_30_60_90(installments, currency, as_of, access_rates=None, so_far=None, by=None, names=None):
    """PAR30, PAR60 and PAR90 in one pass; `by` and `names` split it by place (see `debt_aging`)."""
    args = {"installments": installments, "currency": currency, "as_of": as_of}
    return _record("par_30_60_90", _grouped(_continuing(_with_access_rates(args, access_rates), so_far), by, names))


def collection_rate(installments, currency, from_, to, so_far=None, by=None, names=None):
    """Collected / due for the installments due from `from_` to `to`; `by` and `names` split it by place (see
    `debt_aging`: a place with no installment due in the window has no group)."""
    args = {"installments": installments, "currency": currency, "from": from_, "to": to}
    return _record("collection_rate", _grouped(_continuing(args, so_far), by, names))
