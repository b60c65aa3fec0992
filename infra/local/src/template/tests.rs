//! The template reader against made-up templates and the repository's own `template.yaml`.

use super::*;

const TABLE: &str = "  T:\n    Type: AWS::DynamoDB::Table\n";

#[test]
fn what_the_local_stack_cannot_resolve_is_an_error_not_a_gap() {
    let refs = BTreeMap::from([("Queue".to_owned(), "q-url".to_owned())]);
    let parameters = BTreeMap::from([("Name".to_owned(), "pagedesk".to_owned())]);
    let conditions = BTreeMap::from([
        (
            "Named".to_owned(),
            serde_yaml_ng::from_str::<Value>("!Equals [!Ref Name, pagedesk]").expect("yaml"),
        ),
        (
            "Either".to_owned(),
            serde_yaml_ng::from_str::<Value>("!Or [!Not [!Condition Named], !Equals [a, a]]")
                .expect("yaml"),
        ),
    ]);
    let attrs = BTreeMap::from([("Queue.Arn".to_owned(), "q-arn".to_owned())]);
    let r = Resolver {
        stack: "s",
        refs: &refs,
        attrs: &attrs,
        parameters: &parameters,
        conditions: &conditions,
    };
    let yaml = |t: &str| serde_yaml_ng::from_str::<Value>(t).expect("yaml");
    assert_eq!(
        r.resolve(&yaml("!Ref Queue")).ok().as_deref(),
        Some("q-url")
    );
    assert_eq!(
        r.resolve(&yaml("!Sub '${AWS::StackName}/${Name}/x'"))
            .ok()
            .as_deref(),
        Some("s/pagedesk/x")
    );
    // `!If` resolves the branch its condition picks, and only that one.
    assert_eq!(
        r.resolve(&yaml("!If [Named, !Ref Queue, !GetAtt Nowhere.Arn]"))
            .ok()
            .as_deref(),
        Some("q-url")
    );
    assert_eq!(
        r.resolve(&yaml("!If [Either, yes, no]")).ok().as_deref(),
        Some("yes")
    );
    assert_eq!(
        r.resolve(&yaml(
            "!Join ['', [!GetAtt Queue.Arn, '/', !Sub '${Queue.Arn}']]"
        ))
        .ok()
        .as_deref(),
        Some("q-arn/q-arn")
    );
    for unknown in [
        "!Ref Missing",
        "!GetAtt Queue.Url",
        "!Sub '${Missing}/x'",
        "!Sub '${Name'",
        "!If [NoSuchCondition, a, b]",
        "!If [Named, a]",
    ] {
        assert!(r.resolve(&yaml(unknown)).is_err(), "{unknown}");
    }
}

#[test]
fn a_queue_or_source_setting_it_cannot_read_is_refused_and_an_absent_one_is_awss_default() {
    let queue = |extra: &str| {
        format!("Resources:\n{TABLE}  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n{extra}")
    };
    let t = parse(&queue("      FifoQueue: true\n")).expect("parses");
    assert_eq!(t.queues[0].visibility_timeout, 30);
    assert!(parse(&queue("      VisibilityTimeout: !Ref Vis\n")).is_err());
    assert!(parse(&queue("      RedrivePolicy:\n        maxReceiveCount: 5\n")).is_err());
    let source = |batch: &str| {
        format!(
            "Resources:\n{TABLE}  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        In:\n          Type: SQS\n          Properties:\n            Queue: !GetAtt Q.Arn\n{batch}"
        )
    };
    assert_eq!(
        parse(&source("")).expect("parses").functions[0].sqs[0].batch_size,
        10
    );
    assert!(parse(&source("            BatchSize: !Ref Size\n")).is_err());
}

/// No function may delete what it has no reason to: `BatchWriteItem` carries deletes as
/// well as puts (IAM cannot grant its puts alone), so no policy has it, and only the two
/// that forget Pages (the agent API, and Meta's deauthorize callback) have `DeleteItem`.
#[test]
fn no_policy_grants_a_delete_its_function_does_not_make() {
    let text = include_str!("../../../../template.yaml");
    let t = parse(text).expect("the template parses");
    assert!(t.functions.len() >= 6, "every function was read");
    for f in &t.functions {
        let actions = f.actions();
        assert!(
            !actions.contains("dynamodb:BatchWriteItem"),
            "{} may BatchWriteItem",
            f.logical_id
        );
        assert_eq!(
            actions.contains("dynamodb:DeleteItem"),
            ["AgentApiFunction", "MetaCallbacksFunction"].contains(&f.logical_id.as_str()),
            "{}: DeleteItem",
            f.logical_id
        );
    }
}

/// Where the template hosts the inbox, the agent API and the data bucket allow the
/// inbox's origin unless told otherwise; `*` only when it hosts none (before: `*` always).
#[test]
fn browsers_are_allowed_the_hosted_inboxs_origin_by_default() {
    let text = include_str!("../../../../template.yaml");
    let t = parse(text).expect("the template parses");
    let root: Value = serde_yaml_ng::from_str(text).expect("yaml");
    let bucket_origins = get(&root, "Resources")
        .and_then(|r| get(r, "DataBucket"))
        .and_then(|b| get(b, "Properties"))
        .and_then(|p| get(p, "CorsConfiguration"))
        .and_then(|c| get(c, "CorsRules"))
        .and_then(Value::as_sequence)
        .and_then(|rules| rules.first())
        .and_then(|rule| get(rule, "AllowedOrigins"))
        .and_then(Value::as_sequence)
        .cloned()
        .expect("the data bucket's CORS origins");
    let api_origins = t
        .functions
        .iter()
        .find(|f| f.logical_id == "AgentApiFunction")
        .and_then(|f| f.function_url.clone())
        .expect("the agent API's function URL")
        .allow_origins;
    let refs = BTreeMap::new();
    let attrs = BTreeMap::from([(
        "InboxDistribution.DomainName".to_owned(),
        "d1.cloudfront.net".to_owned(),
    )]);
    for (hosting, given, want) in [
        ("cloudfront", "", "https://d1.cloudfront.net"),
        ("none", "", "*"),
        ("cloudfront", "https://help.example", "https://help.example"),
        ("none", "https://help.example", "https://help.example"),
    ] {
        let mut parameters = t.parameters.clone();
        parameters.insert("InboxHosting".into(), hosting.into());
        parameters.insert("CorsAllowOrigin".into(), given.into());
        let r = Resolver {
            stack: "s",
            refs: &refs,
            attrs: &attrs,
            parameters: &parameters,
            conditions: &t.conditions,
        };
        for origins in [&api_origins, &bucket_origins] {
            let resolved: Vec<String> = origins
                .iter()
                .map(|o| r.resolve(o).expect("resolves"))
                .collect();
            assert_eq!(resolved, [want], "{hosting}, {given:?}");
        }
    }
}
