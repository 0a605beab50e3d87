import datetime
from decimal import Decimal
from typing import Any, Literal, Mapping, Sequence, Union

from ._records import Installment, OpenPaygoToken, Record, RecordList

#: Money and energy: exact. An int is exact too; a decimal string is read by the core. Never a float.
Money = Union[Decimal, int, str]
#: A date, or its YYYY-MM-DD text.
Day = Union[datetime.date, str]
#: An object argument: a dict or a record with the core's field names.
Obj = Mapping[str, Any]

def call(function: str, args: Mapping[str, Any]) -> Any: ...
def round_money(amount: Money, currency: str) -> Decimal: ...
def normalize_serial(raw: str) -> str: ...
def normalize_phone(raw: str, region: str | None = None) -> str: ...
def locate_village(hierarchy: Obj, village_id: str) -> Record: ...
def customer_record(id: str, customer: Obj, phone_region: str | None = None) -> Record: ...
def registration_field_errors(request: Obj) -> RecordList[Record]: ...
def register(request: Obj, context: Obj) -> Record: ...
def reassign_device(serial: str, device_exists: bool, new_owner_id: str, new_owner: Obj | None = None) -> str: ...
def unit_price(tariff: Obj) -> Decimal: ...
def energy_for_money(tariff: Obj, net_amount: Money) -> Record: ...
def accrue_access_rate(rate: Obj, registered_on: Day, now: Day, state: Obj | None = None) -> Record: ...
def installment_schedule(
    total_cost: Money,
    down_payment: Money,
    installments: int,
    period: str,
    start_date: Day,
    currency: str,
    minimum_payment: Money | None = None,
) -> RecordList[Installment]: ...
def create_installment_plan(id: str, currency: str, terms: Obj, down_payment_paid: bool = True) -> Record: ...
def create_plan(id: str, plan: Obj, down_payment_paid: bool = True) -> Record: ...
def plan_summary(plan: Obj) -> Record: ...
def edit_plan_total(plan: Obj, edit: Obj) -> Record: ...
def edit_installment(plan: Obj, number: int, amount: Money) -> Record: ...
def eaas_price(plan: Obj, days: Money) -> Decimal: ...
def agent_terms(terms: Obj) -> Record: ...
def agent_sale(terms: Obj, balance: Money, allocation: Obj) -> Record: ...
def agent_handover(terms: Obj, balance: Money, amount: Money, currency: str) -> Record: ...
def allocate_payment(snapshot: Obj | None, payment: Obj) -> Record: ...
def allocate_plan_payment(plan: Obj, amount: Money, currency: str, credit_balance: Money | None = None) -> Record: ...
def validate_payment(snapshot: Obj | None, request: Obj) -> Record: ...
def openpaygo_generate(
    secret_key: str,
    starting_code: int | None,
    count: int,
    kind: Literal["add_time", "set_time", "disable_payg", "counter_sync"],
    value: int | Decimal | None = None,
    time_divider: int = 1,
    restricted_digits: bool = False,
    extended: bool = False,
) -> OpenPaygoToken: ...
def openpaygo_decode(
    secret_key: str,
    token: str,
    starting_code: int | None = None,
    state: Obj | None = None,
    time_divider: int = 1,
    restricted_digits: bool = False,
    extended: bool = False,
) -> Record: ...
def openpaygo_tokens_for_request(device: Obj, request: Obj) -> Record: ...
def revenue_report(
    payments: Sequence[Obj],
    currency: str,
    from_: Day,
    to: Day,
    group_by: Literal["day", "week", "month"],
    by: Literal["cluster", "area", "village", "kind", "none"] = "none",
    so_far: Obj | None = None,
    names: Obj | None = None,
) -> Record: ...
def energy_sold(
    payments: Sequence[Obj],
    from_: Day,
    to: Day,
    group_by: Literal["day", "week", "month"],
    currency: str | None = None,
    so_far: Obj | None = None,
) -> Record: ...
def debt_aging(
    installments: Sequence[Obj],
    currency: str,
    as_of: Day,
    access_rates: Sequence[Obj] | None = None,
    so_far: Obj | None = None,
    by: Literal["cluster", "area", "village", "none"] | None = None,
    names: Obj | None = None,
) -> Record: ...
def portfolio_at_risk(
    installments: Sequence[Obj],
    currency: str,
    as_of: Day,
    days: int,
    access_rates: Sequence[Obj] | None = None,
    so_far: Obj | None = None,
    by: Literal["cluster", "area", "village", "none"] | None = None,
    names: Obj | None = None,
) -> Record: ...
def par_30_60_90(
    installments: Sequence[Obj],
    currency: str,
    as_of: Day,
    access_rates: Sequence[Obj] | None = None,
    so_far: Obj | None = None,
    by: Literal["cluster", "area", "village", "none"] | None = None,
    names: Obj | None = None,
) -> Record: ...
def collection_rate(
    installments: Sequence[Obj],
    currency: str,
    from_: Day,
    to: Day,
    so_far: Obj | None = None,
    by: Literal["cluster", "area", "village", "none"] | None = None,
    names: Obj | None = None,
) -> Record: ...
