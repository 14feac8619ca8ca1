//! # airisk
//!
//! Classify AI applications by risk grade (分类分级) and monitor them at run time, raising
//! graded early warnings (blue / yellow / orange / red) with the emergency response each one
//! calls for — technology monitoring, risk early warning and emergency response
//! (技术监测 · 风险预警 · 应急响应) as Article 47 of the seed regulation asks.
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
//! reproducible. See `DESIGN.md`-derived docs on each module: [`policy`], [`mod@classify`],
//! [`window`], [`rule`], [`engine`], [`response`], and the C ABI in `include/airisk.h`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod classify;
pub mod engine;
mod error;
pub mod ffi;
pub mod journal;
mod json;
pub mod level;
pub mod policy;
pub mod replay;
pub mod response;
pub mod rule;
pub mod snapshot;
pub mod window;

pub use classify::{Classification, Factor, FactorKind, FloorHit, Profile, classify};
pub use engine::{Engine, EngineOptions, SignalId, Sink, Stats, SystemHandle};
pub use error::{Error, Issue, Result};
pub use level::{Action, Actions, Level};
pub use policy::{DEFAULT_POLICY_JSON, Policy};
pub use response::{Scope, Transition};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
