//! # micropower-core
//!
//! The payments and device-credit rules of an off-grid energy business, as pure functions: money first
//! clears the customer's debt (appliance installments, the meter's access-rate fee), and only what remains
//! becomes a token for the device whose serial the payment carries.
//!
//! The core does no I/O and reads no clock (time is always an argument); it never panics on any input and
//! reports every refusal as a [`CoreError`] whose variant names are the same in every language.
//! Bindings call [`api`] (typed) or [`json`] (the same functions by name, arguments as JSON).

#![warn(missing_docs)]

pub mod access_rate;
pub mod agent;
pub mod allocation;
pub mod api;
pub mod calls;
pub mod error;
pub mod export;
pub mod json;
pub mod money;
mod num;
pub mod openpaygo;
pub mod plan;
pub mod registry;
pub mod report;
pub mod tariff;
pub mod token;
pub mod wire;
pub mod wit;

pub use error::{CoreError, CoreResult};
pub use num::MAX_AMOUNT;
