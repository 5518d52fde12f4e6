//! A customer's consent to texts: given or withdrawn in their profile, by an agent on the
//! phone, or withdrawn by replying STOP. The rule (README "SMS"): nothing is texted without
//! a standing opt-in, whatever the message is for (confirmations and reminders included);
//! an opt-out stops everything at once, messages already queued too.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::schema::{customers, sms_consents};

/// Who recorded a change of consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Profile,
    Agent,
    InboundReply,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Agent => "agent",
            Self::InboundReply => "inbound_reply",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sms_consents, check_for_backend(diesel::pg::Pg))]
struct ConsentRow {
    opted_in_at: Option<DateTime<Utc>>,
    opted_out_at: Option<DateTime<Utc>>,
    source: String,
}

/// A customer's consent as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentView {
    pub opted_in: bool,
    pub opted_in_at: Option<DateTime<Utc>>,
    pub opted_out_at: Option<DateTime<Utc>>,
    /// `profile`, `agent` or `inbound_reply`; none before any choice.
    pub source: Option<String>,
    /// Where texts go (E.164); none: nothing can be texted.
    pub phone: Option<String>,
}

/// Whether a customer may be texted now, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    OptedIn,
    OptedOut,
    NeverAsked,
}

fn standing_of(row: Option<&ConsentRow>) -> Standing {
    match row {
        None => Standing::NeverAsked,
        Some(row) if row.opted_out_at.is_some() => Standing::OptedOut,
        Some(row) if row.opted_in_at.is_some() => Standing::OptedIn,
        Some(_) => Standing::NeverAsked,
    }
}

fn find(conn: &mut PgConnection, customer_id: Uuid) -> QueryResult<Option<ConsentRow>> {
    sms_consents::table
        .find(customer_id)
        .select(ConsentRow::as_select())
        .first(conn)
        .optional()
}

pub fn standing(conn: &mut PgConnection, customer_id: Uuid) -> QueryResult<Standing> {
    Ok(standing_of(find(conn, customer_id)?.as_ref()))
}

pub fn view(conn: &mut PgConnection, customer_id: Uuid) -> QueryResult<ConsentView> {
    let phone: Option<String> = customers::table
        .find(customer_id)
        .select(customers::phone)
        .first(conn)?;
    let row = find(conn, customer_id)?;
    Ok(ConsentView {
        opted_in: standing_of(row.as_ref()) == Standing::OptedIn,
        opted_in_at: row.as_ref().and_then(|r| r.opted_in_at),
        opted_out_at: row.as_ref().and_then(|r| r.opted_out_at),
        source: row.map(|r| r.source),
        phone,
    })
}

/// Records an opt-in (clearing any opt-out) or an opt-out (keeping when the opt-in was).
pub fn record(
    conn: &mut PgConnection,
    customer_id: Uuid,
    opted_in: bool,
    source: Source,
) -> QueryResult<()> {
    let now = Utc::now();
    let insert = diesel::insert_into(sms_consents::table);
    if opted_in {
        insert
            .values((
                sms_consents::customer_id.eq(customer_id),
                sms_consents::opted_in_at.eq(now),
                sms_consents::source.eq(source.as_str()),
            ))
            .on_conflict(sms_consents::customer_id)
            .do_update()
            .set((
                sms_consents::opted_in_at.eq(now),
                sms_consents::opted_out_at.eq(None::<DateTime<Utc>>),
                sms_consents::source.eq(source.as_str()),
                sms_consents::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        insert
            .values((
                sms_consents::customer_id.eq(customer_id),
                sms_consents::opted_out_at.eq(now),
                sms_consents::source.eq(source.as_str()),
            ))
            .on_conflict(sms_consents::customer_id)
            .do_update()
            .set((
                sms_consents::opted_out_at.eq(now),
                sms_consents::source.eq(source.as_str()),
                sms_consents::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A STOP from `phone` (E.164) opts out every customer with that number (a family often
/// shares one); returns how many.
pub fn opt_out_phone(conn: &mut PgConnection, phone: &str) -> QueryResult<usize> {
    let ids: Vec<Uuid> = customers::table
        .filter(customers::phone.eq(phone))
        .select(customers::id)
        .load(conn)?;
    for id in &ids {
        record(conn, *id, false, Source::InboundReply)?;
    }
    Ok(ids.len())
}
