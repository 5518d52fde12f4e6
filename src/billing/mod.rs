//! Money: prices and VAT (`money`), the gateways that move it (`gateway`), saved cards
//! (`methods`), plans and subscriptions, payments and refunds, the double-entry ledger,
//! and tax invoices with the ZATCA QR code. HTTP lives in `routes`.

pub mod allotments;
pub mod gateway;
pub mod invoices;
pub mod ledger;
pub mod methods;
pub mod money;
pub mod notices;
pub mod payments;
pub mod plans;
pub mod refunds;
pub mod replay;
pub mod routes;
pub mod subscriptions;

pub use payments::Billing;
