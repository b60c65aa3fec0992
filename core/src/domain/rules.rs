//! Routing rules and the choices made from them, without I/O: which rule a new conversation
//! matches, which agent round robin or load balancing picks, and which agents a rule change
//! removed. The store applies the choice with conditional writes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::vocab::{Channel, RoutingMethod};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnAgentRemoved {
    /// The removed agent's open conversations from this rule go to the rule's other agents.
    Reassign,
    /// They go back to the unassigned pool.
    #[default]
    Unassign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HoursMatch {
    Inside,
    Outside,
    #[default]
    Any,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleMatch {
    #[serde(default)]
    pub pages: Vec<String>,
    #[serde(default)]
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub business_hours: HoursMatch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    pub name: String,
    #[serde(default, rename = "match")]
    pub matches: RuleMatch,
    #[serde(default)]
    pub agents: Vec<String>,
    pub method: RoutingMethod,
    #[serde(default)]
    pub on_agent_removed: OnAgentRemoved,
    /// Labels the conversations the rule matches are given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// What is known about a conversation when it is routed.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub page_id: &'a str,
    pub channel: Channel,
    /// The person's words so far (the first message when a conversation opens).
    pub text: &'a str,
    pub inside_hours: bool,
}

pub const MAX_RULES: usize = 100;

/// The rules as an agent who works only `pages` may see them: those of every Page, and those
/// naming one of theirs with the other Pages left out. A rule of Pages they do not work (an
/// admin's `only_me` rule among them) says nothing to them and is not shown.
pub fn visible_to(rules: &[RoutingRule], pages: &[String]) -> Vec<RoutingRule> {
    rules
        .iter()
        .filter_map(|r| {
            if r.matches.pages.is_empty() {
                return Some(r.clone());
            }
            let mut seen = r.clone();
            seen.matches.pages.retain(|p| pages.contains(p));
            (!seen.matches.pages.is_empty()).then_some(seen)
        })
        .collect()
}

impl RoutingRule {
    /// An empty or missing match field matches everything.
    pub fn matches(&self, f: &Facts<'_>) -> bool {
        let m = &self.matches;
        let page = m.pages.is_empty() || m.pages.iter().any(|p| p == f.page_id);
        let channel = m.channels.is_empty() || m.channels.contains(&f.channel);
        let keyword = m.keywords.is_empty() || {
            let text = f.text.to_lowercase();
            m.keywords.iter().any(|k| text.contains(&k.to_lowercase()))
        };
        let hours = match m.business_hours {
            HoursMatch::Any => true,
            HoursMatch::Inside => f.inside_hours,
            HoursMatch::Outside => !f.inside_hours,
        };
        page && channel && keyword && hours
    }
}

/// Rules are evaluated in order; the first that matches decides.
pub fn first_match<'r>(rules: &'r [RoutingRule], f: &Facts<'_>) -> Option<&'r RoutingRule> {
    rules.iter().find(|r| r.matches(f))
}

/// Reads `{"rules": [...]}`; every problem is listed with the rule it is in.
pub fn parse_rules(body: &Value) -> Result<Vec<RoutingRule>, Vec<String>> {
    let Some(list) = body.get("rules").and_then(Value::as_array) else {
        return Err(vec!["rules: a list of routing rules".into()]);
    };
    let mut problems = Vec::new();
    if list.len() > MAX_RULES {
        problems.push(format!("rules: at most {MAX_RULES}"));
    }
    let mut rules = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        // Unknown channels are reported with the rule's other problems, not as the one serde
        // error that would hide them.
        let mut v = v.clone();
        let mut unknown_channels = Vec::new();
        if let Some(list) = v
            .get_mut("match")
            .and_then(|m| m.get_mut("channels"))
            .and_then(Value::as_array_mut)
        {
            list.retain(|c| match c.as_str() {
                Some(name) if Channel::parse(name).is_none() => {
                    unknown_channels.push(name.to_owned());
                    false
                }
                _ => true,
            });
        }
        let rule: RoutingRule = match serde_json::from_value(v) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("rules[{i}]: {e}"));
                continue;
            }
        };
        let at = format!("rules[{i}] ({})", rule.name);
        if rule.name.trim().is_empty() || rule.name.chars().count() > 100 {
            problems.push(format!("rules[{i}].name: 1 to 100 characters"));
        } else if rules.iter().any(|r: &RoutingRule| r.name == rule.name) {
            problems.push(format!("{at}.name: names must be unique"));
        }
        for c in &unknown_channels {
            problems.push(format!(
                "{at}.match.channels: {c:?} is not {}",
                Channel::expected()
            ));
        }
        if let Err(p) = crate::domain::workday::labels(&rule.labels, &format!("{at}.labels")) {
            problems.extend(p);
        }
        if rule.matches.keywords.iter().any(|k| k.trim().is_empty()) {
            problems.push(format!("{at}.match.keywords: empty keyword"));
        }
        if rule.agents.iter().any(|a| a.trim().is_empty()) {
            problems.push(format!("{at}.agents: empty agent id"));
        }
        let mut seen = std::collections::HashSet::new();
        if !rule.agents.iter().all(|a| seen.insert(a)) {
            problems.push(format!("{at}.agents: an agent is listed twice"));
        }
        // Exhaustive: a new method says here how many agents it names.
        match rule.method {
            RoutingMethod::Owner => {
                if rule.agents.len() != 1 {
                    problems.push(format!("{at}: method owner names exactly one agent"))
                }
            }
            RoutingMethod::RoundRobin | RoutingMethod::LoadBalanced => {
                if rule.agents.is_empty() {
                    problems.push(format!("{at}: {:?} needs at least one agent", rule.method))
                }
            }
            RoutingMethod::Claim => {}
        }
        rules.push(rule);
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

