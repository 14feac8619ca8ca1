//! Responses (应急响应): the actions and reporting deadline a warning level calls for.
//!
//! `responses.levels` gives one [`Response`] per warning level; `responses.overrides`
//! replaces it for one category at one level. A transition to `none` carries no actions.

use crate::level::{Actions, Level};
use serde::Serialize;

/// Actions and reporting deadline for a level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Response {
    /// Actions (bits).
    pub actions: Actions,
    /// Deadline to report to the regulator, in seconds.
    pub report_within_s: Option<i64>,
}

/// A category-specific response.
#[derive(Debug, Clone, Serialize)]
pub struct Override {
    /// Category index.
    pub category: u32,
    /// Level it applies to.
    pub level: Level,
    /// The response.
    pub response: Response,
}

/// The response plan (`responses`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Responses {
    /// Per level, blue to red.
    pub levels: [Response; 4],
    /// Category overrides.
    pub overrides: Vec<Override>,
}

impl Responses {
    /// The response a transition to `level` in `category` carries: the level's response,
    /// replaced by an override whose category and level match; nothing for `none`.
    pub fn for_level(&self, level: Level, category: Option<u32>) -> Response {
        let Some(slot) = level.slot() else {
            return Response::default();
        };
        if let Some(c) = category {
            if let Some(o) = self
                .overrides
                .iter()
                .find(|o| o.category == c && o.level == level)
            {
                return o.response;
            }
        }
        self.levels[slot]
    }
}
