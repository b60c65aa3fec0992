//! Finding contacts without a scan: each contact is written under a few terms (each word of
//! its name, its email, its phone's digits, its Facebook id), folded so that case and
//! diacritics do not matter, and a search reads the terms that start with what was typed.

/// A search needs at least this many characters (a one-letter prefix would read too much).
pub const MIN_QUERY: usize = 2;
pub const MAX_QUERY: usize = 100;

/// Lower-case ASCII: "Žofia" → "zofia", "Nguyễn" → "nguyen".
pub fn fold(s: &str) -> String {
    deunicode::deunicode(s).to_lowercase()
}

/// The words of a name, folded (letters and digits only).
fn words(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// What a contact is written under: `n:<word>` for each word of its names, `e:<email>`,
/// `p:<digits>` (and its last 9 and 10), `f:<facebook id>`; each once.
pub fn contact_terms(
    names: &[Option<&str>],
    email: Option<&str>,
    phone: Option<&str>,
    facebook_id: &str,
) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .flatten()
        .flat_map(|n| words(n))
        .map(|w| format!("n:{w}"))
        .collect();
    if let Some(e) = email
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
    {
        out.push(format!("e:{e}"));
    }
    if let Some(p) = phone.map(digits).filter(|p| !p.is_empty()) {
        // Also without a country code, as people type a number they know: its last 9 and 10
        // digits (the national numbers of most countries).
        for n in [9, 10] {
            if p.len() > n {
                out.push(format!("p:{}", &p[p.len() - n..]));
            }
        }
        out.push(format!("p:{p}"));
    }
    if !facebook_id.is_empty() {
        out.push(format!("f:{facebook_id}"));
    }
    out.sort();
    out.dedup();
    out
}

/// How a query is looked up: the prefix of terms to read, and what every hit must also match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Read the terms that start with these (one Query each).
    pub prefixes: Vec<String>,
    /// Each of these must start some `n:` term of the hit (the other words of a name).
    pub all_words: Vec<String>,
}

/// The plan for what was typed: an address (has `@`) by email; digits (5 or more, with `+`,
/// spaces, dashes or brackets) by phone and by Facebook id; else by name, every word a prefix
/// of a word of the name, the longest word read. `Err` says what is wrong.
pub fn plan(q: &str) -> Result<Plan, String> {
    if q.chars().count() < MIN_QUERY || q.chars().count() > MAX_QUERY {
        return Err(format!("q: {MIN_QUERY} to {MAX_QUERY} characters"));
    }
    let q = q.trim();
    // A letter or a digit in any script (`openapi.yaml`'s pattern `[^\W_]`): names are
    // matched transliterated, so a query in Cyrillic finds a Latin spelling too.
    if !q.chars().any(char::is_alphanumeric) {
        return Err("q: a name, an email, a phone number or a Facebook id".into());
    }
    if q.contains('@') {
        return Ok(Plan {
            prefixes: vec![format!("e:{}", q.to_lowercase())],
            all_words: vec![],
        });
    }
    let d = digits(q);
    if d.len() >= 5 && q.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) {
        return Ok(Plan {
            prefixes: vec![format!("p:{d}"), format!("f:{d}")],
            all_words: vec![],
        });
    }
    let mut ws = words(q);
    if ws.is_empty() {
        // Letters with no transliteration: nothing can be written under them, so nothing is
        // found (an answer, not a refusal of a query the document allows).
        return Ok(Plan {
            prefixes: vec![],
            all_words: vec![],
        });
    }
    ws.sort_by_key(|w| std::cmp::Reverse(w.len()));
    Ok(Plan {
        prefixes: vec![format!("n:{}", ws[0])],
        all_words: ws,
    })
}

/// Whether a contact written under `terms` (as they are now) answers the plan.
pub fn matches(plan: &Plan, terms: &[String]) -> bool {
    plan.prefixes
        .iter()
        .any(|p| terms.iter().any(|t| t.starts_with(p.as_str())))
        && plan.all_words.iter().all(|w| {
            terms.iter().any(|t| {
                t.strip_prefix("n:")
                    .is_some_and(|n| n.starts_with(w.as_str()))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zofia() -> Vec<String> {
        contact_terms(
            &[Some("Žofia Nováková"), Some("Žofia"), None],
            Some("Zofia.N@Example.com"),
            Some("+420 601 123-456"),
            "2718281828",
        )
    }

    #[test]
    fn a_contact_is_written_under_folded_words_email_digits_and_id() {
        assert_eq!(
            zofia(),
            [
                "e:zofia.n@example.com",
                "f:2718281828",
                "n:novakova",
                "n:zofia",
                "p:0601123456",
                "p:420601123456",
                "p:601123456"
            ]
        );
    }

    #[test]
    fn a_query_finds_by_any_word_prefix_email_phone_or_id_case_and_accents_ignored() {
        let t = zofia();
        for q in [
            "zofia",
            "Žof",
            "nov",
            "NOVÁK",
            "zofia nov",
            "nov zo",
            "zofia.n@ex",
            "+420 601",
            "601 123 456",
            "2718281",
        ] {
            let p = plan(q).unwrap();
            assert!(matches(&p, &t), "{q}: {p:?}");
        }
        for q in ["anna", "zofia smith", "other@example.com", "99999"] {
            assert!(!matches(&plan(q).unwrap(), &t), "{q}");
        }
        assert!(plan("z").is_err());
        assert!(plan("!!").is_err());
        assert!(plan("× ÷").is_err(), "signs are neither letters nor digits");
        assert!(plan("Ян").is_ok(), "a name in another script");
        assert_eq!(
            plan("zofia nov").unwrap().prefixes,
            ["n:zofia"],
            "the longest word is read"
        );
    }
}
