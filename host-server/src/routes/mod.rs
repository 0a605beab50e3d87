//! The HTTP API (http-api.md): one file per part of the contract.

pub mod agent_sync;
pub mod agents;
pub mod appliance_types;
pub mod audit;
pub mod bulk_tokens;
pub mod devices;
pub mod export;
pub mod imports;
pub mod payments;
pub mod plans;
pub mod receipts;
pub mod reconciliations;
pub mod registrations;
pub mod registry;
pub mod reports;
pub mod statements;
pub mod system;
pub mod tariffs;
