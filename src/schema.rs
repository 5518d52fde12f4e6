// @generated automatically by Diesel CLI.

diesel::table! {
    cities (slug) {
        slug -> Text,
        name_ar -> Text,
        name_en -> Text,
        centre_lat -> Float8,
        centre_lon -> Float8,
        landmark_ar -> Nullable<Text>,
        landmark_en -> Nullable<Text>,
        landmark_lat -> Nullable<Float8>,
        landmark_lon -> Nullable<Float8>,
    }
}

diesel::table! {
    account_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        purpose -> Text,
        email -> Text,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        actor_id -> Uuid,
        actor_role -> Text,
        on_behalf_of -> Nullable<Uuid>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        request_id -> Nullable<Text>,
        details -> Jsonb,
        at -> Timestamptz,
    }
}

diesel::table! {
    booking_rooms (booking_id, room_no) {
        booking_id -> Uuid,
        room_no -> Int4,
        adults -> Int4,
        children -> Array<Int4>,
        lead_guest -> Text,
    }
}

diesel::table! {
    booking_events (id) {
        id -> Int8,
        booking_id -> Uuid,
        actor_id -> Nullable<Uuid>,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        request_id -> Nullable<Text>,
        at -> Timestamptz,
        details -> Nullable<Jsonb>,
    }
}

diesel::table! {
    booking_fee_discounts (booking_id) {
        booking_id -> Uuid,
        amount -> Numeric,
    }
}

