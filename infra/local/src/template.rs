//! Reads `template.yaml` so that the local stack is built from the same definitions as the
//! cloud one: the table's keys and indexes, the queues with their redrive policies, each
//! function's environment, HTTP routes, function URL CORS and SQS event sources.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template.yaml: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
}

type R<T> = Result<T, TemplateError>;

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: BTreeMap<String, String>,
    /// The template's `Conditions`, evaluated by the resolver's `!If` as CloudFormation would.
    pub conditions: BTreeMap<String, Value>,
    pub global_env: BTreeMap<String, Value>,
    pub table: TableDef,
    pub queues: Vec<QueueDef>,
    pub secrets: Vec<String>,
    /// Logical ids of S3 buckets.
    pub buckets: Vec<String>,
    pub functions: Vec<FunctionDef>,
}

#[derive(Debug, Clone)]
pub struct TableDef {
    pub logical_id: String,
    pub properties: Value,
}

#[derive(Debug, Clone)]
pub struct QueueDef {
    pub logical_id: String,
    pub fifo: bool,
    pub content_dedupe: bool,
    pub visibility_timeout: i32,
    /// Seconds every message waits before it can be received (`DelaySeconds`).
    pub delay_seconds: i32,
    /// (DLQ logical id, maxReceiveCount)
    pub redrive: Option<(String, u32)>,
}

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    pub env: BTreeMap<String, Value>,
    pub timeout: Option<i64>,
    pub http_routes: Vec<(String, String)>,
    pub function_url: Option<Cors>,
    pub sqs: Vec<SqsSource>,
    /// DynamoDB stream sources (the table's stream is the only one).
    pub streams: Vec<StreamSource>,
    pub schedules: Vec<String>,
    /// Its policies' statements, SAM policy templates expanded.
    pub policy: Vec<policy::Statement>,
}

