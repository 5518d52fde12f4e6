//! HTTP for money: plans (`/v1/plans`, admins under `/v1/admin/plans`), subscriptions,
//! paying a booking, payments and refunds, saved cards, invoices, the Stripe webhook and
//! the sandbox gateway's 3-D Secure page.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::Billing;
use super::gateway::{ChargeOutcome, Gateway};
use super::invoices::{self, InvoiceView};
use super::methods::{self, MethodChoice, MethodView};
use super::plans::{self, PlanInput, PlanView};
use crate::auth::Caller;
use crate::auth::caller::{Admin, Staff};
use crate::db::PgPool;
use crate::db::run_blocking;
use crate::domain::{OFFICE_TIMEZONE, text};
use crate::error::{ApiError, FieldError};
use crate::http::cursor;
use crate::http::query::QueryParams;
use crate::http::{Json, RouteTable};
use crate::idempotency::{IdempotencyClaim, require_key};
use crate::schema::gateway_events;

pub fn routes(table: &mut RouteTable) {
    table
        .get("/v1/plans", plans_list)
        .post("/v1/admin/plans", plans_create)
        .patch("/v1/admin/plans/{code}", plans_update)
        .post("/v1/subscriptions", subscriptions_create)
        .get("/v1/subscriptions/me", subscriptions_me)
        .post("/v1/subscriptions/me/cancel", subscriptions_cancel)
        .post("/v1/subscriptions/me/change", subscriptions_change)
        .get("/v1/payments/{payment_id}", payments_get)
        .post("/v1/payments/{payment_id}/refunds", payments_refund)
        .get("/v1/payment-methods", payment_methods_list)
        .get("/v1/invoices", invoices_list)
        .get("/v1/invoices/{invoice_id}", invoices_get)
        .get("/v1/invoices/{invoice_id}/print", invoices_print)
        .get("/v1/invoices/{invoice_id}/xml", invoices_xml)
        .get("/v1/admin/zatca", zatca_status)
        .post("/v1/payments/webhooks/stripe", stripe_webhook)
        .get("/sandbox/3ds/{charge_ref}", sandbox_3ds_page)
        .post("/sandbox/3ds/{charge_ref}", sandbox_3ds_answer);
}

// --- plans

async fn plans_list(
    req: HttpRequest,
    billing: web::Data<Billing>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let all = params
        .parsed::<bool>("include_inactive", "true or false")
        .unwrap_or(false);
    params.finish()?;
    let vat = billing.vat_rate;
    let plans = run_blocking(&pool, move |conn| Ok(plans::list(conn, all)?)).await?;
    let plans: Vec<PlanView> = plans.iter().map(|p| PlanView::new(p, vat)).collect();
    Ok(HttpResponse::Ok().json(json!({ "plans": plans })))
}

async fn plans_create(
    billing: web::Data<Billing>,
    pool: web::Data<PgPool>,
    _admin: Admin,
    Json(body): Json<PlanInput>,
) -> Result<HttpResponse, ApiError> {
    let changes = body.validate(true)?;
    let vat = billing.vat_rate;
    let plan = run_blocking(&pool, move |conn| Ok(plans::insert(conn, &changes)?)).await?;
    Ok(HttpResponse::Created().json(PlanView::new(&plan, vat)))
}

async fn plans_update(
    billing: web::Data<Billing>,
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<String>,
    Json(body): Json<PlanInput>,
) -> Result<HttpResponse, ApiError> {
    let changes = body.validate(false)?;
    let code = path.into_inner();
    let vat = billing.vat_rate;
    let plan = run_blocking(&pool, move |conn| Ok(plans::update(conn, &code, &changes)?)).await?;
    Ok(HttpResponse::Ok().json(PlanView::new(&plan, vat)))
}

// --- subscriptions

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    plan: String,
    /// Staff act for a client.
    customer_id: Option<Uuid>,
    payment_method_id: Option<Uuid>,
    card: Option<methods::CardFields>,
    token: Option<String>,
}

