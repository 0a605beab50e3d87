"""The exception tree: `MicropowerError` and one subclass per variant of the core's `CoreError`.

Each class is the variant's name plus `Error` (`UnknownSerial` -> `UnknownSerialError`) and carries the
variant's snake_case `code` (`"unknown_serial"`), the same code every other binding and the HTTP API show.
An instance also carries `message` (the core's text), `details` (the variant's fields, as the core's
`details()` gives them, with money as `Decimal`) and each field as an attribute (`err.serial`,
`err.minimum_amount`).

The native module raises these itself, through `error_from_details`; `tests/test_errors.py` checks that
every code of the core (`_native.ALL_CODES`) has its class here.
"""

import json
from decimal import Decimal, InvalidOperation

__all__ = [
    "MicropowerError",
    "InvalidInputError",
    "InvalidAmountError",
    "UnknownCurrencyError",
    "InvalidSerialError",
    "InvalidPhoneError",
    "InvalidGeoPointError",
    "DateOutOfRangeError",
    "NotFoundError",
    "ForeignParentError",
    "DuplicateSerialError",
    "KindMismatchError",
    "UnknownSerialError",
    "DeviceUnassignedError",
    "CurrencyMismatchError",
    "AmountBelowMinimumError",
    "TotalBelowPaidError",
    "NoUntouchedInstallmentsError",
    "InstallmentTouchedError",
    "InvalidSecretKeyError",
    "InvalidTokenValueError",
    "InvalidTokenCountError",
    "TokenRejectedError",
    "RiskCeilingExceededError",
    "ERROR_CLASSES",
    "error_from_details",
]


class MicropowerError(Exception):
    """Base of every error the micropower core raises. `code` is the snake_case variant name; `details`
    holds the variant's fields (also readable as attributes)."""

    code = "micropower_error"
    #: The variant's fields that hold money (decimal strings on the wire, `Decimal` here).
    decimal_fields = ()

    def __init__(self, message="", **details):
        super().__init__(message)
        self.message = message
        code = details.pop("code", None)
        if code is not None and code != type(self).code:
            # An error this package has no class for (a newer core, or an HTTP-only code): keep its code.
            self.code = code
        self.details = {}
        for name, value in details.items():
            if name in self.decimal_fields and isinstance(value, str):
                try:
                    value = Decimal(value)
                except InvalidOperation:
                    pass
            self.details[name] = value

    def __getattr__(self, name):
        # Only reached for names that are not normal attributes: the variant's fields.
        if name.startswith("__") or name == "details":
            raise AttributeError(name)
        try:
            return self.details[name]
        except KeyError:
            raise AttributeError("%s has no field %r" % (type(self).__name__, name)) from None

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.code, self.details))

    def __repr__(self):
        return "%s(%r, code=%r%s)" % (
            type(self).__name__,
            self.message,
            self.code,
            "".join(", %s=%r" % kv for kv in self.details.items()),
        )


def _rebuild(cls, message, code, details):
    return cls(message, code=code, **details)


# --- input shape -------------------------------------------------------------------------------------


class InvalidInputError(MicropowerError):
    """A field is missing, empty, out of range or malformed (`field`, `reason`)."""

    code = "invalid_input"


class InvalidAmountError(MicropowerError):
    """An amount is zero, negative, or has more decimals than its currency allows (`amount`, `reason`)."""

    code = "invalid_amount"
    decimal_fields = ("amount",)


class UnknownCurrencyError(MicropowerError):
    """Not an ISO 4217 currency code the core knows (`currency`)."""

    code = "unknown_currency"


class InvalidSerialError(MicropowerError):
    """A serial that is empty, too long, or not A-Z and 0-9 after normalisation (`raw`, `reason`)."""

    code = "invalid_serial"


class InvalidPhoneError(MicropowerError):
    """A phone number that is not a valid number (`raw`, `reason`)."""

    code = "invalid_phone"


class InvalidGeoPointError(MicropowerError):
    """Latitude or longitude out of range (`reason`)."""

    code = "invalid_geo_point"


class DateOutOfRangeError(MicropowerError):
    """A date computation left the calendar (`reason`)."""

    code = "date_out_of_range"


