//! Contact search (issue 27) on a table holding 10,000 contacts of one account: by a word of
//! the name (its start, case and accents ignored), email, phone and Facebook id, each one
//! Query and one BatchGetItem whatever the table's size (the requests are printed).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use pagedesk_e2e::{Stack, now_ms, text_event, unique};
use pagedesk_shared::adapters::auth::Role;
use pagedesk_shared::domain::search::contact_terms;
use serde_json::{Value, json};

const CONTACTS: usize = 10_000;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A contact as the router stores it, and its search rows, as raw items.
fn contact_items(
    account: &str,
    page: &str,
    i: usize,
    name: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> Vec<BTreeMap<String, AttributeValue>> {
    let fb = format!("{}", 7_000_000_000u64 + i as u64);
    let id = format!("ct_{page}_{fb}");
    let terms = contact_terms(&[Some(name)], email, phone, &fb);
    let mut contact: BTreeMap<String, AttributeValue> = [
        ("pk", s(format!("ACC#{account}"))),
        ("sk", s(format!("CONTACT#{id}"))),
        ("account", s(account)),
        ("id", s(&id)),
        ("page_id", s(page)),
        ("facebook_id", s(&fb)),
        ("name", s(name)),
        ("profile_status", s("fetched")),
        ("created_at", AttributeValue::N("1".into())),
        ("updated_at", AttributeValue::N("1".into())),
        ("search_terms", AttributeValue::Ss(terms.clone())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in [("email", email), ("phone", phone)] {
        if let Some(v) = v {
            contact.insert(k.into(), s(v));
        }
    }
    let mut out = vec![contact];
    for t in terms {
        out.push(
            [
                ("pk".to_owned(), s(format!("ACC#{account}#SEARCH"))),
                ("sk".to_owned(), s(format!("{t}#{id}"))),
                ("contact_id".to_owned(), s(&id)),
            ]
            .into(),
        );
    }
    out
}

/// The agent API's DynamoDB requests so far, by operation (the local host's meter).
async fn dynamo_requests(stack: &Stack) -> BTreeMap<String, u64> {
    let url = stack
        .s("webhook_url")
        .replace("/webhook", "/_local/aws-requests");
    let all: BTreeMap<String, u64> = stack
        .http
        .get(url)
        .send()
        .await
        .expect("meter")
        .json()
        .await
        .expect("meter json");
    all.into_iter()
        .filter(|(k, _)| k.starts_with("dynamodb"))
        .collect()
}

#[tokio::test]
async fn search_finds_by_each_field_among_ten_thousand_contacts_without_a_scan() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let surnames = [
        "Novák", "Smith", "Nguyễn", "García", "Kowalski", "Müller", "Rossi", "Tanaka",
    ];
    let mut items: Vec<BTreeMap<String, AttributeValue>> = Vec::new();
    for i in 0..CONTACTS {
        let name = format!("Person{i} {}", surnames[i % surnames.len()]);
        // The first has an email and a phone, as a lead's contact does.
        let (email, phone) = if i == 0 {
            (Some("Lead.Person@Example.org"), Some("+1 (415) 555-0100"))
        } else {
            (None, None)
        };
        items.extend(contact_items(
            &t.account, &t.page_id, i, &name, email, phone,
        ));
    }
    let dynamo = stack.clients().await.dynamo();
    let table = stack.s("table");
    let started = std::time::Instant::now();
    let batches: Vec<Vec<WriteRequest>> = items
        .chunks(25)
        .map(|c| {
            c.iter()
                .map(|i| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(i.clone().into_iter().collect()))
                                .build()
                                .expect("put"),
                        )
                        .build()
                })
                .collect()
        })
        .collect();
    let writes = futures::stream::iter(batches.into_iter().map(|b| {
        let (dynamo, table) = (dynamo.clone(), table.clone());
        async move {
            let mut pending = Some(b);
            while let Some(reqs) = pending.take().filter(|r| !r.is_empty()) {
                let out = dynamo
                    .batch_write_item()
                    .request_items(&table, reqs)
                    .send()
                    .await
                    .expect("seed batch");
                pending = out.unprocessed_items.and_then(|mut m| m.remove(&table));
            }
        }
    }));
    use futures::StreamExt;
    writes.buffer_unordered(8).collect::<Vec<()>>().await;
    eprintln!(
        "search: seeded {CONTACTS} contacts ({} items) in {:.1} s",
        items.len(),
        started.elapsed().as_secs_f64()
    );

    // The one to find, as the router makes it: a person who writes, then a lead's answers.
    let psid = format!("{}", 8_000_000_000u64 + unique() % 1_000_000);
    stack
        .sim(
            "PUT",
            &format!("/_sim/users/{psid}"),
            Some(json!({"first_name": "Žofia", "last_name": "Nováková", "name": "Žofia Nováková"})),
        )
        .await;
    stack
        .deliver(
            &t.page_id,
            vec![text_event(&t.page_id, &psid, "dobrý den", now_ms())],
        )
        .await;
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let contact_id = conv["contact"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(conv["contact"]["name"], "Žofia Nováková", "{conv}");

    let agent = stack.token(&t.account, "helper", Role::Agent);
    for q in ["zofia", "ŽOF", "novakova", "nováková žofia", psid.as_str()] {
        let before = dynamo_requests(&stack).await;
        let started = std::time::Instant::now();
        let (status, v) = stack
            .api(
                "GET",
                &format!("/contacts?q={}", urlencoding(q)),
                Some(&agent),
                None,
            )
            .await;
        let took = started.elapsed();
        let after = dynamo_requests(&stack).await;
        assert_eq!(status, 200, "{q}: {v}");
        let hits: Vec<&Value> = v["items"].as_array().into_iter().flatten().collect();
        assert!(
            hits.iter().any(|h| h["id"] == contact_id.as_str()),
            "{q}: {v}"
        );
        let made: Vec<String> = after
            .iter()
            .filter_map(|(k, n)| {
                let d = n - before.get(k).copied().unwrap_or(0);
                (d > 0).then(|| format!("{k} {d}"))
            })
            .collect();
        eprintln!(
            "search: q={q:?} {} hit(s) in {} ms; dynamodb requests: {}",
            hits.len(),
            took.as_millis(),
            made.join(", ")
        );
        assert!(
            !made.iter().any(|m| m.contains("Scan")),
            "no scan: {made:?}"
        );
    }
    // By email and by phone, written as people type them.
    for q in ["lead.person@example", "415 555 0100", "+14155550100"] {
        let v = stack
            .get(&format!("/contacts?q={}", urlencoding(q)), &agent)
            .await;
        assert_eq!(
            v["items"][0]["email"], "Lead.Person@Example.org",
            "{q}: {v}"
        );
    }
    // A common surname among the 10,000: answers at most the limit.
    let v = stack.get("/contacts?q=smith&limit=5", &agent).await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(5), "{v}");
    // Each hit leads to the contact's conversations.
    let v = stack.get("/contacts?q=zofia", &agent).await;
    let hit = v["items"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["id"] == contact_id.as_str()))
        .cloned()
        .unwrap_or_default();
    let convs = stack
        .get(hit["conversations"].as_str().unwrap_or_default(), &agent)
        .await;
    assert_eq!(convs["items"][0]["id"], conv["id"], "{convs}");
    let (status, _) = stack.api("GET", "/contacts?q=z", Some(&agent), None).await;
    assert_eq!(status, 400, "one letter is too little");

    // Erasing the person takes them out of search, rows and all.
    let (status, _) = stack
        .api(
            "DELETE",
            &format!("/contacts/{contact_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        stack.get("/contacts?q=zofia", &agent).await["items"],
        json!([])
    );
    let rows = dynamo
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :p AND begins_with(sk, :t)")
        .expression_attribute_values(":p", s(format!("ACC#{}#SEARCH", t.account)))
        .expression_attribute_values(":t", s("n:zofia"))
        .send()
        .await
        .expect("query");
    assert_eq!(rows.count, 0, "no row keeps the name");
}

