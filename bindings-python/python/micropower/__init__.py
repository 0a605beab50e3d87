"""micropower: payments and device credit for off-grid solar, for Python.

The micropower core (Rust) with `decimal.Decimal` for money and energy and `datetime.date` for dates:

- every core function, typed (`normalize_serial`, `installment_schedule`, `openpaygo_generate`,
  `allocate_payment`, the reports, …) and by name through `call(function, args)`;
- `MicropowerError` and one subclass per core error variant (`UnknownSerialError`, …), each with `.code`;
- for analysts, `load_export(path_or_url)` reads the server's export into a `Dataset` with the reports of
  the dashboard (revenue, energy sold, debt aging, PAR 30/60/90, collection rate) and `simulate_tariff`.

No rule is decided in Python: each function is a conversion plus one call of the core.
"""

from . import _native
from ._api import *  # noqa: F401,F403 - the typed functions, listed in _api.__all__
from ._api import __all__ as _api_all
from ._errors import *  # noqa: F401,F403 - the exception classes, listed in _errors.__all__
from ._errors import __all__ as _errors_all
from ._records import Installment, OpenPaygoToken, Record, RecordList
from .analyst import Dataset, load_export, simulate_tariff

__version__ = _native.__version__

#: Every function of the core's JSON facade (each has a typed function of the same name here).
FUNCTIONS = tuple(_native.FUNCTIONS)

#: Every error code of the core (each has its class in ERROR_CLASSES).
ALL_CODES = tuple(_native.ALL_CODES)

__all__ = [
    *_api_all,
    *_errors_all,
    "Installment",
    "OpenPaygoToken",
    "Record",
    "RecordList",
    "Dataset",
    "load_export",
    "simulate_tariff",
    "FUNCTIONS",
    "ALL_CODES",
]
