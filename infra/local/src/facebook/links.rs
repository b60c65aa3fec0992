//! What a person changes about their Pages after connecting, as a health check finds it: the
//! Instagram account linked to a Page (`GET /{page}?fields=instagram_business_account`), and
//! the permissions they take back in their Facebook settings.

use serde_json::{Value, json};

use super::{Accounts, Answer};

impl Accounts {
    /// Links `account` (`{"id", "username"}`) to the Page, or unlinks it (`None`), for every
    /// person who manages the Page. False when no one does.
    pub fn set_instagram(&mut self, page: &str, account: Option<Value>) -> bool {
        let mut found = false;
        for p in self
            .users
            .values_mut()
            .flat_map(|u| u.pages.iter_mut())
            .filter(|p| p.id == page)
        {
            p.instagram_business_account = account.clone();
            found = true;
        }
        found
    }

    /// The permissions the person has declined or taken back from now on.
    pub fn set_declined(&mut self, user: &str, declined: Vec<String>) -> bool {
        match self.users.get_mut(user) {
            Some(u) => {
                u.declined = declined;
                true
            }
            None => false,
        }
    }

    /// `GET /{page}?fields=instagram_business_account{…}` with the Page's token.
    pub(super) fn page_instagram(&self, page: &str, token: Option<&str>) -> Answer {
        if let Err(e) = self.page_token(token, page) {
            return e;
        }
        let account = self
            .users
            .values()
            .flat_map(|u| u.pages.iter())
            .find(|p| p.id == page)
            .and_then(|p| p.instagram_business_account.clone());
        let mut v = json!({"id": page});
        if let Some(a) = account {
            v["instagram_business_account"] = a;
        }
        (200, v)
    }
}
