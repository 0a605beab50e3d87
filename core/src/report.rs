//! Reports (domain.md §7); filled next.