async fn subscriptions_create(
    req: HttpRequest,
    billing: web::Data<Billing>,
    caller: Caller,
    Json(body): Json<SubscribeRequest>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let choice = MethodChoice {
        payment_method_id: body.payment_method_id,
        card: body.card,
        token: body.token,
    };
    let mut errors = Vec::new();
    let method =
        if choice.payment_method_id.is_none() && choice.card.is_none() && choice.token.is_none() {
            None // a free plan or a trial may come without a card; the service decides
        } else {
            choice.validate("", Utc::now(), &mut errors)
        };
    if body.plan.trim().is_empty() {
        errors.push(FieldError::new("plan", "is required"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let subscription = billing
        .subscribe(caller.actor(&req), body.customer_id, body.plan, method)
        .await?;
    Ok(HttpResponse::Created().json(subscription))
}

fn customer_param(req: &HttpRequest) -> Result<Option<Uuid>, ApiError> {
    let mut params = QueryParams::from_request(req)?;
    let customer_id = params.parsed::<Uuid>("customer_id", "a customer id");
    params.finish()?;
    Ok(customer_id)
}

async fn subscriptions_me(
    req: HttpRequest,
    billing: web::Data<Billing>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer_param(&req)?;
    if caller.role != crate::auth::Role::Customer && customer_id.is_none() {
        return Err(ApiError::InvalidQuery(vec![FieldError::new(
            "customer_id",
            "is required for staff",
        )]));
    }
    let subscription = billing
        .my_subscription(caller.actor(&req), customer_id)
        .await?;
    Ok(HttpResponse::Ok().json(subscription))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CancelAt {
    PeriodEnd,
    Now,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelSubscriptionRequest {
    at: CancelAt,
    customer_id: Option<Uuid>,
}

async fn subscriptions_cancel(
    req: HttpRequest,
    billing: web::Data<Billing>,
    caller: Caller,
    Json(body): Json<CancelSubscriptionRequest>,
) -> Result<HttpResponse, ApiError> {
    let subscription = billing
        .cancel_subscription(
            caller.actor(&req),
            body.customer_id,
            matches!(body.at, CancelAt::PeriodEnd),
        )
        .await?;
    Ok(HttpResponse::Ok().json(subscription))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanRequest {
    plan: String,
    customer_id: Option<Uuid>,
}

async fn subscriptions_change(
    req: HttpRequest,
    billing: web::Data<Billing>,
    caller: Caller,
    Json(body): Json<ChangePlanRequest>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let subscription = billing
        .change_plan(
            caller.actor(&req),
            body.customer_id,
            body.plan,
            Utc::now(),
            IdempotencyClaim::of(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(subscription))
}

// --- booking payments, payments, refunds, cards

async fn payments_get(
    req: HttpRequest,
    billing: web::Data<Billing>,
    pool: web::Data<PgPool>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor(&req);
    let payment = billing.get(&actor, path.into_inner()).await?;
    let id = payment.id;
    let refunds =
        run_blocking(&pool, move |conn| Ok(super::refunds::of_payment(conn, id)?)).await?;
    let refunds: Vec<super::refunds::RefundView> = refunds.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(json!({ "payment": payment, "refunds": refunds })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    reason: String,
}

async fn payments_refund(
    req: HttpRequest,
    billing: web::Data<Billing>,
    staff: Staff,
    path: web::Path<Uuid>,
    Json(body): Json<RefundRequest>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let mut errors = Vec::new();
    if body.amount <= Decimal::ZERO {
        errors.push(FieldError::new("amount", "must be more than 0"));
    } else if body.amount.normalize().scale() > 2 {
        errors.push(FieldError::new("amount", "must have at most 2 decimals"));
    }
    let reason = text::note(&body.reason, 500)
        .map_err(|reason| errors.push(FieldError::new("reason", reason)))
        .ok();
    let Some(reason) = reason.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let refund = billing
        .refund_payment(staff.0.actor(&req), path.into_inner(), body.amount, reason)
        .await?;
    Ok(HttpResponse::Accepted().json(refund))
}

async fn payment_methods_list(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer_param(&req)?;
    let actor = caller.actor(&req);
    let cards = run_blocking(&pool, move |conn| {
        let customer = match (actor.customer_scope()?, customer_id) {
            (Some(_), Some(_)) => return Err(ApiError::Forbidden),
            (Some(user_id), None) => {
                let user = crate::auth::store::find_active_user(conn, user_id)?;
                crate::customers::customer_for_user(conn, &user.into())?.id
            }
            (None, Some(id)) => id,
            (None, None) => {
                return Err(ApiError::InvalidQuery(vec![FieldError::new(
                    "customer_id",
                    "is required for staff",
                )]));
            }
        };
        Ok(methods::list(conn, customer)?)
    })
    .await?;
    let cards: Vec<MethodView> = cards.iter().map(MethodView::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "payment_methods": cards })))
}

// --- invoices

/// The customer whose invoices a caller sees (`None`: staff see all).
fn invoice_scope(
    conn: &mut PgConnection,
    scope: Option<Uuid>,
) -> Result<Option<Option<Uuid>>, ApiError> {
    Ok(match scope {
        None => None,
        Some(user_id) => {
            Some(crate::customers::store::find_customer_of_user(conn, user_id)?.map(|c| c.id))
        }
    })
}

async fn invoices_list(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let customer_id = params.parsed::<Uuid>("customer_id", "a customer id");
    let limit = params.limit();
    let after = params.cursor::<Uuid>();
    params.finish()?;
    let scope = caller.actor(&req).customer_scope()?;
    let (rows, more) = run_blocking(&pool, move |conn| {
        let customer = match (invoice_scope(conn, scope)?, customer_id) {
            (Some(_), Some(_)) => return Err(ApiError::Forbidden),
            (Some(None), None) => return Ok((Vec::new(), false)),
            (Some(Some(own)), None) => Some(own),
            (None, filter) => filter,
        };
        let mut rows = invoices::list_visible(conn, customer, after, limit + 1)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        Ok((invoices::views(conn, rows)?, more))
    })
    .await?;
    let next = more
        .then(|| rows.last().map(|r| cursor::encode(r.issued_at, r.id)))
        .flatten();
    let invoices: Vec<InvoiceView> = rows;
    Ok(HttpResponse::Ok().json(json!({ "invoices": invoices, "next_cursor": next })))
}

async fn find_invoice(
    pool: &PgPool,
    req: &HttpRequest,
    caller: Caller,
    id: Uuid,
) -> Result<InvoiceView, ApiError> {
    let scope = caller.actor(req).customer_scope()?;
    run_blocking(pool, move |conn| {
        let customer = match invoice_scope(conn, scope)? {
            Some(None) => return Err(ApiError::NotFound),
            Some(Some(own)) => Some(own),
            None => None,
        };
        let row = invoices::find_visible(conn, id, customer)?;
        Ok(invoices::views(conn, vec![row])?.remove(0))
    })
    .await
}

async fn invoices_get(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let invoice = find_invoice(&pool, &req, caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(invoice))
}

async fn invoices_print(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let invoice = find_invoice(&pool, &req, caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(invoices::html::render(&invoice, OFFICE_TIMEZONE)))
}

/// The invoice's ZATCA document: UBL 2.1 XML with its stamp and QR code.
async fn invoices_xml(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let invoice = find_invoice(&pool, &req, caller, path.into_inner()).await?;
    let id = invoice.id;
    let xml = run_blocking(&pool, move |conn| {
        Ok(invoices::zatca::chain::xml_of(conn, id)?)
    })
    .await?
    .ok_or_else(|| ApiError::Conflict {
        code: "invoice.issued_before_phase2",
        detail: "this invoice was issued before ZATCA phase 2 and has no XML document".into(),
    })?;
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{}.xml\"", invoice.number),
        ))
        .body(xml))
}

/// ZATCA reporting at a glance: what is late (unreported after 20 hours of the 24 ZATCA
/// allows), what ZATCA rejected and why, and how many documents stand where.
async fn zatca_status(
    req: HttpRequest,
    billing: web::Data<Billing>,
    pool: web::Data<PgPool>,
    _admin: Admin,
) -> Result<HttpResponse, ApiError> {
    QueryParams::from_request(&req)?.finish()?;
    let attentions = run_blocking(&pool, move |conn| {
        Ok(invoices::zatca::chain::needing_attention(
            conn,
            Utc::now(),
            chrono::Duration::hours(20),
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "reporting": billing.zatca.is_some(),
        "overdue": attentions.overdue,
        "rejected": attentions.rejected,
        "counts": attentions.counts,
    })))
}

// --- gateways talking back

/// Stripe's events, verified by `Stripe-Signature` and applied once each.
async fn stripe_webhook(
    req: HttpRequest,
    billing: web::Data<Billing>,
    pool: web::Data<PgPool>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Gateway::Stripe(stripe) = billing.gateway.as_ref() else {
        return Err(ApiError::NotFound);
    };
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let event = stripe.verify_webhook(signature, &body).map_err(|error| {
        tracing::warn!(%error, "refused a Stripe webhook");
        ApiError::Validation(vec![FieldError::new(
            "Stripe-Signature",
            format!("refused: {error}"),
        )])
    })?;
    let event_id = event.id.clone();
    let seen = run_blocking(&pool, move |conn| {
        Ok(gateway_events::table
            .find(("stripe", event_id))
            .count()
            .get_result::<i64>(conn)?
            > 0)
    })
    .await?;
    if seen {
        return Ok(HttpResponse::Ok().json(json!({ "received": true, "duplicate": true })));
    }
    let outcome = match (event.kind.as_str(), event.object_id.clone()) {
        ("payment_intent.succeeded", Some(id)) => {
            Some((id.clone(), ChargeOutcome::Succeeded { gateway_ref: id }))
        }
        ("payment_intent.payment_failed", Some(id)) => Some((
            id.clone(),
            ChargeOutcome::Declined {
                gateway_ref: Some(id),
                code: event
                    .failure_code
                    .clone()
                    .unwrap_or_else(|| "card_declined".into()),
                message: event
                    .failure_message
                    .clone()
                    .unwrap_or_else(|| "the card was declined".into()),
            },
        )),
        _ => None,
    };
    if let Some((gateway_ref, outcome)) = outcome {
        billing.apply_gateway_outcome(gateway_ref, outcome).await?;
    }
    let (id, kind) = (event.id, event.kind);
    run_blocking(&pool, move |conn| {
        diesel::insert_into(gateway_events::table)
            .values((
                gateway_events::gateway.eq("stripe"),
                gateway_events::event_id.eq(id),
                gateway_events::kind.eq(kind),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "received": true })))
}

fn sandbox_only(billing: &Billing) -> Result<(), ApiError> {
    match billing.gateway.as_ref() {
        Gateway::Sandbox(_) => Ok(()),
        _ => Err(ApiError::NotFound),
    }
}

/// The sandbox's stand-in for a bank's 3-D Secure page.
async fn sandbox_3ds_page(
    billing: web::Data<Billing>,
    path: web::Path<String>,
    back: web::Query<SandboxBack>,
) -> Result<HttpResponse, ApiError> {
    sandbox_only(&billing)?;
    // The form posts back to where the page was opened, `?back=` and all.
    let charge_ref = crate::http::escape_html(&format!("{}{}", path, back.query()));
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            r#"<!doctype html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>التحقق من البطاقة / Card verification (sandbox)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}}button{{font-size:1rem;padding:.6rem 1.2rem;margin:.3rem}}</style></head>
<body>
<h1>التحقق من البطاقة <span lang="en" dir="ltr">/ Card verification</span></h1>
<p>بيئة تجريبية: لا تُنقل أي أموال. <span lang="en" dir="ltr">Sandbox: no money moves.</span></p>
<form method="post" action="/sandbox/3ds/{charge_ref}">
<button name="result" value="approve" type="submit">تأكيد / Approve</button>
<button name="result" value="deny" type="submit">رفض / Deny</button>
</form>
</body></html>"#
        )))
}

