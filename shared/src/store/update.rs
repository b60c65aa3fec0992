//! Update expressions built clause by clause, each clause with the values its placeholders
//! need bound where it is added: no caller joins strings another file wrote, or binds a
//! placeholder another function chose. A placeholder bound twice must be bound to the same
//! value (two clauses meaning the same time), else building fails.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};

use super::s;
use crate::domain::ConversationStatus;
use crate::{Error, Result};

#[derive(Debug, Default, Clone)]
pub(crate) struct UpdateExpr {
    set: Vec<String>,
    remove: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    conflict: Option<String>,
}

impl UpdateExpr {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// `SET` clause (`attr = :placeholder`, `attr = if_not_exists(attr, :p)`, …).
    pub(crate) fn set(&mut self, clause: impl Into<String>) -> &mut Self {
        self.set.push(clause.into());
        self
    }

    /// `REMOVE` of an attribute.
    pub(crate) fn remove(&mut self, attr: impl Into<String>) -> &mut Self {
        self.remove.push(attr.into());
        self
    }

    /// One more condition, joined to the others with `AND`.
    pub(crate) fn condition(&mut self, c: impl Into<String>) -> &mut Self {
        self.conditions.push(c.into());
        self
    }

    /// `#placeholder` for an attribute name (reserved words such as `status`).
    pub(crate) fn name(&mut self, placeholder: &str, attr: &str) -> &mut Self {
        self.names.insert(placeholder.to_owned(), attr.to_owned());
        self
    }

    /// `:placeholder`'s value.
    pub(crate) fn value(&mut self, placeholder: &str, v: AttributeValue) -> &mut Self {
        match self.values.get(placeholder) {
            Some(old) if *old != v => {
                self.conflict = Some(placeholder.to_owned());
            }
            _ => {
                self.values.insert(placeholder.to_owned(), v);
            }
        }
        self
    }

    /// `SET a, b REMOVE c`.
    pub(crate) fn expression(&self) -> String {
        let mut expr = String::new();
        if !self.set.is_empty() {
            expr.push_str("SET ");
            expr.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            if !expr.is_empty() {
                expr.push(' ');
            }
            expr.push_str("REMOVE ");
            expr.push_str(&self.remove.join(", "));
        }
        expr
    }

    /// `SET #attr = :attr` for each field that has a value (absent ones are left as stored).
    pub(crate) fn set_present(&mut self, fields: &[(&str, &Option<String>)]) -> &mut Self {
        for (attr, value) in fields {
            if let Some(v) = value {
                self.set(format!("#{attr} = :{attr}"))
                    .name(&format!("#{attr}"), attr)
                    .value(&format!(":{attr}"), s(v));
            }
        }
        self
    }

    /// The conversation's `status` is one of `statuses` (`#st = :st_open`, or
    /// `#st IN (:st_open, :st_snoozed)`).
    pub(crate) fn status_in(&mut self, statuses: &[ConversationStatus]) -> &mut Self {
        let (condition, values) = status_condition(statuses);
        self.condition(condition).name("#st", "status");
        for (p, v) in values {
            self.value(&p, v);
        }
        self
    }

    /// `SET attr = :p` with `v`, or `REMOVE attr` when there is none.
    pub(crate) fn set_or_remove(
        &mut self,
        attr: &str,
        placeholder: &str,
        v: Option<AttributeValue>,
    ) -> &mut Self {
        match v {
            Some(v) => self
                .set(format!("{attr} = {placeholder}"))
                .value(placeholder, v),
            None => self.remove(attr),
        }
    }

    /// The update of the item at (`pk`, `sk`) of `table`, in a transaction's shape (the store
    /// sends it alone with `Store::update_item`).
    pub(crate) fn build(self, table: &str, pk: &str, sk: &str) -> Result<Update> {
        if let Some(p) = self.conflict {
            return Err(Error::Invalid(format!(
                "update expression: {p} bound to two values"
            )));
        }
        let expression = self.expression();
        let condition = (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "));
        Update::builder()
            .table_name(table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .build()
            .map_err(|e| Error::dynamo("UpdateItem", e))
    }
}

/// A condition that the conversation's `status` (named `#st`) is one of `statuses`, and the
/// values of its placeholders, for the builders that take a condition whole.
pub(crate) fn status_condition(
    statuses: &[ConversationStatus],
) -> (String, Vec<(String, AttributeValue)>) {
    let values: Vec<(String, AttributeValue)> = statuses
        .iter()
        .map(|st| (format!(":st_{st}"), s(st.as_str())))
        .collect();
    let names: Vec<&str> = values.iter().map(|(p, _)| p.as_str()).collect();
    let condition = match names.as_slice() {
        [one] => format!("#st = {one}"),
        many => format!("#st IN ({})", many.join(", ")),
    };
    (condition, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::n;

    #[test]
    fn clauses_join_and_values_bind_once() {
        let mut u = UpdateExpr::new();
        u.set("a = :t")
            .value(":t", n(1))
            .remove("marks")
            .set("b = :t")
            .value(":t", n(1))
            .condition("attribute_exists(pk)")
            .condition("#st = :open")
            .name("#st", "status")
            .value(":open", s("open"));
        assert_eq!(u.expression(), "SET a = :t, b = :t REMOVE marks");
        let built = u.build("t", "P", "S").expect("builds");
        assert_eq!(
            built.condition_expression(),
            Some("attribute_exists(pk) AND #st = :open")
        );
        assert_eq!(
            built.expression_attribute_values().map(HashMap::len),
            Some(2)
        );
    }

    #[test]
    fn a_placeholder_bound_to_two_values_is_refused() {
        let mut u = UpdateExpr::new();
        u.set("a = :t")
            .value(":t", n(1))
            .set("b = :t")
            .value(":t", n(2));
        assert!(u.build("t", "P", "S").is_err());
    }
}