diesel::table! {
    booking_changes (id) {
        id -> Uuid,
        booking_id -> Uuid,
        status -> Text,
        decided_on -> Timestamptz,
        terms -> Jsonb,
        provider_ref -> Nullable<Text>,
        change_fee -> Numeric,
        difference -> Numeric,
        requested_by -> Nullable<Uuid>,
        failure -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    booking_no_shows (booking_id) {
        booking_id -> Uuid,
        fee -> Numeric,
        marked_by -> Nullable<Uuid>,
        marked_at -> Timestamptz,
        waived_at -> Nullable<Timestamptz>,
        waived_by -> Nullable<Uuid>,
        waiver_reason -> Nullable<Text>,
    }
}

diesel::table! {
    booking_patients (booking_id) {
        booking_id -> Uuid,
        full_name -> Text,
        birth_date -> Date,
        id_type -> Text,
        id_number -> Text,
        passport_country -> Nullable<Text>,
    }
}

// `bookings.period` (GENERATED from starts_at and ends_at, for range queries in SQL) is left
// out: nothing here reads it, and diesel's tables stop at 32 columns without a feature that
// slows every build.
diesel::table! {
    bookings (id) {
        id -> Uuid,
        reference -> Text,
        customer_id -> Uuid,
        provider_id -> Uuid,
        unit_id -> Nullable<Uuid>,
        unit_code -> Text,
        slot_ref -> Nullable<Text>,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        quantity -> Int4,
        guests -> Nullable<Int4>,
        status -> Text,
        hold_expires_at -> Nullable<Timestamptz>,
        channel -> Text,
        created_by -> Nullable<Uuid>,
        provider_ref -> Nullable<Text>,
        currency -> Text,
        provider_price -> Numeric,
        service_fee -> Numeric,
        vat -> Numeric,
        total -> Numeric,
        refund_amount -> Nullable<Numeric>,
        contact_name -> Text,
        contact_phone -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        provider_ack -> Nullable<Text>,
        provider_acked_at -> Nullable<Timestamptz>,
        flagged_at -> Nullable<Timestamptz>,
        unit_name_ar -> Text,
        unit_name_en -> Text,
    }
}

diesel::table! {
    customers (id) {
        id -> Uuid,
        user_id -> Nullable<Uuid>,
        full_name -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        locale -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        gateway -> Nullable<Text>,
        gateway_customer_ref -> Nullable<Text>,
        trial_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    idempotency_keys (caller, key) {
        caller -> Text,
        key -> Text,
        request_hash -> Bytea,
        response_status -> Nullable<Int2>,
        response_content_type -> Nullable<Text>,
        response_body -> Nullable<Bytea>,
        created_at -> Timestamptz,
        locked_at -> Timestamptz,
    }
}

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
    jobs (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        dedup_key -> Nullable<Text>,
        state -> Text,
        run_at -> Timestamptz,
        attempts -> Int4,
        max_attempts -> Int4,
        locked_until -> Nullable<Timestamptz>,
        locked_by -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
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
    provider_uncertainties (id) {
        id -> Uuid,
        booking_id -> Uuid,
        step -> Text,
        reference -> Text,
        opened_at -> Timestamptz,
        attempts -> Int4,
        resolved_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
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
        cancellation_policy -> Jsonb,
        webhook_disabled_at -> Nullable<Timestamptz>,
        prepaid -> Bool,
        change_policy -> Jsonb,
        no_show_fee -> Text,
        address_ar -> Text,
        address_en -> Text,
        check_in_time -> Nullable<Time>,
        check_out_time -> Nullable<Time>,
        latitude -> Nullable<Float8>,
        longitude -> Nullable<Float8>,
        photo_etag -> Nullable<Text>,
    }
}

diesel::table! {
    provider_photos (provider_id) {
        provider_id -> Uuid,
        content_type -> Text,
        bytes -> Bytea,
        etag -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    rate_counts (key) {
        key -> Text,
        window_started_at -> Timestamptz,
        count -> Int4,
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
        session_started_at -> Timestamptz,
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
        code -> Text,
        occupancy_rates -> Nullable<Jsonb>,
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
        provider_id -> Nullable<Uuid>,
        email_verified_at -> Nullable<Timestamptz>,
        session_generation -> Int4,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        provider_id -> Uuid,
        message_id -> Text,
        event_type -> Text,
        payload -> Jsonb,
        attempt -> Int4,
        status_code -> Nullable<Int4>,
        latency_ms -> Int4,
        error -> Nullable<Text>,
        at -> Timestamptz,
    }
}

diesel::table! {
    gateway_events (gateway, event_id) {
        gateway -> Text,
        event_id -> Text,
        kind -> Text,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    invoice_sequences (series, year) {
        series -> Text,
        year -> Int4,
        last -> Int4,
    }
}

diesel::table! {
    invoices (id) {
        id -> Uuid,
        number -> Text,
        series -> Text,
        year -> Int4,
        seq -> Int4,
        customer_id -> Uuid,
        payment_id -> Uuid,
        refund_id -> Nullable<Uuid>,
        original_invoice_id -> Nullable<Uuid>,
        buyer_name -> Text,
        seller -> Jsonb,
        lines -> Jsonb,
        subtotal -> Numeric,
        vat_total -> Numeric,
        total -> Numeric,
        qr -> Text,
        issued_at -> Timestamptz,
        subject -> Nullable<Jsonb>,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Int8,
        transaction_id -> Int8,
        account -> Text,
        amount -> Numeric,
    }
}

diesel::table! {
    ledger_transactions (id) {
        id -> Int8,
        kind -> Text,
        payment_id -> Nullable<Uuid>,
        refund_id -> Nullable<Uuid>,
        invoice_id -> Nullable<Uuid>,
        posted_at -> Timestamptz,
    }
}

diesel::table! {
    payment_methods (id) {
        id -> Uuid,
        customer_id -> Uuid,
        gateway -> Text,
        gateway_ref -> Text,
        brand -> Text,
        last4 -> Text,
        exp_month -> Int4,
        exp_year -> Int4,
        created_at -> Timestamptz,
        fingerprint -> Nullable<Text>,
        saved_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    payments (id) {
        id -> Uuid,
        customer_id -> Uuid,
        purpose -> Text,
        booking_id -> Nullable<Uuid>,
        subscription_id -> Nullable<Uuid>,
        period_start -> Nullable<Timestamptz>,
        amount -> Numeric,
        refunded -> Numeric,
        currency -> Text,
        lines -> Jsonb,
        status -> Text,
        gateway -> Text,
        gateway_ref -> Nullable<Text>,
        action_url -> Nullable<Text>,
        payment_method_id -> Nullable<Uuid>,
        failure_code -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        booking_change_id -> Nullable<Uuid>,
        package_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    plans (id) {
        id -> Uuid,
        code -> Text,
        name_ar -> Text,
        name_en -> Text,
        price -> Numeric,
        billing_interval -> Text,
        trial_days -> Int4,
        fee_discount_percent -> Int4,
        bookings_per_period -> Nullable<Int4>,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    refunds (id) {
        id -> Uuid,
        payment_id -> Uuid,
        amount -> Numeric,
        reason -> Text,
        status -> Text,
        gateway_ref -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        credit_line -> Nullable<Text>,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Uuid,
        customer_id -> Uuid,
        plan_id -> Uuid,
        status -> Text,
        payment_method_id -> Nullable<Uuid>,
        current_period_start -> Timestamptz,
        current_period_end -> Timestamptz,
        cancel_at_period_end -> Bool,
        canceled_at -> Nullable<Timestamptz>,
        dunning_attempts -> Int4,
        next_attempt_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    zatca_chain (device) {
        device -> Text,
        last_icv -> Int8,
        last_hash -> Text,
    }
}

diesel::table! {
    zatca_documents (invoice_id) {
        invoice_id -> Uuid,
        icv -> Int8,
        pih -> Text,
        hash -> Text,
        xml -> Text,
        report_status -> Text,
        report_messages -> Jsonb,
        report_attempts -> Int4,
        last_error -> Nullable<Text>,
        reported_at -> Nullable<Timestamptz>,
        issued_at -> Timestamptz,
    }
}

diesel::table! {
    sms_consents (customer_id) {
        customer_id -> Uuid,
        opted_in_at -> Nullable<Timestamptz>,
        opted_out_at -> Nullable<Timestamptz>,
        source -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    sms_messages (id) {
        id -> Uuid,
        customer_id -> Uuid,
        to_phone -> Text,
        body -> Text,
        purpose -> Text,
        encoding -> Text,
        segments -> Int4,
        status -> Text,
        dedup_key -> Text,
        provider_message_id -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        status_at -> Timestamptz,
    }
}

diesel::table! {
    packages (id) {
        id -> Uuid,
        reference -> Text,
        customer_id -> Uuid,
        created_by -> Nullable<Uuid>,
        phase -> Text,
        flagged_at -> Nullable<Timestamptz>,
        flag_reason -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    waitlist_entries (id) {
        id -> Uuid,
        customer_id -> Uuid,
        provider_id -> Uuid,
        unit_id -> Uuid,
        kind -> Text,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        rooms -> Int4,
        guests -> Nullable<Int4>,
        patient_name -> Nullable<Text>,
        patient_birth_date -> Nullable<Date>,
        patient_id_type -> Nullable<Text>,
        patient_id_number -> Nullable<Text>,
        patient_passport_country -> Nullable<Text>,
        status -> Text,
        booking_id -> Nullable<Uuid>,
        channel -> Text,
        created_by -> Nullable<Uuid>,
        joined_at -> Timestamptz,
        offered_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    package_parts (package_id, part) {
        package_id -> Uuid,
        part -> Text,
        booking_id -> Uuid,
    }
}

diesel::table! {
    package_steps (id) {
        id -> Int8,
        package_id -> Uuid,
        step -> Text,
        outcome -> Text,
        detail -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    refund_shares (refund_id) {
        refund_id -> Uuid,
        booking_id -> Uuid,
    }
}

diesel::table! {
    payment_allotments (payment_id, booking_id) {
        payment_id -> Uuid,
        booking_id -> Uuid,
        amount -> Numeric,
        refunded -> Numeric,
    }
}

diesel::table! {
    client_links (id) {
        id -> Uuid,
        kind -> Text,
        booking_id -> Nullable<Uuid>,
        token_hash -> Bytea,
        sent_by -> Uuid,
        created_at -> Timestamptz,
        opened_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
        used_at -> Nullable<Timestamptz>,
        used_from -> Nullable<Text>,
        used_user_agent -> Nullable<Text>,
        payment_id -> Nullable<Uuid>,
        retired_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(audit_log -> customers (on_behalf_of));
diesel::joinable!(account_tokens -> users (user_id));
diesel::joinable!(audit_log -> users (actor_id));
diesel::joinable!(booking_events -> bookings (booking_id));
diesel::joinable!(booking_no_shows -> bookings (booking_id));
diesel::joinable!(booking_events -> users (actor_id));
diesel::joinable!(booking_patients -> bookings (booking_id));
diesel::joinable!(bookings -> customers (customer_id));
diesel::joinable!(bookings -> providers (provider_id));
diesel::joinable!(bookings -> units (unit_id));
diesel::joinable!(bookings -> users (created_by));
diesel::joinable!(inventory_cells -> units (unit_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(units -> providers (provider_id));
diesel::joinable!(provider_photos -> providers (provider_id));
diesel::joinable!(users -> providers (provider_id));
diesel::joinable!(webhook_deliveries -> providers (provider_id));
diesel::joinable!(invoices -> customers (customer_id));
diesel::joinable!(invoices -> payments (payment_id));
diesel::joinable!(invoices -> refunds (refund_id));
diesel::joinable!(ledger_entries -> ledger_transactions (transaction_id));
diesel::joinable!(payment_methods -> customers (customer_id));
diesel::joinable!(booking_changes -> bookings (booking_id));
diesel::joinable!(booking_fee_discounts -> bookings (booking_id));
diesel::joinable!(booking_rooms -> bookings (booking_id));
diesel::joinable!(payments -> bookings (booking_id));
diesel::joinable!(package_parts -> packages (package_id));
diesel::joinable!(package_parts -> bookings (booking_id));
diesel::joinable!(package_steps -> packages (package_id));
diesel::joinable!(payment_allotments -> payments (payment_id));
diesel::joinable!(refund_shares -> refunds (refund_id));
diesel::joinable!(provider_uncertainties -> bookings (booking_id));
diesel::joinable!(payments -> customers (customer_id));
diesel::joinable!(payments -> subscriptions (subscription_id));
diesel::joinable!(refunds -> payments (payment_id));
diesel::joinable!(sms_consents -> customers (customer_id));
diesel::joinable!(sms_messages -> customers (customer_id));
diesel::joinable!(client_links -> bookings (booking_id));
diesel::joinable!(client_links -> payments (payment_id));
diesel::joinable!(client_links -> users (sent_by));
diesel::joinable!(subscriptions -> customers (customer_id));
diesel::joinable!(subscriptions -> plans (plan_id));
diesel::joinable!(waitlist_entries -> bookings (booking_id));
diesel::joinable!(waitlist_entries -> customers (customer_id));
diesel::joinable!(waitlist_entries -> units (unit_id));
diesel::joinable!(zatca_documents -> invoices (invoice_id));

diesel::allow_tables_to_appear_in_same_query!(
    account_tokens,
    audit_log,
    booking_changes,
    client_links,
    booking_events,
    booking_fee_discounts,
    booking_rooms,
    booking_no_shows,
    booking_patients,
    bookings,
    cities,
    customers,
    gateway_events,
    idempotency_keys,
    invoice_sequences,
    invoices,
    inventory_cells,
    jobs,
    ledger_entries,
    ledger_transactions,
    login_throttles,
    payment_methods,
    package_parts,
    package_steps,
    packages,
    payment_allotments,
    payments,
    plans,
    provider_photos,
    provider_uncertainties,
    providers,
    rate_counts,
    refresh_tokens,
    refund_shares,
    refunds,
    sms_consents,
    sms_messages,
    subscriptions,
    units,
    users,
    waitlist_entries,
    webhook_deliveries,
    zatca_chain,
    zatca_documents,
);
