//! What an agent's tools cost (issue 27): a note, a label change, a contact search, the label
//! counts.

use super::*;

/// The body of the `i`-th request of a case.
type BodyOf = Box<dyn Fn(u64) -> Value>;

pub async fn workday(stack: &Stack, clients: &pagedesk_shared::adapters::aws::Clients) {
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let user = format!("7{}", unique());
    stack
        .post_webhook(&post(&t.page_id, &user, "warm-up"))
        .await;
    let conv = stack.single_conversation(&t, 1).await.0;
    let id = conv["id"].as_str().unwrap_or_default().to_owned();
    drained(stack, clients).await;
    let n = 20u64;
    let cases: [(&str, &str, BodyOf); 2] = [
        (
            "POST /conversations/{id}/notes",
            "notes",
            Box::new(|i| json!({"text": format!("note {i} for @nobody")})),
        ),
        (
            "PUT /conversations/{id}/labels (two labels)",
            "labels",
            Box::new(|i| json!({"labels": ["vip", format!("l{}", i % 3)]})),
        ),
    ];
    for (what, path, body) in &cases {
        let method = if *path == "notes" { "POST" } else { "PUT" };
        let before = counts(stack).await;
        let cap_before = capacity(stack).await;
        for i in 0..n {
            let (s, v) = stack
                .api(
                    method,
                    &format!("/conversations/{id}/{path}"),
                    Some(&admin),
                    Some(body(i)),
                )
                .await;
            assert!(s == 200 || s == 201, "{what}: {s} {v}");
        }
        let after = counts(stack).await;
        let cap_after = capacity(stack).await;
        println!("aws  requests per {what} ({n}):");
        print_capacity(&cap_before, &cap_after, n);
        print_requests_where(&before, &after, n, |k| k.starts_with("dynamodb"));
    }
    let name = conv["contact"]["name"]
        .as_str()
        .unwrap_or("Test Person")
        .to_owned();
    let word = name.split_whitespace().next().unwrap_or("Test").to_owned();
    let before = counts(stack).await;
    let cap_before = capacity(stack).await;
    for _ in 0..n {
        let (s, v) = stack
            .api("GET", &format!("/contacts?q={word}"), Some(&admin), None)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let after = counts(stack).await;
    let cap_after = capacity(stack).await;
    println!("aws  requests per GET /contacts?q=<a name word> by an admin ({n}):");
    print_capacity(&cap_before, &cap_after, n);
    print_requests_where(&before, &after, n, |k| k.starts_with("dynamodb"));
    let before = counts(stack).await;
    let cap_before = capacity(stack).await;
    for _ in 0..n {
        let (s, v) = stack.api("GET", "/labels", Some(&admin), None).await;
        assert_eq!(s, 200, "{v}");
    }
    let after = counts(stack).await;
    let cap_after = capacity(stack).await;
    println!("aws  requests per GET /labels, one labelled open conversation in the account ({n}):");
    print_capacity(&cap_before, &cap_after, n);
    print_requests_where(&before, &after, n, |k| k.starts_with("dynamodb"));
}