impl FunctionDef {
    /// Every IAM action its policies allow (`service:Action`, wildcards as written).
    pub fn actions(&self) -> std::collections::BTreeSet<String> {
        self.policy
            .iter()
            .flat_map(|s| s.actions.iter().cloned())
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub allow_origins: Vec<Value>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub max_age: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SqsSource {
    pub queue: String,
    pub batch_size: i32,
    pub report_failures: bool,
    /// `ScalingConfig.MaximumConcurrency`: how many invocations Lambda runs at once for it.
    pub max_concurrency: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct StreamSource {
    pub batch_size: i32,
    /// `FilterCriteria.Filters[].Pattern`, parsed: a record passes if any matches.
    pub filters: Vec<serde_json::Value>,
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

fn str_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The logical id a `!GetAtt X.Arn` / `!Ref X` names.
pub fn referenced_id(v: &Value) -> Option<String> {
    let Value::Tagged(t) = v else { return None };
    match (t.tag.to_string().as_str(), &t.value) {
        ("!Ref", Value::String(s)) => Some(s.clone()),
        ("!GetAtt", Value::String(s)) => s.split('.').next().map(str::to_owned),
        ("!GetAtt", Value::Sequence(seq)) => str_of(seq.first()),
        _ => None,
    }
}

fn env_of(props: Option<&Value>) -> BTreeMap<String, Value> {
    let vars = props
        .and_then(|p| get(p, "Environment"))
        .and_then(|e| get(e, "Variables"));
    vars.and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn parse(text: &str) -> R<Template> {
    let root: Value = serde_yaml_ng::from_str(text)?;
    let resources = get(&root, "Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| TemplateError::Shape("no Resources".into()))?;
    let parameters = get(&root, "Parameters")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.as_str()?.to_owned(),
                        str_of(get(v, "Default")).unwrap_or_default(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let conditions = get(&root, "Conditions")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
                .collect()
        })
        .unwrap_or_default();
    let global_env = env_of(get(&root, "Globals").and_then(|g| get(g, "Function")));

    let mut table = None;
    let mut queues = Vec::new();
    let mut secrets = Vec::new();
    let mut buckets = Vec::new();
    let mut functions = Vec::new();
    for (k, res) in resources {
        let Some(id) = k.as_str() else { continue };
        let kind = str_of(get(res, "Type")).unwrap_or_default();
        let props = get(res, "Properties").cloned().unwrap_or(Value::Null);
        match kind.as_str() {
            "AWS::DynamoDB::Table" => {
                table = Some(TableDef {
                    logical_id: id.to_owned(),
                    properties: props,
                })
            }
            "AWS::SQS::Queue" => {
                let redrive = match get(&props, "RedrivePolicy") {
                    None => None,
                    Some(r) => {
                        let dlq = get(r, "deadLetterTargetArn")
                            .and_then(referenced_id)
                            .ok_or_else(|| shape(id, "RedrivePolicy.deadLetterTargetArn"))?;
                        let max = get(r, "maxReceiveCount")
                            .and_then(Value::as_u64)
                            .ok_or_else(|| shape(id, "RedrivePolicy.maxReceiveCount"))?;
                        Some((dlq, max as u32))
                    }
                };
                queues.push(QueueDef {
                    logical_id: id.to_owned(),
                    fifo: get(&props, "FifoQueue")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    content_dedupe: get(&props, "ContentBasedDeduplication")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    // SQS's own default when absent; a value the stack cannot read is an error.
                    visibility_timeout: number_or(&props, "VisibilityTimeout", 30, id)? as i32,
                    delay_seconds: number_or(&props, "DelaySeconds", 0, id)? as i32,
                    redrive,
                });
            }
            "AWS::SecretsManager::Secret" => secrets.push(id.to_owned()),
            "AWS::S3::Bucket" => buckets.push(id.to_owned()),
            "AWS::Serverless::Function" => functions.push(function(id, &props)?),
            _ => {}
        }
    }
    let table = table.ok_or_else(|| TemplateError::Shape("no AWS::DynamoDB::Table".into()))?;
    Ok(Template {
        parameters,
        conditions,
        global_env,
        table,
        queues,
        secrets,
        buckets,
        functions,
    })
}

/// An integer property: `default` (the service's own) when absent, an error when present but
/// not a number the local stack can read (an intrinsic, a string).
fn number_or(props: &Value, key: &str, default: i64, id: &str) -> R<i64> {
    match get(props, key) {
        None => Ok(default),
        Some(v) => v.as_i64().ok_or_else(|| shape(id, key)),
    }
}

fn shape(id: &str, what: &str) -> TemplateError {
    TemplateError::Shape(format!("{id}: cannot read {what}"))
}

fn function(id: &str, props: &Value) -> R<FunctionDef> {
    let mut f = FunctionDef {
        logical_id: id.to_owned(),
        env: env_of(Some(props)),
        timeout: match get(props, "Timeout") {
            None => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| shape(id, "Timeout"))?),
        },
        http_routes: vec![],
        function_url: None,
        sqs: vec![],
        streams: vec![],
        schedules: vec![],
        policy: policy::statements(props)?,
    };
    if let Some(url) = get(props, "FunctionUrlConfig") {
        let cors = get(url, "Cors");
        let list = |k: &str| -> Vec<Value> {
            cors.and_then(|c| get(c, k))
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default()
        };
        let strings = |k: &str| {
            list(k)
                .iter()
                .filter_map(|v| str_of(Some(v)))
                .collect::<Vec<_>>()
        };
        f.function_url = Some(Cors {
            allow_origins: list("AllowOrigins"),
            allow_methods: strings("AllowMethods"),
            allow_headers: strings("AllowHeaders"),
            max_age: cors.and_then(|c| get(c, "MaxAge")).and_then(Value::as_i64),
        });
    }
    if let Some(events) = get(props, "Events").and_then(Value::as_mapping) {
        for (_, ev) in events {
            let kind = str_of(get(ev, "Type")).unwrap_or_default();
            let p = get(ev, "Properties");
            match kind.as_str() {
                "HttpApi" | "Api" => {
                    let path = str_of(p.and_then(|p| get(p, "Path"))).unwrap_or_default();
                    let method = str_of(p.and_then(|p| get(p, "Method")))
                        .unwrap_or_default()
                        .to_uppercase();
                    f.http_routes.push((method, path));
                }
                "SQS" => {
                    let queue = p
                        .and_then(|p| get(p, "Queue"))
                        .and_then(referenced_id)
                        .ok_or_else(|| shape(id, "an SQS event's Queue"))?;
                    let report_failures = p
                        .and_then(|p| get(p, "FunctionResponseTypes"))
                        .and_then(Value::as_sequence)
                        .is_some_and(|s| {
                            s.iter()
                                .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
                        });
                    f.sqs.push(SqsSource {
                        queue,
                        // Lambda's default for SQS sources when absent.
                        batch_size: number_or(p.unwrap_or(&Value::Null), "BatchSize", 10, id)?
                            as i32,
                        report_failures,
                        max_concurrency: p
                            .and_then(|p| get(p, "ScalingConfig"))
                            .and_then(|c| get(c, "MaximumConcurrency"))
                            .map(|v| v.as_i64().ok_or_else(|| shape(id, "MaximumConcurrency")))
                            .transpose()?,
                    });
                }
                "DynamoDB" => {
                    let mut filters = Vec::new();
                    for f in p
                        .and_then(|p| get(p, "FilterCriteria"))
                        .and_then(|c| get(c, "Filters"))
                        .and_then(Value::as_sequence)
                        .into_iter()
                        .flatten()
                    {
                        let pattern = str_of(get(f, "Pattern"))
                            .ok_or_else(|| shape(id, "a filter's Pattern (a JSON string)"))?;
                        filters.push(
                            serde_json::from_str(&pattern)
                                .map_err(|_| shape(id, "a filter's Pattern (a JSON string)"))?,
                        );
                    }
                    f.streams.push(StreamSource {
                        // Lambda's default for stream sources when absent.
                        batch_size: number_or(p.unwrap_or(&Value::Null), "BatchSize", 100, id)?
                            as i32,
                        filters,
                    });
                }
                "Schedule" | "ScheduleV2" => {
                    let expr = p
                        .and_then(|p| get(p, "Schedule").or_else(|| get(p, "ScheduleExpression")))
                        .and_then(|v| str_of(Some(v)))
                        .unwrap_or_default();
                    f.schedules.push(expr);
                }
                _ => {}
            }
        }
    }
    Ok(f)
}

/// What the local stack substitutes for CloudFormation references.
pub struct Resolver<'a> {
    pub stack: &'a str,
    pub refs: &'a BTreeMap<String, String>,
    /// `!GetAtt` values by `Resource.Attribute` (`Table.Arn`, `Queue.QueueName`).
    pub attrs: &'a BTreeMap<String, String>,
    pub parameters: &'a BTreeMap<String, String>,
    pub conditions: &'a BTreeMap<String, Value>,
}

impl Resolver<'_> {
    /// The value CloudFormation would give `v`; an error for what the local stack cannot
    /// resolve (an intrinsic it does not know, a name that is neither a resource nor a
    /// parameter), so a template change that needs support here fails loudly instead of
    /// leaving a variable out.
    pub fn resolve(&self, v: &Value) -> R<String> {
        let unresolved = |what: String| TemplateError::Shape(format!("cannot resolve {what}"));
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Tagged(t) => match (t.tag.to_string().as_str(), &t.value) {
                ("!Ref", Value::String(name)) => self
                    .name(name)
                    .ok_or_else(|| unresolved(format!("!Ref {name}"))),
                ("!GetAtt", _) => {
                    let name = match &t.value {
                        Value::String(s) => s.clone(),
                        Value::Sequence(parts) => parts
                            .iter()
                            .map(|p| self.resolve(p))
                            .collect::<R<Vec<_>>>()?
                            .join("."),
                        other => return Err(unresolved(format!("!GetAtt {other:?}"))),
                    };
                    self.attrs
                        .get(&name)
                        .cloned()
                        .ok_or_else(|| unresolved(format!("!GetAtt {name}")))
                }
                ("!Join", Value::Sequence(args)) => match args.as_slice() {
                    [sep, Value::Sequence(parts)] => Ok(parts
                        .iter()
                        .map(|p| self.resolve(p))
                        .collect::<R<Vec<_>>>()?
                        .join(&self.resolve(sep)?)),
                    _ => Err(unresolved("!Join (not [separator, [parts]])".into())),
                },
                ("!Sub", Value::String(s)) => self.substitute(s),
                // Only the branch the condition picks is resolved, as CloudFormation does.
                ("!If", Value::Sequence(args)) => match args.as_slice() {
                    [Value::String(name), then, otherwise] => {
                        if self.condition(name)? {
                            self.resolve(then)
                        } else {
                            self.resolve(otherwise)
                        }
                    }
                    _ => Err(unresolved("!If (not [name, then, else])".into())),
                },
                (tag, _) => Err(unresolved(format!("{tag} (not supported locally)"))),
            },
            other => Err(unresolved(format!("{other:?}"))),
        }
    }