/// An agent as routing sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub online: bool,
    pub load: i64,
    pub max_concurrent: Option<i64>,
    pub last_assigned_at: i64,
}

impl Candidate<'_> {
    pub fn available(&self) -> bool {
        self.online && self.max_concurrent.is_none_or(|m| self.load < m)
    }
}

/// Round robin: the `ticket`th turn (tickets count from 1, one atomic counter per rule) among
/// the available agents, in the rule's order. Concurrent routers draw different tickets, so
/// turns are even however many run at once.
pub fn round_robin<'a>(available: &[&'a str], ticket: u64) -> Option<&'a str> {
    if available.is_empty() {
        return None;
    }
    let i = (ticket.saturating_sub(1) % available.len() as u64) as usize;
    Some(available[i])
}

/// Load balanced: the available agent with the fewest open conversations; among equals, the
/// one who waited longest since their last assignment, then the rule's order.
pub fn least_loaded<'a>(candidates: &[Candidate<'a>]) -> Option<&'a str> {
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.available())
        .min_by_key(|(i, c)| (c.load, c.last_assigned_at, *i))
        .map(|(_, c)| c.id)
}

/// An agent taken out of a rule by a change of the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub rule: String,
    pub agent: String,
    pub policy: OnAgentRemoved,
}

