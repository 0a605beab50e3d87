from ._api import *
from ._errors import *
from ._records import Installment as Installment
from ._records import OpenPaygoToken as OpenPaygoToken
from ._records import Record as Record
from ._records import RecordList as RecordList
from .analyst import Dataset as Dataset
from .analyst import load_export as load_export
from .analyst import simulate_tariff as simulate_tariff

__version__: str
FUNCTIONS: tuple[str, ...]
ALL_CODES: tuple[str, ...]
