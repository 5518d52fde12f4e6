//! Reporting simplified invoices and credit notes to ZATCA (the reporting API: within 24
//! hours of issue). A `report_invoice` job per document, queued in the issuing transaction
//! when `zatca.enabled`; it retries with backoff on anything but ZATCA's own verdict, and
//! records `reported`, `reported_with_warnings` or `rejected` with ZATCA's messages.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::chain::ReportStatus;
use crate::config::ZatcaSettings;
use crate::db::{PgPool, run_blocking};
use crate::error::ApiError;
use crate::jobs::Job;
use crate::jobs::queue;
use crate::schema::zatca_documents;

/// Queues the document's report, in the issuing transaction.
pub fn enqueue(conn: &mut PgConnection, invoice_id: Uuid) -> QueryResult<()> {
    queue::enqueue(
        conn,
        &Job::ReportInvoice { invoice_id },
        Some(&format!("zatca:{invoice_id}")),
        Utc::now(),
    )?;
    Ok(())
}

/// The reporting API's client, with the production CSID as its credentials.
pub struct Reporter {
    client: reqwest::Client,
    endpoint: String,
    /// `Basic base64(binarySecurityToken:secret)`.
    authorization: SecretString,
}

impl Reporter {
    /// `None` when reporting is off.
    pub fn from_settings(settings: &ZatcaSettings) -> anyhow::Result<Option<Self>> {
        if !settings.enabled {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        let credentials = format!(
            "{}:{}",
            settings.csid_token.expose_secret(),
            settings.csid_secret.expose_secret()
        );
        Ok(Some(Self {
            client,
            endpoint: format!(
                "{}/invoices/reporting/single",
                settings.api_base.trim_end_matches('/')
            ),
            authorization: format!("Basic {}", B64.encode(credentials)).into(),
        }))
    }
}

/// Why a report must be tried again. The text never holds the credentials.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TryAgain {
    pub message: String,
    /// What ZATCA asked for (`Retry-After`), if anything.
    pub retry_after: Option<Duration>,
}

impl From<ApiError> for TryAgain {
    fn from(error: ApiError) -> Self {
        Self {
            message: error.describe(),
            retry_after: None,
        }
    }
}

/// ZATCA's answer body (the fields we keep).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Answer {
    validation_results: ValidationResults,
    reporting_status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ValidationResults {
    warning_messages: Vec<Value>,
    error_messages: Vec<Value>,
}

impl crate::billing::Billing {
    /// The `report_invoice` job: reports the document when reporting is on.
    pub async fn report_invoice(&self, invoice_id: Uuid) -> Result<(), TryAgain> {
        match &self.zatca {
            Some(reporter) => report(&self.pool, reporter, invoice_id).await,
            // Queued while reporting was on, run after it was turned off: it stays pending
            // and listed until reporting is back on and the job is retried.
            None => Err(TryAgain {
                message: "zatca.enabled is off on this instance".into(),
                retry_after: None,
            }),
        }
    }
}

