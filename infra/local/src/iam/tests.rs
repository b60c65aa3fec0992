//! The local IAM check's matching, against requests as the SDK clients send them.

use super::*;

fn grant(actions: &[&str], resources: &[&str]) -> Grant {
    Grant {
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        resources: resources.iter().map(|r| (*r).to_owned()).collect(),
    }
}

#[test]
fn actions_match_as_iam_matches_them() {
    assert!(action_matches("sqs:SendMessage*", "sqs:SendMessage"));
    assert!(action_matches("SQS:sendmessage*", "sqs:SendMessage"));
    assert!(!action_matches("sqs:SendMessage*", "sqs:ReceiveMessage"));
    assert!(action_matches("s3:*", "s3:PutObject"));
    assert!(!action_matches("s3:PutObject", "s3:GetObject"));
    assert!(action_matches("dynamodb:?etItem", "dynamodb:GetItem"));
}

#[test]
fn each_request_names_the_resource_iam_judges() {
    let t = table_arn("s-Table");
    let tx = br#"{"TransactItems": [{"Put": {"TableName": "s-Table"}}, {"ConditionCheck": {"TableName": "other"}}]}"#;
    assert_eq!(
        request_grants("dynamodb", "TransactWriteItems", "http://x/", tx),
        [
            ("dynamodb:PutItem".to_owned(), t.clone()),
            ("dynamodb:ConditionCheckItem".to_owned(), table_arn("other")),
        ]
    );
    assert_eq!(
        request_grants(
            "dynamodb",
            "Query",
            "http://x/",
            br#"{"TableName": "s-Table", "IndexName": "due"}"#
        ),
        [("dynamodb:Query".to_owned(), format!("{t}/index/due"))]
    );
    assert_eq!(
        request_grants(
            "dynamodb",
            "BatchGetItem",
            "http://x/",
            br#"{"RequestItems": {"s-Table": {}}}"#
        ),
        [("dynamodb:BatchGetItem".to_owned(), t)]
    );
    assert_eq!(
        request_grants(
            "sqs",
            "SendMessageBatch",
            "http://x/",
            br#"{"QueueUrl": "http://127.0.0.1:5000/000000000000/s-Outbound.fifo"}"#
        ),
        [("sqs:SendMessage".to_owned(), queue_arn("s-Outbound.fifo"))]
    );
    assert_eq!(
        request_grants(
            "s3",
            "HeadObject",
            "http://127.0.0.1:5000/b/media/a/x.jpg?x-id=1",
            b""
        ),
        [(
            "s3:GetObject".to_owned(),
            "arn:aws:s3:::b/media/a/x.jpg".to_owned()
        )]
    );
    assert_eq!(
        request_grants(
            "secretsmanager",
            "GetSecretValue",
            "http://x/",
            br#"{"SecretId": "s/page-token/1"}"#
        ),
        [(
            "secretsmanager:GetSecretValue".to_owned(),
            format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:s/page-token/1")
        )]
    );
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s/AppSecret-AbCdEf";
    assert_eq!(
        request_grants(
            "secretsmanager",
            "CreateSecret",
            "http://x/",
            br#"{"Name": "s/page-token/2"}"#
        )[0]
        .1,
        secret_arn("s/page-token/2")
    );
    assert_eq!(secret_arn(arn), arn);
}

/// The action alone is not enough: a grant on `media/*` does not reach `uploads/`, a grant on
/// one queue not another, a table's grant not another table.
#[test]
fn a_call_is_allowed_only_on_the_resources_its_statement_names() {
    let grants = [
        grant(&["s3:PutObject"], &["arn:aws:s3:::b/media/*"]),
        grant(&["sqs:SendMessage*"], &[&queue_arn("s-Outbound.fifo")]),
        grant(
            &["dynamodb:GetItem", "dynamodb:Query"],
            &[
                &table_arn("s-Table"),
                &format!("{}/index/*", table_arn("s-Table")),
            ],
        ),
    ];
    assert!(allows(&grants, "s3:PutObject", "arn:aws:s3:::b/media/a/x"));
    assert!(!allows(
        &grants,
        "s3:PutObject",
        "arn:aws:s3:::b/uploads/a/x"
    ));
    assert!(!allows(&grants, "s3:GetObject", "arn:aws:s3:::b/media/a/x"));
    assert!(allows(
        &grants,
        "sqs:SendMessage",
        &queue_arn("s-Outbound.fifo")
    ));
    assert!(!allows(
        &grants,
        "sqs:SendMessage",
        &queue_arn("s-Inbound.fifo")
    ));
    assert!(allows(
        &grants,
        "dynamodb:Query",
        &format!("{}/index/due", table_arn("s-Table"))
    ));
    assert!(!allows(&grants, "dynamodb:GetItem", &table_arn("s-Other")));
    // ARNs are matched case-sensitively, as IAM does.
    assert!(!allows(&grants, "s3:PutObject", "arn:aws:s3:::b/MEDIA/a/x"));
}
