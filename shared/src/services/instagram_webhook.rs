//! The app's `instagram` webhook subscription, kept complete by connecting a Page with an
//! Instagram account and by each health check of one. Instagram's webhook fields are the
//! app's (`/{app-id}/subscriptions`), not a Page's: Meta delivers them for the account of every
//! Page the app is installed on. Meta checks the callback with the verify token before it
//! answers, so this needs the token, and the callback is the one the deployer entered for the
//! app's Page webhook (`connect::instagram_subscription`).

use crate::adapters::graph::{AppCredentials, GraphClient, GraphError};
use crate::adapters::secrets::SecretCache;
use crate::connect::{InstagramSubscription, instagram_subscription};

/// What became of the app's Instagram subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It had every field.
    Complete,
    /// It lacked `missing`, and now has them.
    Subscribed { missing: Vec<&'static str> },
    /// It lacks `missing` and pagedesk may not or cannot subscribe them (`reason`).
    Blocked {
        reason: &'static str,
        missing: Vec<&'static str>,
    },
}

impl Outcome {
    /// Whether Instagram's webhooks reach pagedesk.
    pub fn works(&self) -> bool {
        !matches!(self, Outcome::Blocked { .. })
    }
}

/// Reads the app's subscriptions and completes the `instagram` one if it may. One Graph call,
/// two when it subscribes. A verify token that is not configured or not readable blocks only
/// the repair (`no_verify_token`).
pub async fn ensure(
    graph: &GraphClient,
    app: &AppCredentials,
    secrets: &SecretCache,
    verify_token_id: Option<&str>,
) -> Result<Outcome, GraphError> {
    let subs = graph.app_subscriptions(app).await?;
    let (callback_url, fields, missing) = match instagram_subscription(&subs) {
        InstagramSubscription::Complete => return Ok(Outcome::Complete),
        InstagramSubscription::Blocked { reason, missing } => {
            return Ok(blocked(reason, missing));
        }
        InstagramSubscription::Subscribe {
            callback_url,
            fields,
            missing,
        } => (callback_url, fields, missing),
    };
    let token = match verify_token_id {
        Some(id) => secrets.get(id).await.ok().flatten(),
        None => None,
    };
    let Some(token) = token else {
        return Ok(blocked("no_verify_token", missing));
    };
    graph
        .subscribe_app(app, "instagram", &callback_url, &fields, &token)
        .await?;
    Ok(Outcome::Subscribed { missing })
}

/// The cloud team's warning, said here once for every caller: Instagram's webhooks for
/// `missing` are not sent, and only the App Dashboard mends it.
fn blocked(reason: &'static str, missing: Vec<&'static str>) -> Outcome {
    tracing::warn!(
        reason,
        ?missing,
        "the app's Instagram webhook is incomplete"
    );
    Outcome::Blocked { reason, missing }
}
