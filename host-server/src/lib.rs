//! # micropower-server
//!
//! Operators register customers and devices, providers post payments, customers get tokens. The server owns
//! the database and asks the core (`micropower-core`, run in wasmtime or natively) for every decision; it
//! writes each decision in one transaction before answering.

pub mod agents;
pub mod app;
pub mod auth;
pub mod backup;
pub mod config;
pub mod crypto;
pub mod db;
pub mod engine;
pub mod error;
pub mod extract;
pub mod files;
pub mod group_commit;
pub mod heavy;
pub mod html;
pub mod ids;
pub mod notify;
pub mod operator_tokens;
pub mod outbound;
pub mod payments;
pub mod progress;
pub mod providers;
pub mod reconciliation;
pub mod records;
pub mod repo;
pub mod routes;
pub mod secrets;
pub mod server;
pub mod snapshot;
pub mod spreadsheet;
pub mod state;
pub mod storage;
pub mod upload;
pub mod vendor;
#[cfg(feature = "dashboard")]
pub mod web;

pub use app::app;
pub mod demo;