fn urlencoding(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

/// Indexing and erasure racing (issue 45): the indexer records a renamed contact's new terms,
/// the person is erased before it writes their rows, then it resumes. Its rows are written
/// only while the contact is not erased, so none outlives the erasure. Before, the rows
/// written after the erasure's delete kept the new name searchable in the table.
#[tokio::test]
async fn search_rows_written_while_the_contact_is_erased_do_not_outlive_it() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let user = format!("5{:014}", unique());
    stack
        .deliver(
            &t.page_id,
            vec![text_event(&t.page_id, &user, "hello", now_ms())],
        )
        .await;
    stack.settled().await;
    let conv = stack.get("/conversations", &admin).await["items"][0].clone();
    let contact_id = conv["contact"]["id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    let store =
        pagedesk_shared::store::Store::new(stack.clients().await.dynamo(), stack.s("table"));
    let mut renamed = store
        .get_contact(&t.account, &contact_id)
        .await
        .expect("read")
        .expect("the contact");
    renamed.name = Some(format!("Wiesława Quorn{}", unique()));

    // The indexer records the new terms, and pauses there.
    let terms = store.record_search_terms(&renamed).await.expect("recorded");
    assert!(!terms.is_empty(), "a new name has new terms");
    let (status, _) = stack
        .api(
            "DELETE",
            &format!("/contacts/{contact_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    // It resumes: nothing is written for an erased contact.
    let written = store
        .write_search_rows(&renamed, &terms)
        .await
        .expect("the write is refused, not failed");
    assert_eq!(written, 0);

    let rows = stack
        .clients()
        .await
        .dynamo()
        .query()
        .table_name(stack.s("table"))
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s(format!("ACC#{}#SEARCH", t.account)))
        .send()
        .await
        .expect("query");
    let theirs: Vec<_> = rows
        .items()
        .iter()
        .filter(|r| r.get("contact_id") == Some(&s(contact_id.as_str())))
        .collect();
    assert!(
        theirs.is_empty(),
        "no search row of the erased contact: {theirs:?}"
    );
    assert_eq!(
        stack.get("/contacts?q=wiesława", &admin).await["items"],
        json!([])
    );
}
