//! The private native module `micropower._native`: conversions plus one call each.
//!
//! Everything crosses as text: arguments and results are the core's JSON wire form (decimal strings, ISO
//! dates), and the Python package turns them into `Decimal` and `datetime.date`. A core error becomes the
//! exception class of its variant, made by `micropower._errors.error_from_details` from the error's
//! `details()`, so the class tree lives in one place (Python) and every native entry raises it.

use std::time::Instant;

use chrono::NaiveDate;
use micropower_core::api::{Currency, GroupBy, PeriodUnit, Tariff};
use micropower_core::{json, CoreError, CoreResult};
use pyo3::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::export::{Dataset, ExportReader, Filter, EXPORT_VERSION};

/// The Python exception for a core error: the class of its variant, carrying its code and details.
fn raise(py: Python<'_>, error: &CoreError) -> PyErr {
    let details = error.details().to_string();
    let made = py.import("micropower._errors").and_then(|errors| errors.call_method1("error_from_details", (details,)));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        Err(import_failed) => import_failed,
    }
}

fn invalid(field: &str, reason: impl ToString) -> CoreError {
    CoreError::InvalidInput { field: field.to_owned(), reason: reason.to_string() }
}

fn to_json<T: Serialize>(value: &T) -> CoreResult<String> {
    serde_json::to_string(value).map_err(|e| invalid("output", e))
}

fn date(field: &str, text: &str) -> CoreResult<NaiveDate> {
    text.parse().map_err(|e| invalid(field, format!("{text:?} is not a YYYY-MM-DD date: {e}")))
}

/// A snake_case enum argument (`"month"`, `"area"`) read the way the JSON facade reads it.
fn word<T: DeserializeOwned>(field: &str, text: &str) -> CoreResult<T> {
    serde_json::from_value(Value::String(text.to_owned())).map_err(|e| invalid(field, e))
}

/// Calls the core function `function` with its JSON argument object; returns the result as JSON text.
/// The names and argument objects are those of `micropower_core::json` and `tests/vectors/`.
#[pyfunction]
fn call(py: Python<'_>, function: &str, args_json: &str) -> PyResult<String> {
    py.detach(|| {
        let input: Value = serde_json::from_str(args_json).map_err(|e| invalid("input", e))?;
        Ok(json::call(function, &input)?.to_string())
    })
    .map_err(|e| raise(py, &e))
}

/// Reads the server's export (JSON Lines) fed in chunks of any size.
#[pyclass(name = "ExportReader", module = "micropower._native")]
struct PyExportReader {
    inner: Option<ExportReader>,
}

#[pymethods]
impl PyExportReader {
    #[new]
    fn new() -> Self {
        PyExportReader { inner: Some(ExportReader::new()) }
    }

    /// Reads the complete lines of `chunk` (bytes); keeps a partial last line for the next chunk.
    fn feed(&mut self, py: Python<'_>, chunk: &[u8]) -> PyResult<()> {
        let reader = self.inner.as_mut().ok_or_else(|| raise(py, &invalid("reader", "already finished")))?;
        py.detach(|| reader.feed(chunk)).map_err(|e| raise(py, &e))
    }

    /// Lines read so far.
    #[getter]
    fn lines(&self) -> u64 {
        self.inner.as_ref().map_or(0, ExportReader::lines)
    }

    /// Reads the last line and returns the dataset.
    fn finish(&mut self, py: Python<'_>) -> PyResult<PyDataset> {
        let reader = self.inner.take().ok_or_else(|| raise(py, &invalid("reader", "already finished")))?;
        let inner = py.detach(|| reader.finish()).map_err(|e| raise(py, &e))?;
        Ok(PyDataset { inner })
    }
}

/// An export as read: the records in core types, and the core's reports over them.
#[pyclass(name = "Dataset", module = "micropower._native", frozen)]
struct PyDataset {
    inner: Dataset,
}

impl PyDataset {
    /// Runs `f` without the GIL and turns its result into JSON text, or its error into the exception.
    fn report<T: Serialize>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Dataset) -> CoreResult<T> + Send,
    ) -> PyResult<String> {
        py.detach(|| to_json(&f(&self.inner)?)).map_err(|e| raise(py, &e))
    }
}

