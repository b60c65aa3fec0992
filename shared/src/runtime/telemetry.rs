//! Logging set-up. JSON lines (with the `level` key Lambda's log filtering needs) when Lambda
//! asks for JSON, readable lines otherwise. Handlers log ids and outcomes, never tokens or
//! message text.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `AWS_LAMBDA_LOG_LEVEL` (a level) or `RUST_LOG` (`level` or `target=level,…` directives,
/// without `EnvFilter`'s regular expressions: a filter that needs no regex engine keeps it out
/// of every binary and its compilation out of start-up).
pub fn init() {
    let spec = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_owned());
    let filter: Targets = spec
        .to_lowercase()
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A second init (tests, local host) is harmless; ignore it.
    let _ = if json {
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .without_time()
                    .with_target(false),
            )
            .with(filter)
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_target(false),
            )
            .with(filter)
            .try_init()
    };
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::filter::Targets;

    #[test]
    fn levels_and_directives_parse_without_env_filter() {
        let t: Targets = "warn".parse().unwrap();
        assert!(t.would_enable("pagedesk_router", &tracing::Level::WARN));
        assert!(!t.would_enable("pagedesk_router", &tracing::Level::INFO));
        let t: Targets = "warn,pagedesk_router=debug".parse().unwrap();
        assert!(t.would_enable("pagedesk_router", &tracing::Level::DEBUG));
        assert!(!t.would_enable("aws_config", &tracing::Level::INFO));
    }
}
