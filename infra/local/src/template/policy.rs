//! A function's `Policies` as IAM statements: the template's own statements as written, and the
//! SAM policy templates it uses expanded as SAM expands them, so the local stack can hold each
//! call to an action *and* a resource, as IAM does.

use serde_yaml_ng::Value;

use super::{R, TemplateError, get};

/// One `Allow` statement: its actions (`service:Action`, wildcards as written) and its
/// resources, unresolved (the resolver gives them their local ARNs).
#[derive(Debug, Clone)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Vec<Value>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => vec![],
    }
}

fn values(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Sequence(s)) => s.clone(),
        Some(one) => vec![one.clone()],
        None => vec![],
    }
}

fn tagged(tag: &str, value: Value) -> Value {
    Value::Tagged(Box::new(serde_yaml_ng::value::TaggedValue {
        tag: serde_yaml_ng::value::Tag::new(tag),
        value,
    }))
}

/// `arn:${AWS::Partition}:<service>:${AWS::Region}:${AWS::AccountId}:<rest>` with `rest` an
/// expression of the template (a `!GetAtt`, a `!Ref`), as SAM's templates write their ARNs.
fn regional_arn(service: &str, rest: Value) -> Value {
    let pseudo = |p: &str| tagged("!Ref", Value::String(p.to_owned()));
    tagged(
        "!Join",
        Value::Sequence(vec![
            Value::String(String::new()),
            Value::Sequence(vec![
                Value::String("arn:".into()),
                pseudo("AWS::Partition"),
                Value::String(format!(":{service}:")),
                pseudo("AWS::Region"),
                Value::String(":".into()),
                pseudo("AWS::AccountId"),
                Value::String(":".into()),
                rest,
            ]),
        ]),
    )
}

/// The statement a SAM policy template this template uses expands to (from SAM's
/// `policy_templates.json`); any other template is an error, so a new one needs its
/// expansion here before the local stack runs.
fn sam_template(name: &str, params: &Value) -> R<Statement> {
    let param = |key: &str| {
        get(params, key).cloned().ok_or_else(|| {
            TemplateError::Shape(format!("SAM policy template {name} without {key}"))
        })
    };
    match name {
        "SQSSendMessagePolicy" => Ok(Statement {
            actions: vec!["sqs:SendMessage*".into()],
            resources: vec![regional_arn("sqs", param("QueueName")?)],
        }),
        "AWSSecretsManagerGetSecretValuePolicy" => Ok(Statement {
            actions: vec!["secretsmanager:GetSecretValue".into()],
            resources: vec![param("SecretArn")?],
        }),
        _ => Err(TemplateError::Shape(format!(
            "SAM policy template {name} is not known locally"
        ))),
    }
}

/// Every statement of the function's `Policies`: its own, and its SAM policy templates'.
pub fn statements(props: &Value) -> R<Vec<Statement>> {
    let mut out = Vec::new();
    let policies = get(props, "Policies").and_then(Value::as_sequence);
    for policy in policies.into_iter().flatten() {
        let Some(map) = policy.as_mapping() else {
            return Err(TemplateError::Shape(format!(
                "a policy the local stack cannot read: {policy:?}"
            )));
        };
        for (key, body) in map {
            let key = key.as_str().unwrap_or_default();
            if key != "Statement" {
                out.push(sam_template(key, body)?);
                continue;
            }
            for st in body.as_sequence().into_iter().flatten() {
                if get(st, "Effect").and_then(Value::as_str) != Some("Allow") {
                    return Err(TemplateError::Shape(format!(
                        "only Allow statements are read locally: {st:?}"
                    )));
                }
                out.push(Statement {
                    actions: strings(get(st, "Action")),
                    resources: values(get(st, "Resource")),
                });
            }
        }
    }
    Ok(out)
}