    /// The template condition `name`, with the local parameters.
    fn condition(&self, name: &str) -> R<bool> {
        let c = self
            .conditions
            .get(name)
            .ok_or_else(|| TemplateError::Shape(format!("cannot resolve condition {name}")))?;
        self.holds(c)
    }

    /// A condition function: `!Equals`, `!Not`, `!And`, `!Or`, `!Condition`.
    fn holds(&self, v: &Value) -> R<bool> {
        let unknown = || TemplateError::Shape(format!("cannot evaluate condition {v:?}"));
        let Value::Tagged(t) = v else {
            return Err(unknown());
        };
        let args = || t.value.as_sequence().ok_or_else(unknown);
        match t.tag.to_string().as_str() {
            "!Equals" => match args()?.as_slice() {
                [a, b] => Ok(self.resolve(a)? == self.resolve(b)?),
                _ => Err(unknown()),
            },
            "!Not" => match args()?.as_slice() {
                [c] => Ok(!self.holds(c)?),
                _ => Err(unknown()),
            },
            "!And" => args()?
                .iter()
                .try_fold(true, |all, c| Ok(all && self.holds(c)?)),
            "!Or" => args()?
                .iter()
                .try_fold(false, |any, c| Ok(any || self.holds(c)?)),
            "!Condition" => match &t.value {
                Value::String(name) => self.condition(name),
                _ => Err(unknown()),
            },
            _ => Err(unknown()),
        }
    }

    /// A resource's local name, a parameter's value, a pseudo parameter's local value, or (as
    /// `!Sub` writes them) a resource's attribute.
    fn name(&self, name: &str) -> Option<String> {
        let pseudo = match name {
            "AWS::StackName" => Some(self.stack),
            "AWS::Region" => Some(crate::iam::REGION),
            "AWS::AccountId" => Some(crate::iam::ACCOUNT),
            "AWS::Partition" => Some("aws"),
            "AWS::URLSuffix" => Some("amazonaws.com"),
            _ => None,
        };
        pseudo
            .map(str::to_owned)
            .or_else(|| self.refs.get(name).cloned())
            .or_else(|| self.parameters.get(name).cloned())
            .or_else(|| self.attrs.get(name).cloned())
    }

    fn substitute(&self, s: &str) -> R<String> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| TemplateError::Shape(format!("!Sub {s:?}: unclosed ${{")))?;
            let name = &rest[start + 2..start + end];
            let value = self.name(name).ok_or_else(|| {
                TemplateError::Shape(format!("!Sub {s:?}: cannot resolve {name}"))
            })?;
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

pub mod policy;

#[cfg(test)]
mod tests;
