//! Meta's messaging window, as pure functions of the last inbound time and the clock.
//!
//! - Standard window: 24 h after the person's last message; replies go out as `RESPONSE`.
//! - From 24 h to 7 days: only a human agent's reply, only if the account enabled Meta's Human
//!   Agent feature, tagged `MESSAGE_TAG` + `HUMAN_AGENT`.
//! - After that: closed.

use serde::{Deserialize, Serialize};

use crate::clock::{DAY_MS, HOUR_MS};

pub const STANDARD_MS: i64 = 24 * HOUR_MS;
pub const HUMAN_AGENT_MS: i64 = 7 * DAY_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    Open,
    HumanAgent,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub state: WindowState,
    /// When the standard window closes (or closed).
    pub closes_at: Option<i64>,
    /// When the Human Agent period ends (only when the account enabled it).
    pub human_agent_until: Option<i64>,
}

/// The window at `now` for a conversation whose person last wrote at `last_inbound_at`.
/// The boundary instant belongs to the later state: at exactly 24 h the window is closed.
pub fn window_at(last_inbound_at: Option<i64>, human_agent_enabled: bool, now: i64) -> Window {
    let Some(last) = last_inbound_at else {
        return Window {
            state: WindowState::Closed,
            closes_at: None,
            human_agent_until: None,
        };
    };
    let closes_at = last + STANDARD_MS;
    let human_agent_until = human_agent_enabled.then_some(last + HUMAN_AGENT_MS);
    let state = if now < closes_at {
        WindowState::Open
    } else if human_agent_until.is_some_and(|until| now < until) {
        WindowState::HumanAgent
    } else {
        WindowState::Closed
    };
    Window {
        state,
        closes_at: Some(closes_at),
        human_agent_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        let t = 1_000_000;
        assert_eq!(
            window_at(Some(t), false, t + STANDARD_MS - 1).state,
            WindowState::Open
        );
        assert_eq!(
            window_at(Some(t), false, t + STANDARD_MS).state,
            WindowState::Closed
        );
        assert_eq!(
            window_at(Some(t), true, t + STANDARD_MS).state,
            WindowState::HumanAgent
        );
        assert_eq!(
            window_at(Some(t), true, t + HUMAN_AGENT_MS - 1).state,
            WindowState::HumanAgent
        );
        assert_eq!(
            window_at(Some(t), true, t + HUMAN_AGENT_MS).state,
            WindowState::Closed
        );
        assert_eq!(window_at(None, true, t).state, WindowState::Closed);
        assert_eq!(window_at(Some(t), false, t).human_agent_until, None);
    }
}
