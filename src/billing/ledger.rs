//! The double-entry ledger: every invoice, payment, credit note and refund posts one
//! transaction whose entries sum to zero (debits positive, credits negative). A deferred
//! constraint trigger refuses an unbalanced transaction at commit, and the entries are
//! append-only (migration 000007).

use diesel::prelude::*;
use diesel::{AsExpression, FromSqlRow, sql_types::Text};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::{ledger_entries, ledger_transactions};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
)]
#[serde(rename_all = "snake_case")]
#[diesel(sql_type = Text)]
pub enum Account {
    /// What customers owe us (asset): raised by an invoice, cleared by their payment.
    CustomerReceivable,
    /// Money the gateway holds for us (asset): in by payments, out by refunds.
    GatewayClearing,
    /// Our service fees (revenue).
    FeeRevenue,
    /// Subscription charges (revenue).
    SubscriptionRevenue,
    /// VAT collected, owed to ZATCA (liability).
    VatPayable,
    /// Prepaid provider prices we collected on the provider's behalf (liability).
    ProviderPayable,
}

crate::text_enum!(Account {
    CustomerReceivable => "customer_receivable",
    GatewayClearing => "gateway_clearing",
    FeeRevenue => "fee_revenue",
    SubscriptionRevenue => "subscription_revenue",
    VatPayable => "vat_payable",
    ProviderPayable => "provider_payable",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionKind {
    Invoice,
    Payment,
    CreditNote,
    Refund,
}

impl TransactionKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::Payment => "payment",
            Self::CreditNote => "credit_note",
            Self::Refund => "refund",
        }
    }
}

/// What a transaction belongs to.
#[derive(Debug, Default, Clone, Copy)]
pub struct Source {
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub invoice_id: Option<Uuid>,
}

/// Posts one transaction. Zero amounts are left out; the database checks the balance.
pub fn post(
    conn: &mut PgConnection,
    kind: TransactionKind,
    source: Source,
    entries: &[(Account, Decimal)],
) -> QueryResult<i64> {
    debug_assert_eq!(
        entries.iter().map(|(_, amount)| *amount).sum::<Decimal>(),
        Decimal::ZERO,
        "unbalanced {kind:?}: {entries:?}"
    );
    let id: i64 = diesel::insert_into(ledger_transactions::table)
        .values((
            ledger_transactions::kind.eq(kind.as_str()),
            ledger_transactions::payment_id.eq(source.payment_id),
            ledger_transactions::refund_id.eq(source.refund_id),
            ledger_transactions::invoice_id.eq(source.invoice_id),
        ))
        .returning(ledger_transactions::id)
        .get_result(conn)?;
    let rows: Vec<_> = entries
        .iter()
        .filter(|(_, amount)| !amount.is_zero())
        .map(|(account, amount)| {
            (
                ledger_entries::transaction_id.eq(id),
                ledger_entries::account.eq(*account),
                ledger_entries::amount.eq(*amount),
            )
        })
        .collect();
    diesel::insert_into(ledger_entries::table)
        .values(&rows)
        .execute(conn)?;
    Ok(id)
}

/// The balance of every account (debit positive), for reports and the balance tests.
pub fn balances(conn: &mut PgConnection) -> QueryResult<Vec<(Account, Decimal)>> {
    use diesel::dsl::sum;
    let rows: Vec<(Account, Option<Decimal>)> = ledger_entries::table
        .group_by(ledger_entries::account)
        .select((ledger_entries::account, sum(ledger_entries::amount)))
        .order(ledger_entries::account)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(account, total)| (account, total.unwrap_or_default()))
        .collect())
}
