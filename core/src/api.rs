//! The public facade.
