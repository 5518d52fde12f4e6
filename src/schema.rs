// @generated automatically by Diesel CLI.

diesel::table! {
    inventory_cells (unit_id, starts_at) {
        unit_id -> Uuid,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        capacity -> Int4,
        reserved -> Int4,
    }
}

diesel::table! {
    login_throttles (subject) {
        subject -> Text,
        failures -> Int4,
        last_failure_at -> Timestamptz,
        blocked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    providers (id) {
        id -> Uuid,
        kind -> Text,
        name_ar -> Text,
        name_en -> Text,
        city -> Text,
        timezone -> Text,
        adapter -> Text,
        adapter_settings -> Jsonb,
        webhook_url -> Nullable<Text>,
        webhook_secret -> Text,
        previous_webhook_secret -> Nullable<Text>,
        webhook_secret_rotated_at -> Nullable<Timestamptz>,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        family_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    units (id) {
        id -> Uuid,
        provider_id -> Uuid,
        kind -> Text,
        name_ar -> Text,
        name_en -> Text,
        max_guests -> Nullable<Int4>,
        rooms -> Nullable<Int4>,
        nightly_price -> Nullable<Numeric>,
        specialty -> Nullable<Text>,
        practitioner -> Nullable<Text>,
        slot_minutes -> Nullable<Int4>,
        price -> Nullable<Numeric>,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        full_name -> Text,
        phone -> Nullable<Text>,
        locale -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        disabled_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(inventory_cells -> units (unit_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(units -> providers (provider_id));

diesel::allow_tables_to_appear_in_same_query!(
    inventory_cells,
    login_throttles,
    providers,
    refresh_tokens,
    units,
    users,
);
