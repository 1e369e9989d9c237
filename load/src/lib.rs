//! Natter's load tool as a library: the scenarios, the reference server and the report, so
//! that the smoke test runs the very code the `natter-load` binary runs.

pub mod chart;
pub mod client;
pub mod corpus;
pub mod reference;
pub mod report;
pub mod scenarios;
pub mod target;
