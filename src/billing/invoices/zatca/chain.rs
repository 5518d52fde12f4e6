//! The chain of stamped documents (`zatca_chain`, `zatca_documents`): each takes the next
//! counter and the previous document's hash under the chain's row lock, in the payment's or
//! refund's own transaction, so a crash or a rollback never leaves a gap or a fork.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::document::Stamped;
use crate::schema::{zatca_chain, zatca_documents};

/// This office's one e-invoicing unit (ZATCA's "EGS"): one counter, one chain.
const DEVICE: &str = "wasit";

/// Where the next document goes.
pub struct Head {
    pub icv: i64,
    /// The previous document's hash (ZATCA's hash of "0" before the first).
    pub pih: String,
}

/// Locks the chain until the caller's transaction ends and says where the next document goes.
pub fn next(conn: &mut PgConnection) -> QueryResult<Head> {
    let (last_icv, last_hash): (i64, String) = zatca_chain::table
        .find(DEVICE)
        .select((zatca_chain::last_icv, zatca_chain::last_hash))
        .for_update()
        .first(conn)?;
    Ok(Head {
        icv: last_icv + 1,
        pih: last_hash,
    })
}

/// Records the document stamped at `head` and moves the chain on to it.
pub fn record(
    conn: &mut PgConnection,
    head: &Head,
    invoice_id: Uuid,
    stamped: &Stamped,
    reported: bool,
    issued_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(zatca_chain::table.find(DEVICE))
        .set((
            zatca_chain::last_icv.eq(head.icv),
            zatca_chain::last_hash.eq(&stamped.hash),
        ))
        .execute(conn)?;
    diesel::insert_into(zatca_documents::table)
        .values((
            zatca_documents::invoice_id.eq(invoice_id),
            zatca_documents::icv.eq(head.icv),
            zatca_documents::pih.eq(&head.pih),
            zatca_documents::hash.eq(&stamped.hash),
            zatca_documents::xml.eq(&stamped.xml),
            zatca_documents::report_status.eq(if reported {
                ReportStatus::Pending
            } else {
                ReportStatus::NotRequired
            }
            .as_str()),
            zatca_documents::issued_at.eq(issued_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Where a document stands with ZATCA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Issued while reporting was off (`zatca.enabled = false`).
    NotRequired,
    /// A `report_invoice` job is queued or retrying.
    Pending,
    Reported,
    ReportedWithWarnings,
    /// ZATCA refused it; its messages say why. Never retried as is: a person corrects it.
    Rejected,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequired => "not_required",
            Self::Pending => "pending",
            Self::Reported => "reported",
            Self::ReportedWithWarnings => "reported_with_warnings",
            Self::Rejected => "rejected",
        }
    }
}

/// A document's place in the chain and its reporting, as the API shows it.
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = zatca_documents, check_for_backend(diesel::pg::Pg))]
pub struct DocumentView {
    #[serde(skip)]
    pub invoice_id: Uuid,
    pub icv: i64,
    pub pih: String,
    pub hash: String,
    pub report_status: String,
    pub report_messages: serde_json::Value,
    pub report_attempts: i32,
    pub last_error: Option<String>,
    pub reported_at: Option<DateTime<Utc>>,
    pub issued_at: DateTime<Utc>,
}

pub fn views_of(conn: &mut PgConnection, invoice_ids: &[Uuid]) -> QueryResult<Vec<DocumentView>> {
    zatca_documents::table
        .filter(zatca_documents::invoice_id.eq_any(invoice_ids))
        .select(DocumentView::as_select())
        .load(conn)
}

/// The XML of an invoice's document; `None` for an invoice issued before phase 2.
pub fn xml_of(conn: &mut PgConnection, invoice_id: Uuid) -> QueryResult<Option<String>> {
    zatca_documents::table
        .find(invoice_id)
        .select(zatca_documents::xml)
        .first(conn)
        .optional()
}

/// A document an admin must look at, with the invoice number a person reads.
#[derive(Debug, Clone, Serialize)]
pub struct Attention {
    pub invoice_id: Uuid,
    pub number: String,
    #[serde(flatten)]
    pub document: DocumentView,
}

/// What `GET /v1/admin/zatca` shows.
#[derive(Debug, Serialize)]
pub struct Attentions {
    /// Unreported after `overdue_after` (ZATCA wants simplified invoices within 24 hours).
    pub overdue: Vec<Attention>,
    pub rejected: Vec<Attention>,
    /// Documents per report status.
    pub counts: std::collections::BTreeMap<String, i64>,
}

pub fn needing_attention(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    overdue_after: chrono::Duration,
) -> QueryResult<Attentions> {
    use crate::schema::invoices;
    let load = |conn: &mut PgConnection, status: ReportStatus, before: Option<DateTime<Utc>>| {
        let mut query = zatca_documents::table
            .inner_join(invoices::table)
            .filter(zatca_documents::report_status.eq(status.as_str()))
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(zatca_documents::issued_at.lt(before));
        }
        query
            .order(zatca_documents::icv.asc())
            .limit(500)
            .select((invoices::number, DocumentView::as_select()))
            .load::<(String, DocumentView)>(conn)
            .map(|rows| {
                rows.into_iter()
                    .map(|(number, document)| Attention {
                        invoice_id: document.invoice_id,
                        number,
                        document,
                    })
                    .collect::<Vec<_>>()
            })
    };
    let overdue = load(conn, ReportStatus::Pending, Some(now - overdue_after))?;
    let rejected = load(conn, ReportStatus::Rejected, None)?;
    let counts = zatca_documents::table
        .group_by(zatca_documents::report_status)
        .select((zatca_documents::report_status, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(Attentions {
        overdue,
        rejected,
        counts,
    })
}