# --- registry ----------------------------------------------------------------------------------------


class NotFoundError(MicropowerError):
    """A village, area, cluster, customer, plan … that is not known (`entity`, `id`)."""

    code = "not_found"


class ForeignParentError(MicropowerError):
    """A parent exists but is not the one the hierarchy requires (`entity`, `id`, `parent`, `parent_id`)."""

    code = "foreign_parent"


class DuplicateSerialError(MicropowerError):
    """Another device already uses this serial (`serial`)."""

    code = "duplicate_serial"


class KindMismatchError(MicropowerError):
    """A device kind that cannot be registered this way (`kind`, `reason`)."""

    code = "kind_mismatch"


# --- payments ----------------------------------------------------------------------------------------


class UnknownSerialError(MicropowerError):
    """No device carries this serial (`serial`)."""

    code = "unknown_serial"


class DeviceUnassignedError(MicropowerError):
    """The device has no owner (`serial`)."""

    code = "device_unassigned"


class CurrencyMismatchError(MicropowerError):
    """Two amounts of different currencies met; the core never converts (`expected`, `actual`)."""

    code = "currency_mismatch"


class AmountBelowMinimumError(MicropowerError):
    """The payment is below what the device accepts (`amount`, `minimum_amount`)."""

    code = "amount_below_minimum"
    decimal_fields = ("amount", "minimum_amount")


# --- plans -------------------------------------------------------------------------------------------


class TotalBelowPaidError(MicropowerError):
    """A plan's new total below what was already paid (`paid`)."""

    code = "total_below_paid"
    decimal_fields = ("paid",)


class NoUntouchedInstallmentsError(MicropowerError):
    """Every installment is paid or partly paid."""

    code = "no_untouched_installments"


class InstallmentTouchedError(MicropowerError):
    """An installment that already received money cannot be changed (`number`)."""

    code = "installment_touched"


# --- tokens (OpenPAYGO) ------------------------------------------------------------------------------


class InvalidSecretKeyError(MicropowerError):
    """An OpenPAYGO secret key that is not 32 hexadecimal characters (`reason`)."""

    code = "invalid_secret_key"


class InvalidTokenValueError(MicropowerError):
    """A token value that is negative, reserved or too large (`value`, `reason`)."""

    code = "invalid_token_value"


class InvalidTokenCountError(MicropowerError):
    """A token count that cannot be used (`count`, `reason`)."""

    code = "invalid_token_count"


class TokenRejectedError(MicropowerError):
    """A token the device would not accept (`reason`)."""

    code = "token_rejected"


# --- agents ------------------------------------------------------------------------------------------


class RiskCeilingExceededError(MicropowerError):
    """A field agent's sale that would take its cash above its risk ceiling (`balance`, `amount`,
    `risk_ceiling`)."""

    code = "risk_ceiling_exceeded"
    decimal_fields = ("balance", "amount", "risk_ceiling")


#: Every code of the core's `CoreError` and its class.
ERROR_CLASSES = {
    cls.code: cls
    for cls in (
        InvalidInputError,
        InvalidAmountError,
        UnknownCurrencyError,
        InvalidSerialError,
        InvalidPhoneError,
        InvalidGeoPointError,
        DateOutOfRangeError,
        NotFoundError,
        ForeignParentError,
        DuplicateSerialError,
        KindMismatchError,
        UnknownSerialError,
        DeviceUnassignedError,
        CurrencyMismatchError,
        AmountBelowMinimumError,
        TotalBelowPaidError,
        NoUntouchedInstallmentsError,
        InstallmentTouchedError,
        InvalidSecretKeyError,
        InvalidTokenValueError,
        InvalidTokenCountError,
        TokenRejectedError,
        RiskCeilingExceededError,
    )
}


def error_from_details(details):
    """The exception for an error's details (the core's `details()`, or an HTTP error body), as a dict or
    JSON text: `{"code": "unknown_serial", "message": "…", "serial": "X1"}`."""
    if isinstance(details, (str, bytes)):
        details = json.loads(details)
    details = dict(details)
    code = details.get("code")
    message = details.pop("message", "") or ""
    cls = ERROR_CLASSES.get(code, MicropowerError)
    return cls(message, **details)
