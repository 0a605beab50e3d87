import datetime
import os
from typing import Any, BinaryIO, Literal, Mapping, Union

from . import _native
from ._api import Day
from ._records import Record, RecordList

PROGRESS_THRESHOLD: int

def load_export(
    path_or_url: Union[str, os.PathLike[str], BinaryIO],
    api_key: str | None = None,
    *,
    progress: bool | None = None,
    timeout: float = 60.0,
) -> Dataset: ...

class Dataset:
    def __init__(self, native: _native.Dataset, _currency_hint: list[str] | None = None) -> None: ...
    @property
    def counts(self) -> dict[str, int]: ...
    @property
    def meta(self) -> Record | None: ...
    @property
    def exported_at(self) -> datetime.datetime | None: ...
    @property
    def as_of(self) -> datetime.date: ...
    @property
    def skipped(self) -> dict[str, int]: ...
    @property
    def clusters(self) -> RecordList[Record]: ...
    @property
    def areas(self) -> RecordList[Record]: ...
    @property
    def villages(self) -> RecordList[Record]: ...
    @property
    def customers(self) -> RecordList[Record]: ...
    @property
    def tariffs(self) -> RecordList[Record]: ...
    @property
    def devices(self) -> RecordList[Record]: ...
    @property
    def plans(self) -> RecordList[Record]: ...
    @property
    def tokens(self) -> RecordList[Record]: ...
    @property
    def installments(self) -> RecordList[Record]: ...
    @property
    def access_rates(self) -> RecordList[Record]: ...
    @property
    def payments(self) -> RecordList[Record]: ...
    @property
    def currencies(self) -> list[str]: ...
    def filter(
        self,
        *,
        cluster_id: str | None = None,
        area_id: str | None = None,
        village_id: str | None = None,
        customer_id: str | None = None,
    ) -> Dataset: ...
    def revenue(
        self,
        currency: str | None = None,
        from_: Day | None = None,
        to: Day | None = None,
        group_by: Literal["day", "week", "month"] = "month",
        by: Literal["cluster", "area", "village", "kind", "none"] = "none",
    ) -> RecordList[Record]: ...
    def energy_sold(
        self,
        currency: str | None = None,
        from_: Day | None = None,
        to: Day | None = None,
        group_by: Literal["day", "week", "month"] = "month",
    ) -> RecordList[Record]: ...
    def debt_aging(
        self, currency: str | None = None, as_of: Day | None = None, by: Literal["cluster", "area", "village", "none"] = "none"
    ) -> RecordList[Record]: ...
    def portfolio_at_risk(
        self, days: int = 30, currency: str | None = None, as_of: Day | None = None, by: Literal["cluster", "area", "village", "none"] = "none"
    ) -> RecordList[Record]: ...
    def par_30_60_90(self, currency: str | None = None, as_of: Day | None = None) -> RecordList[Record]: ...
    def collection_rate(
        self,
        currency: str | None = None,
        from_: Day | None = None,
        to: Day | None = None,
        by: Literal["cluster", "area", "village", "none"] = "none",
    ) -> RecordList[Record]: ...
    def simulate_tariff(self, tariff: Mapping[str, Any]) -> RecordList[Record]: ...

def simulate_tariff(dataset: Dataset, tariff: Mapping[str, Any]) -> RecordList[Record]: ...
