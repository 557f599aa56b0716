//! The operations dashboard over plain HTTP, as a browser without JavaScript would use it:
//! sign in with a staff token, keep the session cookie, follow no redirect by itself.

use reqwest::header::{HeaderMap, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use super::PERSONAL;

/// An answer: status, headers and the body as text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// The value of the hidden `csrf` field of the page's forms.
    pub fn csrf(&self) -> Option<String> {
        attr_after(&self.body, "name=\"csrf\" value=\"")
            .into_iter()
            .next()
    }

    /// Every value of attribute `attr` in the page, in order (`data-referral` → the ids).
    pub fn attr_values(&self, attr: &str) -> Vec<String> {
        attr_after(&self.body, &format!("{attr}=\""))
    }

    /// The `href` of the link with `rel` (`next`, `prev`), decoded from HTML.
    pub fn link(&self, rel: &str) -> Option<String> {
        let marker = format!("rel=\"{rel}\" href=\"");
        attr_after(&self.body, &marker)
            .into_iter()
            .next()
            .map(|h| h.replace("&amp;", "&"))
    }
}

fn attr_after(body: &str, marker: &str) -> Vec<String> {
    body.match_indices(marker)
        .filter_map(|(i, _)| {
            let rest = &body[i + marker.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// Fails if any test resident's value is in `text`.
pub fn assert_no_personal_data(what: &str, text: &str) {
    for word in PERSONAL {
        assert!(!text.contains(word), "{what} shows {word:?}");
    }
}

/// Everything the demo knows about its residents, which no page may show: each resident's
/// BSN, given and family name, street, postcode and the town, and every note the demo's
/// senders write.
pub fn demo_personal_data() -> Vec<String> {
    use wijkbrug::demo::{residents, scenarios};
    let mut words: Vec<String> = Vec::new();
    for r in residents::Residents::generate().list {
        words.push(r.bsn.as_str().to_owned());
        words.push(r.given_name.to_owned());
        words.push(r.family_name.to_owned());
        words.push(r.street.to_owned());
        words.push(r.postcode.clone());
    }
    words.push(residents::TOWN.to_owned());
    for s in scenarios::SCENARIOS {
        words.extend(s.notes.iter().map(|n| (*n).to_owned()));
    }
    words.sort();
    words.dedup();
    words
}

/// Whether `word` is in `text` as a word of its own (not inside a longer word or number).
fn contains_word(text: &str, word: &str) -> bool {
    let standalone = |c: Option<char>| !c.is_some_and(char::is_alphanumeric);
    text.match_indices(word).any(|(i, _)| {
        standalone(text[..i].chars().next_back())
            && standalone(text[i + word.len()..].chars().next())
    })
}

/// Fails if any of `words` ([`demo_personal_data`]) is in `text` as a word of its own.
pub fn assert_no_demo_personal_data(what: &str, text: &str, words: &[String]) {
    for word in words {
        assert!(!contains_word(text, word), "{what} shows {word:?}");
    }
}

/// A browser-like client of one gateway.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    http: reqwest::Client,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn answer(res: reqwest::Response) -> Answer {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        Self::answer(req.send().await.unwrap()).await
    }

    /// Posts a form (fields as given, urlencoded), with the session cookie.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_with(path, fields, &[]).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let body: String = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::answer(req.send().await.unwrap()).await
    }

    /// Signs in with `token`; returns the answer (303 and a cookie when it worked) and keeps
    /// the cookie.
    pub async fn sign_in(&mut self, token: &str) -> Answer {
        let a = self.post("/ops/login", &[("token", token)]).await;
        if let Some(set) = a.headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap().trim().to_owned();
            self.cookie = Some(pair);
        }
        a
    }

    /// A browser signed in with `token` (which must work).
    pub async fn signed_in(base: &str, token: &str) -> Self {
        let mut b = Self::new(base);
        let a = b.sign_in(token).await;
        assert_eq!(a.status, 303, "sign-in: {}", a.body);
        b
    }
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