#[pymethods]
impl PyDataset {
    /// How many records of each kind were read.
    fn counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        self.inner.counts()
    }

    /// One table (`payments`, `installments`, `customers`, …, `meta`, `skipped`) as JSON text.
    fn table(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        py.detach(|| self.inner.table_json(name)).map_err(|e| raise(py, &e))
    }

    /// The currencies of the payments and of the installments.
    fn currencies(&self) -> (Vec<String>, Vec<String>) {
        self.inner.currencies()
    }

    /// First and last day a payment (in `currency`, if given) was received, or None.
    #[pyo3(signature = (currency=None))]
    fn payment_span(&self, py: Python<'_>, currency: Option<&str>) -> PyResult<Option<(String, String)>> {
        let currency = currency.map(Currency::parse).transpose().map_err(|e| raise(py, &e))?;
        Ok(self.inner.payment_span(currency.as_ref()).map(|(a, b)| (a.to_string(), b.to_string())))
    }

    /// First and last due date of the installments (in `currency`, if given), or None.
    #[pyo3(signature = (currency=None))]
    fn due_span(&self, py: Python<'_>, currency: Option<&str>) -> PyResult<Option<(String, String)>> {
        let currency = currency.map(Currency::parse).transpose().map_err(|e| raise(py, &e))?;
        Ok(self.inner.due_span(currency.as_ref()).map(|(a, b)| (a.to_string(), b.to_string())))
    }

    /// The installments and payments that match every given field.
    #[pyo3(signature = (cluster_id=None, area_id=None, village_id=None, customer_id=None))]
    fn filter(
        &self,
        py: Python<'_>,
        cluster_id: Option<String>,
        area_id: Option<String>,
        village_id: Option<String>,
        customer_id: Option<String>,
    ) -> PyDataset {
        let filter = Filter { cluster_id, area_id, village_id, customer_id };
        PyDataset { inner: py.detach(|| self.inner.filter(&filter)) }
    }

    /// The core's `revenue_report` over the payments.
    fn revenue(
        &self,
        py: Python<'_>,
        currency: &str,
        from: &str,
        to: &str,
        group_by: &str,
        by: &str,
    ) -> PyResult<String> {
        self.report(py, |data| {
            let group_by: PeriodUnit = word("group_by", group_by)?;
            let by: GroupBy = word("by", by)?;
            data.revenue(&Currency::parse(currency)?, date("from", from)?, date("to", to)?, group_by, by)
        })
    }

    /// The core's `energy_sold` over the payments.
    #[pyo3(signature = (currency, from, to, group_by))]
    fn energy_sold(
        &self,
        py: Python<'_>,
        currency: Option<&str>,
        from: &str,
        to: &str,
        group_by: &str,
    ) -> PyResult<String> {
        self.report(py, |data| {
            let currency = currency.map(Currency::parse).transpose()?;
            let group_by: PeriodUnit = word("group_by", group_by)?;
            data.energy_sold(currency.as_ref(), date("from", from)?, date("to", to)?, group_by)
        })
    }

    /// The core's `debt_aging` over the installments; split `by` a place, with each place's (`groups`).
    #[pyo3(signature = (currency, as_of, by="none"))]
    fn debt_aging(&self, py: Python<'_>, currency: &str, as_of: &str, by: &str) -> PyResult<String> {
        self.report(py, |data| data.debt_aging_by(&Currency::parse(currency)?, date("as_of", as_of)?, word("by", by)?))
    }

    /// The core's `portfolio_at_risk` over the installments; split `by` a place, with each place's.
    #[pyo3(signature = (currency, as_of, days, by="none"))]
    fn portfolio_at_risk(&self, py: Python<'_>, currency: &str, as_of: &str, days: u32, by: &str) -> PyResult<String> {
        self.report(py, |data| {
            data.portfolio_at_risk_by(&Currency::parse(currency)?, date("as_of", as_of)?, days, word("by", by)?)
        })
    }

    /// The core's `par_30_60_90` over the installments; split `by` a place, with each place's.
    #[pyo3(signature = (currency, as_of, by="none"))]
    fn par_30_60_90(&self, py: Python<'_>, currency: &str, as_of: &str, by: &str) -> PyResult<String> {
        self.report(py, |data| {
            data.par_30_60_90_by(&Currency::parse(currency)?, date("as_of", as_of)?, word("by", by)?)
        })
    }

    /// The core's `collection_rate` over the installments; split `by` a place, with each place's.
    #[pyo3(signature = (currency, from, to, by="none"))]
    fn collection_rate(&self, py: Python<'_>, currency: &str, from: &str, to: &str, by: &str) -> PyResult<String> {
        self.report(py, |data| {
            data.collection_rate_by(&Currency::parse(currency)?, date("from", from)?, date("to", to)?, word("by", by)?)
        })
    }

    /// Every meter payment's energy money priced under `tariff` (JSON text of the core's tariff).
    fn simulate_tariff(&self, py: Python<'_>, tariff_json: &str) -> PyResult<String> {
        self.report(py, |data| {
            let tariff: Tariff = serde_json::from_str(tariff_json).map_err(|e| invalid("tariff", e))?;
            data.simulate_tariff(&tariff)
        })
    }

    /// Benchmark helper: seconds taken by each of `rounds` calls of the core's `debt_aging` on these
    /// records, timed inside Rust (no Python in the loop): the baseline the Python call is compared with.
    fn _time_debt_aging(&self, py: Python<'_>, currency: &str, as_of: &str, rounds: u32) -> PyResult<Vec<f64>> {
        py.detach(|| {
            let (currency, as_of) = (Currency::parse(currency)?, date("as_of", as_of)?);
            let mut times = Vec::new();
            for _ in 0..rounds {
                let start = Instant::now();
                std::hint::black_box(self.inner.debt_aging(&currency, as_of)?);
                times.push(start.elapsed().as_secs_f64());
            }
            Ok(times)
        })
        .map_err(|e| raise(py, &e))
    }
}

/// The native half of the `micropower` package; import `micropower`, not this.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(call, m)?)?;
    m.add_class::<PyExportReader>()?;
    m.add_class::<PyDataset>()?;
    m.add("FUNCTIONS", json::FUNCTIONS.to_vec())?;
    m.add("ALL_CODES", CoreError::ALL_CODES.to_vec())?;
    m.add("EXPORT_VERSION", EXPORT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
