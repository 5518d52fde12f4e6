//! Money: prices, fees and VAT. (Plans, payments, the ledger and invoices join here.)

pub mod money;