/// Reports one document, once: a verdict is recorded; anything else is `TryAgain`.
pub async fn report(pool: &PgPool, reporter: &Reporter, invoice_id: Uuid) -> Result<(), TryAgain> {
    let document = run_blocking(pool, move |conn| {
        Ok(zatca_documents::table
            .find(invoice_id)
            .select((
                zatca_documents::hash,
                zatca_documents::xml,
                zatca_documents::report_status,
            ))
            .first::<(String, String, String)>(conn)
            .optional()?)
    })
    .await?;
    let Some((hash, xml, status)) = document else {
        return Ok(());
    };
    if status != ReportStatus::Pending.as_str() {
        return Ok(()); // reported (or judged) already: a retried job does nothing
    }
    let sent = reporter
        .client
        .post(&reporter.endpoint)
        .header("Accept-Version", "V2")
        .header("Accept-Language", "en")
        .header("Clearance-Status", "0")
        .header("Authorization", reporter.authorization.expose_secret())
        .json(&json!({
            "invoiceHash": hash,
            "uuid": invoice_id,
            "invoice": B64.encode(xml.as_bytes()),
        }))
        .send()
        .await;
    let outcome = match sent {
        Err(error) => Err(TryAgain {
            message: format!("ZATCA did not answer: {}", without_url(&error)),
            retry_after: None,
        }),
        Ok(answer) => {
            let code = answer.status();
            let retry_after = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body: Answer = answer.json().await.unwrap_or_default();
            verdict(code.as_u16(), body).ok_or_else(|| TryAgain {
                message: format!("ZATCA answered {code}"),
                retry_after,
            })
        }
    };
    let (verdict, error) = match outcome {
        Ok(verdict) => (Some(verdict), None),
        Err(again) => (None, Some(again)),
    };
    let last_error = error.as_ref().map(|e| e.message.clone());
    let rejected = matches!(verdict, Some((ReportStatus::Rejected, _)));
    run_blocking(pool, move |conn| {
        let target = zatca_documents::table
            .find(invoice_id)
            .filter(zatca_documents::report_status.eq(ReportStatus::Pending.as_str()));
        match verdict {
            Some((status, messages)) => diesel::update(target)
                .set((
                    zatca_documents::report_status.eq(status.as_str()),
                    zatca_documents::report_messages.eq(messages),
                    zatca_documents::report_attempts.eq(zatca_documents::report_attempts + 1),
                    zatca_documents::last_error.eq(None::<String>),
                    zatca_documents::reported_at.eq(Some(Utc::now())),
                ))
                .execute(conn)?,
            None => diesel::update(target)
                .set((
                    zatca_documents::report_attempts.eq(zatca_documents::report_attempts + 1),
                    zatca_documents::last_error.eq(last_error),
                ))
                .execute(conn)?,
        };
        Ok(())
    })
    .await?;
    if rejected {
        tracing::error!(%invoice_id, "ZATCA rejected an invoice; an admin must correct it");
    }
    error.map_or(Ok(()), Err)
}

/// ZATCA's verdict on a document, or `None` when the call must be made again (no verdict:
/// our credentials refused, ZATCA busy or failing).
fn verdict(code: u16, body: Answer) -> Option<(ReportStatus, Value)> {
    let results = body.validation_results;
    let mut messages = results.warning_messages;
    messages.extend(results.error_messages);
    let reported = body.reporting_status.as_deref() == Some("REPORTED");
    let status = match code {
        200 if reported => ReportStatus::Reported,
        202 if reported => ReportStatus::ReportedWithWarnings,
        // 400: the document itself fails ZATCA's rules. Sending it again cannot help.
        400 => ReportStatus::Rejected,
        // 409: this invoice was reported before, e.g. by an attempt whose answer was lost.
        409 => ReportStatus::Reported,
        _ => return None,
    };
    let messages = if code == 409 && messages.is_empty() {
        vec![json!({"type": "WARNING", "message": "ZATCA had this invoice reported already"})]
    } else {
        messages
    };
    Some((status, Value::Array(messages)))
}

/// An HTTP error's text without the URL.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the call failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &str, warnings: Vec<Value>, errors: Vec<Value>) -> Answer {
        Answer {
            validation_results: ValidationResults {
                warning_messages: warnings,
                error_messages: errors,
            },
            reporting_status: Some(status.to_owned()),
        }
    }

    #[test]
    fn verdicts_follow_zatcas_status_codes() {
        let warning = json!({"code": "BR-KSA-08", "message": "w"});
        assert_eq!(
            verdict(200, answer("REPORTED", vec![], vec![])).map(|v| v.0),
            Some(ReportStatus::Reported)
        );
        assert_eq!(
            verdict(202, answer("REPORTED", vec![warning.clone()], vec![])),
            Some((ReportStatus::ReportedWithWarnings, json!([warning])))
        );
        let error = json!({"code": "BR-01", "message": "e"});
        assert_eq!(
            verdict(400, answer("NOT_REPORTED", vec![], vec![error.clone()])),
            Some((ReportStatus::Rejected, json!([error])))
        );
        assert_eq!(
            verdict(409, Answer::default()).map(|v| v.0),
            Some(ReportStatus::Reported)
        );
        for again in [401, 403, 429, 500, 503] {
            assert_eq!(verdict(again, Answer::default()), None, "{again}");
        }
    }
}
