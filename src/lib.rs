//! # airisk
//!
//! Classify AI applications by risk grade (分类分级) and monitor them at run time, raising
//! graded early warnings (blue / yellow / orange / red) with the emergency response each one
//! calls for — technology monitoring, risk early warning and emergency response
//! (技术监测 · 风险预警 · 应急响应) as Article 47 of the Suzhou draft AI regulation asks.
//!
//! ```
//! use airisk::{Engine, Policy, Profile};
//!
//! let engine = Engine::new(Policy::default_policy());
//! let bot = engine.register(Profile::from_json(r#"{"id": "triage-bot", "sector": "healthcare_clinical",
//!     "data": "sensitive_personal", "autonomy": "human_on_the_loop", "users": 50000}"#)?)?;
//! let interactions = engine.signal("interactions").unwrap();
//! let level = engine.observe(bot, interactions, 1.0, 1_764_374_400_000)?;
//! assert_eq!(level, airisk::Level::None);
//! # Ok::<(), airisk::Error>(())
//! ```
//!
//! The engine never reads the clock: time is what the caller says, so every run is
//! reproducible and a recorded log replays to the same warnings.
//!
//! - [`Policy`] (and the [`policy`] module): the configuration document and its model.
//! - [`classify()`]: grading a [`Profile`], with the explanation.
//! - [`Engine`]: registering systems, observing signals, ticking the clock, draining
//!   [`Transition`]s; snapshots and the audit [`journal`].
//! - [`replay`]: event logs (JSON Lines) and their replay through an engine.
//! - [`ffi`]: the C ABI (`include/airisk.h`); for C and C++ callers only.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod classify;
mod detector;
mod engine;
mod error;
pub mod ffi;
mod handle;
mod hash;
mod incident;
pub mod journal;
mod json;
mod layout;
mod level;
mod metrics;
pub mod policy;
mod reload;
pub mod replay;
mod response;
mod rule;
mod silence;
mod snapshot;
mod system;
mod transition;
mod window;

pub use classify::{
    Classification, Factor, FactorKind, FloorHit, MAX_PROFILE_BYTES, MAX_PROFILE_LIST, Profile,
    ProfileBuilder, ProhibitedHit, classify, profile_issues, suggest,
};
pub use engine::{Engine, EngineOptions, IncidentSink, MAX_SYSTEMS, Sink, Stats};
pub use error::{Error, Issue, Result};
pub use handle::{SignalId, SystemHandle};
pub use hash::fnv1a;
pub use incident::{
    Acknowledgement, Due, DueKind, FiledReport, HistoryEntry, Incident, IncidentEvent,
    IncidentEventKind, IncidentState, Owed, ReportKind,
};
pub use journal::Durability;
pub use level::{Action, Actions, Level};
pub use policy::{DEFAULT_POLICY_JSON, Policy};
pub use reload::{ProfileProblem, Regraded, ReloadReport, RuleReset};
pub use response::{Override, Response, Responses};
pub use silence::{Inhibit, Silence};
pub use snapshot::SNAPSHOT_VERSION;
pub use transition::{Scope, Transition};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
