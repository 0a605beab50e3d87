//! The storage layer: typed rows and the queries that read and write them. Handlers call the functions
//! here; SQL text and column names stay inside.

pub mod column;
pub mod payments;
pub mod sqlite_writer;
pub mod store;
pub mod tokens;