/// The page of the site a 3-D Secure step returns to (`/pay/<token>`), when not the home
/// page; anything but a page of the site is refused.
#[derive(Debug, Deserialize)]
pub struct SandboxBack {
    #[serde(default, deserialize_with = "site_page")]
    back: Option<String>,
}

impl SandboxBack {
    fn query(&self) -> String {
        self.back
            .as_ref()
            .map(|page| format!("?back={page}"))
            .unwrap_or_default()
    }
}

fn site_page<'de, D: serde::Deserializer<'de>>(from: D) -> Result<Option<String>, D::Error> {
    let page = String::deserialize(from)?;
    if crate::billing::gateway::sandbox::is_site_page(&page) {
        Ok(Some(page))
    } else {
        Err(serde::de::Error::custom("back must be a page of the site"))
    }
}

#[derive(Debug, Deserialize)]
pub struct SandboxAnswer {
    result: String,
}

/// The sandbox's bank answering: applied as the gateway's webhook would be, then the
/// browser goes back to the site.
async fn sandbox_3ds_answer(
    billing: web::Data<Billing>,
    path: web::Path<String>,
    back: web::Query<SandboxBack>,
    form: web::Form<SandboxAnswer>,
) -> Result<HttpResponse, ApiError> {
    sandbox_only(&billing)?;
    let charge_ref = path.into_inner();
    let outcome = match form.result.as_str() {
        "approve" => ChargeOutcome::Succeeded {
            gateway_ref: charge_ref.clone(),
        },
        "deny" => ChargeOutcome::Declined {
            gateway_ref: Some(charge_ref.clone()),
            code: "authentication_failed".into(),
            message: "the cardholder did not pass 3-D Secure".into(),
        },
        _ => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "result",
                "must be approve or deny",
            )]));
        }
    };
    let payment = billing
        .apply_gateway_outcome(charge_ref, outcome)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut target = billing.return_url.clone();
    target.push(if target.contains('?') { '&' } else { '?' });
    target.push_str(&format!(
        "payment={}&status={}",
        payment.id,
        payment.status.as_str()
    ));
    if let Some(page) = &back.back {
        target.push('#');
        target.push_str(page);
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish())
}
