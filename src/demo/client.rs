//! How the demo's partner systems and generator talk to the gateway: its real HTTP API, with
//! each partner's own token, as any partner's system would.

use std::time::Duration;

use serde_json::Value;

/// The most times a request is repeated after a 429 (the gateway's inbound rate limit).
const RATE_LIMIT_RETRIES: u32 = 5;

/// The gateway's API at `base` (`http://127.0.0.1:8080`).
#[derive(Clone, Debug)]
pub struct GatewayClient {
    base: String,
    http: reqwest::Client,
}

/// The gateway's answer: status and JSON body (`Null` when there was none).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl GatewayClient {
    pub fn new(base: String) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("wijkbrug-demo/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { base, http })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /v1/partners/{partner}/messages`: a message in the partner's own format.
    pub async fn post_message(
        &self,
        partner: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Answer, reqwest::Error> {
        let url = format!("{}/v1/partners/{partner}/messages", self.base);
        self.send(|| {
            self.http
                .post(&url)
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.clone())
        })
        .await
    }

    /// A GET with a token, e.g. a mailbox or a referral.
    pub async fn get(&self, path: &str, token: &str) -> Result<Answer, reqwest::Error> {
        let url = format!("{}{path}", self.base);
        self.send(|| self.http.get(&url).bearer_auth(token)).await
    }

    /// A POST with a token and a JSON body (`Value::Null` for none).
    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        json: &Value,
    ) -> Result<Answer, reqwest::Error> {
        let url = format!("{}{path}", self.base);
        self.send(|| {
            let request = self.http.post(&url).bearer_auth(token);
            if json.is_null() {
                request
            } else {
                request.json(json)
            }
        })
        .await
    }

    /// Sends, waiting out a 429 as its Retry-After says (a few times at most).
    async fn send(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, reqwest::Error> {
        let mut tries = 0;
        loop {
            let response = request().send().await?;
            let status = response.status().as_u16();
            if status == 429 && tries < RATE_LIMIT_RETRIES {
                tries += 1;
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait.clamp(1, 10))).await;
                continue;
            }
            let bytes = response.bytes().await?;
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Ok(Answer { status, body });
        }
    }
}
