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

/// The standard window is open at `now` exactly for a last inbound time after this instant:
/// what a storage condition (`last_inbound_at > :since`) checks in place of [`window_at`].
pub const fn standard_open_after(now: i64) -> i64 {
    now - STANDARD_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_condition_and_the_window_agree_at_the_boundary() {
        let now = 5_000_000_000;
        let since = standard_open_after(now);
        for last in [since - 1, since, since + 1, now] {
            for human_agent in [false, true] {
                assert_eq!(
                    window_at(Some(last), human_agent, now).state == WindowState::Open,
                    last > since,
                    "last {last}, since {since}"
                );
            }
        }
    }

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

/// Window events the scheduler emits for one person's last message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `window.expiring`, this many minutes before the standard window closes.
    Warn(i64),
    /// `window.closed`: the standard 24 h window closed.
    Closed,
    /// `window.human_agent_ended`: the 7-day Human Agent period ended.
    HumanAgentEnded,
}

impl Mark {
    /// The name stored on the conversation once the mark is handled.
    pub fn key(self) -> String {
        match self {
            Mark::Warn(m) => format!("warn{m}"),
            Mark::Closed => "closed".into(),
            Mark::HumanAgentEnded => "ha_end".into(),
        }
    }

    pub fn at(self, last_inbound: i64) -> i64 {
        match self {
            Mark::Warn(m) => last_inbound + STANDARD_MS - m * crate::clock::MINUTE_MS,
            Mark::Closed => last_inbound + STANDARD_MS,
            Mark::HumanAgentEnded => last_inbound + HUMAN_AGENT_MS,
        }
    }
}

pub const DEFAULT_WARNINGS_MIN: [i64; 2] = [60, 15];

/// Every mark of a window, in time order.
pub fn marks(warn_minutes: &[i64], human_agent_enabled: bool) -> Vec<Mark> {
    let mut v: Vec<Mark> = warn_minutes
        .iter()
        .copied()
        .filter(|m| *m > 0)
        .map(Mark::Warn)
        .collect();
    v.push(Mark::Closed);
    if human_agent_enabled {
        v.push(Mark::HumanAgentEnded);
    }
    v.sort_by_key(|m| m.at(0));
    v.dedup();
    v
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Marks whose time has come: `(mark, emit)`. A warning whose window already closed is
    /// recorded without an event (a late run must not warn about the past).
    pub now: Vec<(Mark, bool)>,
    /// When the next mark falls due, if any.
    pub next_at: Option<i64>,
}

/// What the scheduler does at `now` for a window opened by `last_inbound`, given the marks
/// already handled. Pure, so every boundary is testable with an injected clock.
pub fn due(
    last_inbound: i64,
    warn_minutes: &[i64],
    human_agent_enabled: bool,
    done: &[String],
    now: i64,
) -> Due {
    let close = last_inbound + STANDARD_MS;
    let mut out = Due {
        now: vec![],
        next_at: None,
    };
    for m in marks(warn_minutes, human_agent_enabled) {
        if done.contains(&m.key()) {
            continue;
        }
        let at = m.at(last_inbound);
        if at <= now {
            let emit = match m {
                Mark::Warn(_) => now < close,
                _ => true,
            };
            out.now.push((m, emit));
        } else if out.next_at.is_none() {
            out.next_at = Some(at);
        }
    }
    out
}

#[cfg(test)]
mod schedule_tests {
    use super::*;
    use crate::clock::MINUTE_MS;

    const T: i64 = 1_700_000_000_000;

    fn keys(d: &Due) -> Vec<(String, bool)> {
        d.now.iter().map(|(m, e)| (m.key(), *e)).collect()
    }

    #[test]
    fn each_boundary_just_before_at_and_after() {
        let w = DEFAULT_WARNINGS_MIN;
        let warn60 = T + STANDARD_MS - 60 * MINUTE_MS;
        assert_eq!(
            due(T, &w, false, &[], warn60 - 1),
            Due {
                now: vec![],
                next_at: Some(warn60)
            }
        );
        assert_eq!(
            keys(&due(T, &w, false, &[], warn60)),
            [("warn60".into(), true)]
        );
        let done = vec!["warn60".to_owned()];
        let warn15 = T + STANDARD_MS - 15 * MINUTE_MS;
        assert_eq!(due(T, &w, false, &done, warn60 + 1).next_at, Some(warn15));
        let done = vec!["warn60".to_owned(), "warn15".to_owned()];
        assert_eq!(due(T, &w, false, &done, T + STANDARD_MS - 1).now, vec![]);
        assert_eq!(
            keys(&due(T, &w, false, &done, T + STANDARD_MS)),
            [("closed".into(), true)]
        );
        let all = vec![
            "warn60".to_owned(),
            "warn15".to_owned(),
            "closed".to_owned(),
        ];
        assert_eq!(
            due(T, &w, false, &all, T + STANDARD_MS + 1),
            Due {
                now: vec![],
                next_at: None
            }
        );
        // With Human Agent on, the 7-day end is the last mark.
        assert_eq!(
            due(T, &w, true, &all, T + HUMAN_AGENT_MS - 1),
            Due {
                now: vec![],
                next_at: Some(T + HUMAN_AGENT_MS)
            }
        );
        assert_eq!(
            keys(&due(T, &w, true, &all, T + HUMAN_AGENT_MS)),
            [("ha_end".into(), true)]
        );
    }

    #[test]
    fn a_late_run_closes_without_warning_about_the_past() {
        let d = due(
            T,
            &DEFAULT_WARNINGS_MIN,
            true,
            &[],
            T + STANDARD_MS + 5 * MINUTE_MS,
        );
        assert_eq!(
            keys(&d),
            [
                ("warn60".into(), false),
                ("warn15".into(), false),
                ("closed".into(), true)
            ]
        );
        assert_eq!(d.next_at, Some(T + HUMAN_AGENT_MS));
        // Late by a few minutes but before the close: both warnings still go out, once each.
        let d = due(
            T,
            &DEFAULT_WARNINGS_MIN,
            false,
            &[],
            T + STANDARD_MS - 10 * MINUTE_MS,
        );
        assert_eq!(keys(&d), [("warn60".into(), true), ("warn15".into(), true)]);
    }

    #[test]
    fn a_repeated_run_does_nothing_new() {
        let all: Vec<String> = marks(&DEFAULT_WARNINGS_MIN, true)
            .iter()
            .map(|m| m.key())
            .collect();
        assert_eq!(
            due(
                T,
                &DEFAULT_WARNINGS_MIN,
                true,
                &all,
                T + 30 * 24 * 3_600_000
            ),
            Due {
                now: vec![],
                next_at: None
            }
        );
    }
}