/// Agents that were in a rule and are not any more (a deleted rule removes all of its agents).
/// The policy is the rule's new one, or its last one when the rule was deleted.
pub fn removed_agents(old: &[RoutingRule], new: &[RoutingRule]) -> Vec<Removal> {
    let mut out = Vec::new();
    for o in old {
        let n = new.iter().find(|n| n.name == o.name);
        for a in &o.agents {
            if n.is_some_and(|n| n.agents.contains(a)) {
                continue;
            }
            out.push(Removal {
                rule: o.name.clone(),
                agent: a.clone(),
                policy: n.map_or(o.on_agent_removed, |n| n.on_agent_removed),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_agent_sees_the_rules_of_their_pages_and_of_every_page_only() {
        let rules = parse_rules(&json!({"rules": [
            {"name": "all", "method": "round_robin", "agents": ["a"]},
            {"name": "mine", "match": {"pages": ["p1", "p2"]}, "method": "round_robin", "agents": ["a"]},
            {"name": "private", "match": {"pages": ["p9"]}, "method": "owner", "agents": ["boss"]},
        ]}))
        .expect("valid rules");
        let seen = visible_to(&rules, &["p1".to_owned()]);
        let names: Vec<&str> = seen.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["all", "mine"]);
        assert_eq!(seen[1].matches.pages, ["p1"], "the other Page is left out");
        assert_eq!(visible_to(&rules, &[]).len(), 1);
    }

    fn facts<'a>(page: &'a str, channel: &str, text: &'a str, inside: bool) -> Facts<'a> {
        Facts {
            page_id: page,
            channel: Channel::parse(channel).unwrap(),
            text,
            inside_hours: inside,
        }
    }

    #[test]
    fn rules_match_in_order_and_empty_fields_match_all() {
        let rules = parse_rules(&json!({"rules": [
            {"name": "refunds", "match": {"keywords": ["Refund"], "channels": ["messenger"]}, "agents": ["a"], "method": "owner"},
            {"name": "night", "match": {"business_hours": "outside"}, "method": "claim"},
            {"name": "page2", "match": {"pages": ["2"]}, "agents": ["b", "c"], "method": "round_robin"},
            {"name": "rest", "agents": ["d"], "method": "load_balanced", "on_agent_removed": "reassign"}
        ]}))
        .unwrap();
        let name = |f: Facts<'_>| first_match(&rules, &f).map(|r| r.name.clone());
        assert_eq!(
            name(facts("1", "messenger", "I want a REFUND now", true)).as_deref(),
            Some("refunds")
        );
        assert_eq!(
            name(facts("1", "comment", "refund", true)).as_deref(),
            Some("rest")
        );
        assert_eq!(
            name(facts("2", "messenger", "hello", false)).as_deref(),
            Some("night")
        );
        assert_eq!(
            name(facts("2", "lead", "hello", true)).as_deref(),
            Some("page2")
        );
        assert_eq!(rules[3].on_agent_removed, OnAgentRemoved::Reassign);
        assert_eq!(rules[0].on_agent_removed, OnAgentRemoved::Unassign);
        assert_eq!(first_match(&[], &facts("1", "messenger", "", true)), None);
    }

    #[test]
    fn bad_rules_are_all_listed() {
        let e = parse_rules(&json!({"rules": [
            {"name": "", "method": "claim"},
            {"name": "x", "method": "owner", "agents": ["a", "b"]},
            {"name": "x", "method": "round_robin", "match": {"channels": ["sms"]}},
            {"name": "y", "method": "teleport"},
            {"name": "z", "method": "claim", "match": {"colour": "red"}},
            {"name": "w", "method": "load_balanced", "agents": ["a", "a"]}
        ]}))
        .unwrap_err();
        assert_eq!(e.len(), 8, "{e:#?}");
        assert!(parse_rules(&json!({"rules": []})).unwrap().is_empty());
        assert!(parse_rules(&json!({})).is_err());
    }

    #[test]
    fn round_robin_turns_are_even_for_any_ticket_sequence() {
        let agents = ["a", "b", "c"];
        let mut counts = std::collections::HashMap::new();
        for t in 1..=100 {
            *counts.entry(round_robin(&agents, t).unwrap()).or_insert(0) += 1;
        }
        assert_eq!((counts["a"], counts["b"], counts["c"]), (34, 33, 33));
        assert_eq!(round_robin(&[], 1), None);
    }

    #[test]
    fn least_loaded_respects_maximums_and_breaks_ties_by_waiting_time() {
        let c = |id, online, load, max, last| Candidate {
            id,
            online,
            load,
            max_concurrent: max,
            last_assigned_at: last,
        };
        let list = [
            c("a", true, 2, Some(2), 0),
            c("b", true, 1, None, 50),
            c("c", true, 1, Some(3), 10),
            c("d", false, 0, None, 0),
        ];
        assert_eq!(least_loaded(&list), Some("c"));
        assert_eq!(least_loaded(&list[..1]), None, "at their maximum");
        assert_eq!(least_loaded(&list[3..]), None, "offline");
    }

    #[test]
    fn removals_follow_the_rule_policy_and_deleted_rules() {
        let old = parse_rules(&json!({"rules": [
            {"name": "a", "agents": ["x", "y"], "method": "round_robin", "on_agent_removed": "reassign"},
            {"name": "b", "agents": ["z"], "method": "owner"}
        ]}))
        .unwrap();
        let new = parse_rules(&json!({"rules": [
            {"name": "a", "agents": ["y"], "method": "round_robin", "on_agent_removed": "reassign"}
        ]}))
        .unwrap();
        assert_eq!(
            removed_agents(&old, &new),
            vec![
                Removal {
                    rule: "a".into(),
                    agent: "x".into(),
                    policy: OnAgentRemoved::Reassign
                },
                Removal {
                    rule: "b".into(),
                    agent: "z".into(),
                    policy: OnAgentRemoved::Unassign
                },
            ]
        );
    }
}
