//! Warning levels and response actions.

use serde::{Deserialize, Serialize};

/// A warning level (预警级别), ordered `None < Blue < Yellow < Orange < Red`.
///
/// Blue is level IV (一般), yellow III (较大), orange II (重大), red I (特别重大), following
/// the four-colour scheme of the PRC Emergency Response Law. The numeric values are those of
/// the C ABI's `airisk_level`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Level {
    /// No warning.
    #[default]
    None = 0,
    /// Level IV (一般).
    Blue = 1,
    /// Level III (较大).
    Yellow = 2,
    /// Level II (重大).
    Orange = 3,
    /// Level I (特别重大).
    Red = 4,
}

impl Level {
    /// All levels, lowest first.
    pub const ALL: [Level; 5] = [
        Level::None,
        Level::Blue,
        Level::Yellow,
        Level::Orange,
        Level::Red,
    ];
    /// The four warning levels (threshold order), lowest first.
    pub const WARNINGS: [Level; 4] = [Level::Blue, Level::Yellow, Level::Orange, Level::Red];

    /// The level's name as used in JSON: `none`, `blue`, `yellow`, `orange`, `red`.
    pub const fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Blue => "blue",
            Level::Yellow => "yellow",
            Level::Orange => "orange",
            Level::Red => "red",
        }
    }

    /// Parses a level name (`none`, `blue`, ...).
    pub fn from_name(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == s)
    }

    /// The level with this number (0 = none ... 4 = red).
    pub const fn from_u8(v: u8) -> Option<Level> {
        match v {
            0 => Some(Level::None),
            1 => Some(Level::Blue),
            2 => Some(Level::Yellow),
            3 => Some(Level::Orange),
            4 => Some(Level::Red),
            _ => None,
        }
    }

    /// Index into a four-entry threshold array (blue = 0); `None` for [`Level::None`].
    pub(crate) const fn slot(self) -> Option<usize> {
        match self {
            Level::None => None,
            l => Some(l as usize - 1),
        }
    }

    /// The level `n` steps higher, capped at red.
    pub fn raised(self, n: u32) -> Level {
        let v = (self as u32).saturating_add(n).min(4);
        Level::from_u8(v as u8).unwrap_or(Level::Red)
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One response action. The discriminant is its bit in [`Actions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum Action {
    /// Record the event.
    Log = 1,
    /// Tell the system's operator.
    NotifyOperator = 2,
    /// Put decisions under human review.
    HumanReview = 4,
    /// Reduce the system's throughput.
    Throttle = 8,
    /// Switch to a fallback (non-AI or safer) path.
    Fallback = 16,
    /// Suspend the system.
    Suspend = 32,
    /// Report to the regulator within `report_within_s`.
    ReportRegulator = 64,
    /// Inform the public.
    PublicNotice = 128,
}

impl Action {
    /// All actions in bit order.
    pub const ALL: [Action; 8] = [
        Action::Log,
        Action::NotifyOperator,
        Action::HumanReview,
        Action::Throttle,
        Action::Fallback,
        Action::Suspend,
        Action::ReportRegulator,
        Action::PublicNotice,
    ];

    /// The action's JSON name (`notify_operator`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Action::Log => "log",
            Action::NotifyOperator => "notify_operator",
            Action::HumanReview => "human_review",
            Action::Throttle => "throttle",
            Action::Fallback => "fallback",
            Action::Suspend => "suspend",
            Action::ReportRegulator => "report_regulator",
            Action::PublicNotice => "public_notice",
        }
    }

    /// Parses an action name.
    pub fn from_name(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// A set of actions as bits (`log` = 1 ... `public_notice` = 128), as in the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Actions(pub u32);

impl Actions {
    /// No action.
    pub const EMPTY: Actions = Actions(0);

    /// Whether `a` is in the set.
    pub const fn contains(self, a: Action) -> bool {
        self.0 & (a as u32) != 0
    }

    /// The actions in bit order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Action> for Actions {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> Self {
        Actions(iter.into_iter().fold(0, |b, a| b | a as u32))
    }
}

impl Serialize for Actions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Actions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<Action> = Vec::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}
