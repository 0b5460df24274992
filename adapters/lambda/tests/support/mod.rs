//! Test doubles of AWS services.

pub mod runtime_api;
