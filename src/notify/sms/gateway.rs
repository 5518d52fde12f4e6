//! Where a text goes: one trait, [`SmsGateway`], and its two implementations. The HTTP one
//! speaks Unifonic's REST shape (`POST {api_url}`, a form with `AppSid`, `SenderID`,
//! `Recipient` in international digits without `+`, `Body`, `CorrelationID` = our message
//! id, `responseType=JSON`; the answer `{"success", "errorCode", "message", "data":
//! {"MessageID", …}}`); Twilio-style gateways differ only in field names. The file one
//! writes `{file_dir}/{message id}.json` for development and tests.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use crate::billing::gateway::stripe::encode_form;
use crate::config::{SmsBackend, SmsSettings};

/// One text to send.
#[derive(Debug)]
pub struct OutgoingSms<'a> {
    /// Our `sms_messages.id`: the same on every retry, so the gateway can drop a duplicate.
    pub id: Uuid,
    /// E.164.
    pub to: &'a str,
    pub body: &'a str,
}

/// Why a send failed: `Unavailable` is retried by the job, `Refused` never will succeed.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("the SMS gateway is unavailable: {0}")]
    Unavailable(String),
    #[error("the SMS gateway refused the message: {0}")]
    Refused(String),
}

pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<String, SmsError>> + Send + 'a>>;

/// Sends one text; `Ok` holds the gateway's message id (receipts name it).
pub trait SmsGateway: Send + Sync {
    fn send<'a>(&'a self, sms: &'a OutgoingSms<'a>) -> Sending<'a>;
}

/// The gateway `sms.backend` names.
pub fn from_settings(settings: &SmsSettings) -> anyhow::Result<Box<dyn SmsGateway>> {
    Ok(match settings.backend {
        SmsBackend::File => Box::new(FileSmsGateway::new(&settings.file_dir)?),
        SmsBackend::Http => Box::new(HttpSmsGateway::new(settings)?),
    })
}

pub struct HttpSmsGateway {
    client: reqwest::Client,
    api_url: String,
    app_sid: SecretString,
    sender_id: String,
}

/// Unifonic's answer (other fields ignored).
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    success: bool,
    #[serde(default, rename = "errorCode")]
    error_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<AnswerData>,
}

#[derive(Debug, Deserialize)]
struct AnswerData {
    /// A number or a string, depending on the account's API version.
    #[serde(rename = "MessageID")]
    message_id: serde_json::Value,
}

impl HttpSmsGateway {
    pub fn new(settings: &SmsSettings) -> anyhow::Result<Self> {
        crate::providers::adapter::install_crypto_provider();
        let timeout = Duration::from_millis(settings.timeout_ms);
        let client = reqwest::Client::builder()
            .user_agent(concat!("wasit/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            // The gateway never redirects a send; a redirect would carry the AppSid elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the SMS gateway's HTTP client")?;
        Ok(Self {
            client,
            api_url: settings.api_url.clone(),
            app_sid: settings
                .app_sid
                .clone()
                .context("sms.app_sid is required when sms.backend is http")?,
            sender_id: settings.sender_id.clone(),
        })
    }

    async fn post(&self, sms: &OutgoingSms<'_>) -> Result<String, SmsError> {
        let id = sms.id.to_string();
        let form = encode_form(&[
            ("AppSid", self.app_sid.expose_secret()),
            ("SenderID", self.sender_id.as_str()),
            ("Recipient", sms.to.trim_start_matches('+')),
            ("Body", sms.body),
            ("CorrelationID", id.as_str()),
            ("responseType", "JSON"),
        ]);
        let response = self
            .client
            .post(&self.api_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| SmsError::Unavailable(format!("no answer: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| SmsError::Unavailable(format!("reading the answer: {e}")))?;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(SmsError::Unavailable(format!("answered {status}")));
        }
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| SmsError::Unavailable(format!("an unreadable answer ({status}): {e}")))?;
        match answer.data {
            Some(data) if status.is_success() && answer.success => Ok(match data.message_id {
                serde_json::Value::String(id) => id,
                other => other.to_string(),
            }),
            _ => Err(SmsError::Refused(format!(
                "{status} {}: {}",
                answer.error_code.unwrap_or_default(),
                answer.message.unwrap_or_default()
            ))),
        }
    }
}

impl SmsGateway for HttpSmsGateway {
    fn send<'a>(&'a self, sms: &'a OutgoingSms<'a>) -> Sending<'a> {
        Box::pin(self.post(sms))
    }
}

/// Development's sink: one JSON file per message, named by its id (a retry overwrites it).
pub struct FileSmsGateway {
    dir: PathBuf,
}

impl FileSmsGateway {
    pub fn new(dir: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating sms.file_dir {dir}"))?;
        Ok(Self {
            dir: PathBuf::from(dir),
        })
    }

    async fn write(&self, sms: &OutgoingSms<'_>) -> Result<String, SmsError> {
        let path = self.dir.join(format!("{}.json", sms.id));
        let segments = super::segments::count(sms.body);
        let content = serde_json::to_vec_pretty(&serde_json::json!({
            "id": sms.id,
            "to": sms.to,
            "body": sms.body,
            "encoding": segments.encoding,
            "segments": segments.parts,
        }))
        .map_err(|e| SmsError::Refused(e.to_string()))?;
        tokio::task::spawn_blocking(move || std::fs::write(&path, content))
            .await
            .map_err(|e| SmsError::Unavailable(e.to_string()))?
            .map_err(|e| SmsError::Unavailable(format!("writing the message file: {e}")))?;
        Ok(format!("file-{}", sms.id))
    }
}

impl SmsGateway for FileSmsGateway {
    fn send<'a>(&'a self, sms: &'a OutgoingSms<'a>) -> Sending<'a> {
        Box::pin(self.write(sms))
    }
}
