use diesel::{AsExpression, FromSqlRow, sql_types::Text};
use serde::{Deserialize, Serialize};

/// The language a person reads us in: Arabic first, English by choice.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    AsExpression,
    FromSqlRow,
)]
#[serde(rename_all = "lowercase")]
#[diesel(sql_type = Text)]
pub enum Locale {
    #[default]
    Ar,
    En,
}

crate::text_enum!(Locale { Ar => "ar", En => "en" });
