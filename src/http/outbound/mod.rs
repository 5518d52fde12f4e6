//! The one client for calls to addresses an admin typed (providers' FHIR and CalDAV servers,
//! webhook URLs). It refuses addresses the policy forbids (`address`) at connect time through
//! its own DNS resolver (`resolver`) and, for IP literals, before sending; it follows no
//! redirect and no proxy from the environment; it caps each answer's body
//! (`outbound.max_body_bytes`, enforced while reading) and bounds each call in time.

mod address;
mod resolver;

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{IntoUrl, Method, RequestBuilder, StatusCode};

pub use address::{AddressPolicy, Range, Refusal};

use crate::config::OutboundSettings;
use resolver::PolicyResolver;

/// Why an outgoing call produced no answer. The text never holds the URL (it may carry
/// credentials) nor anything the far end sent.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// Could not connect: nothing was sent, so nothing was done at the far end.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The request may have been sent and the connection broke before the whole answer
    /// came: the far end may have acted on it.
    #[error("{0}")]
    Transport(String),
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("not a URL we can call: {0}")]
    BadUrl(String),
}

/// A whole answer: status, headers and the body, read up to the cap.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: AddressPolicy,
    max_body_bytes: u64,
    /// What a timeout reports.
    timeout: Duration,
}

impl Outbound {
    /// `timeout` bounds a whole call, from connecting to the last byte of the body.
    pub fn new(
        settings: &OutboundSettings,
        user_agent: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let policy = AddressPolicy::from(settings);
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .dns_resolver(PolicyResolver { policy })
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            client,
            policy,
            max_body_bytes: settings.max_body_bytes,
            timeout,
        })
    }

    /// A request to fill in (headers, body); send it with [`Outbound::fetch`], which makes
    /// the checks a plain `send` would skip.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends and reads the whole answer. A 3xx is an answer like any other (never followed).
    pub async fn fetch(&self, request: RequestBuilder) -> Result<Reply, OutboundError> {
        let request = request
            .build()
            .map_err(|e| OutboundError::BadUrl(chain(&e.without_url())))?;
        self.policy
            .check_literal(request.url())
            .map_err(OutboundError::Refused)?;
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(|e| self.failure(e))?;
        if response
            .content_length()
            .is_some_and(|length| length > self.max_body_bytes)
        {
            return Err(self.too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.failure(e))? {
            if (body.len() + chunk.len()) as u64 > self.max_body_bytes {
                return Err(self.too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body,
        })
    }

    fn too_large(&self) -> OutboundError {
        OutboundError::TooLarge {
            limit: self.max_body_bytes,
        }
    }

    /// A refusal made by the resolver sits somewhere in reqwest's chain of causes.
    fn failure(&self, error: reqwest::Error) -> OutboundError {
        // A connect timeout is both: nothing was sent, which is what a caller needs to know.
        if error.is_timeout() && !error.is_connect() {
            return OutboundError::Timeout(self.timeout);
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(cause) = source {
            if let Some(refusal) = cause.downcast_ref::<Refusal>() {
                return OutboundError::Refused(*refusal);
            }
            source = cause.source();
        }
        if error.is_connect() {
            return OutboundError::Connect(chain(&error.without_url()));
        }
        OutboundError::Transport(chain(&error.without_url()))
    }
}

impl From<&OutboundSettings> for AddressPolicy {
    fn from(settings: &OutboundSettings) -> Self {
        Self {
            allow_private: settings.allow_private,
        }
    }
}

/// An error and its causes on one line (`error sending request: tcp connect error: …`).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
