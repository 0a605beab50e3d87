from decimal import Decimal
from typing import Any, ClassVar, Mapping

class MicropowerError(Exception):
    code: str
    decimal_fields: ClassVar[tuple[str, ...]]
    message: str
    details: dict[str, Any]
    #: Set on errors from an HTTP server (load_export of a URL).
    status: int
    def __init__(self, message: str = ..., **details: Any) -> None: ...
    def __getattr__(self, name: str) -> Any: ...

class InvalidInputError(MicropowerError):
    field: str
    reason: str

class InvalidAmountError(MicropowerError):
    amount: Decimal
    reason: str

class UnknownCurrencyError(MicropowerError):
    currency: str

class InvalidSerialError(MicropowerError):
    raw: str
    reason: str

class InvalidPhoneError(MicropowerError):
    raw: str
    reason: str

class InvalidGeoPointError(MicropowerError):
    reason: str

class DateOutOfRangeError(MicropowerError):
    reason: str

class NotFoundError(MicropowerError):
    entity: str
    id: str

class ForeignParentError(MicropowerError):
    entity: str
    id: str
    parent: str
    parent_id: str

class DuplicateSerialError(MicropowerError):
    serial: str

class KindMismatchError(MicropowerError):
    kind: str
    reason: str

class UnknownSerialError(MicropowerError):
    serial: str

class DeviceUnassignedError(MicropowerError):
    serial: str

class CurrencyMismatchError(MicropowerError):
    expected: str
    actual: str

class AmountBelowMinimumError(MicropowerError):
    amount: Decimal
    minimum_amount: Decimal

class TotalBelowPaidError(MicropowerError):
    paid: Decimal

class NoUntouchedInstallmentsError(MicropowerError): ...

class InstallmentTouchedError(MicropowerError):
    number: int

class InvalidSecretKeyError(MicropowerError):
    reason: str

class InvalidTokenValueError(MicropowerError):
    value: str
    reason: str

class InvalidTokenCountError(MicropowerError):
    count: int
    reason: str

class TokenRejectedError(MicropowerError):
    reason: str

class RiskCeilingExceededError(MicropowerError):
    balance: Decimal
    amount: Decimal
    risk_ceiling: Decimal

ERROR_CLASSES: dict[str, type[MicropowerError]]

def error_from_details(details: str | bytes | Mapping[str, Any]) -> MicropowerError: ...
