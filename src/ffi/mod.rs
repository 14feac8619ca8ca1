//! The C ABI (`include/airisk.h`, generated from this module by cbindgen). Only C-facing
//! functions and types live here; Rust users want [`crate::Engine`] instead.
//!
//! Conventions (see the header for each function's contract):
//! - every fallible function returns an [`airisk_status`] (`AIRISK_OK` = 0, errors are
//!   positive, frozen numbers) and writes results through out-pointers, only on success;
//! - every pointer argument is checked: NULL gives `AIRISK_ERR_NULL`, never a crash;
//! - strings go in as pointer + length (UTF-8, no NUL needed; invalid UTF-8 gives
//!   `AIRISK_ERR_UTF8`) and come out NUL-terminated, owned by the engine, valid until
//!   `airisk_engine_free`;
//! - no panic crosses the boundary (`AIRISK_ERR_PANIC`);
//! - the detail of a thread's last failure is read with [`airisk_last_error`];
//! - every function may be called from many threads at once on the same engine, except
//!   [`airisk_engine_free`].
#![allow(non_camel_case_types)]

mod api;
mod boundary;
mod metrics;
mod reload;
mod status;
mod strings;
mod types;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_reload;

pub use api::*;
pub use metrics::airisk_metrics;
pub use reload::*;
pub use status::{
    AIRISK_ERR_BUFFER, AIRISK_ERR_DUPLICATE, AIRISK_ERR_INTERNAL, AIRISK_ERR_INVALID_ARGUMENT,
    AIRISK_ERR_IO, AIRISK_ERR_JSON, AIRISK_ERR_LIMIT, AIRISK_ERR_NOT_DUE, AIRISK_ERR_NULL,
    AIRISK_ERR_PANIC, AIRISK_ERR_POLICY, AIRISK_ERR_PROFILE, AIRISK_ERR_PROHIBITED,
    AIRISK_ERR_RELOAD, AIRISK_ERR_SILENCE, AIRISK_ERR_STALE, AIRISK_ERR_STATE,
    AIRISK_ERR_UNKNOWN_INCIDENT, AIRISK_ERR_UNKNOWN_SIGNAL, AIRISK_ERR_UNKNOWN_SYSTEM,
    AIRISK_ERR_UTF8, AIRISK_ERR_VALUE, AIRISK_OK, airisk_status,
};
pub use types::*;
