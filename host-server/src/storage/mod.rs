//! The storage layer: typed rows and the queries that read and write them. Handlers call the functions
//! here; SQL text and column names stay inside.

pub mod agent_sync;
pub mod agents;
pub mod api_keys;
pub mod appliance_types;
pub mod audit;
pub mod batched;
pub mod column;
pub mod customers;
pub mod devices;
pub mod imports;
pub mod lookups;
pub mod notifications;
pub mod opening_balances;
pub mod page;
pub mod payments;
pub mod reconciliations;
pub mod registry;
pub mod sqlite_writer;
pub mod statements;
pub mod store;
pub mod tokens;
