//! The router: every path of http-api.md, authenticated, with a body size limit.

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;

use crate::routes::{devices, export, payments, plans, registrations, registry, reports, system};
use crate::state::AppState;

/// The whole application, testable without a socket (`tower::ServiceExt::oneshot`).
pub fn app(state: AppState, body_limit: usize) -> Router {
    let v1 = Router::new()
        .route("/clusters", post(registry::create_cluster).get(registry::list_hierarchy))
        .route("/areas", post(registry::create_area))
        .route("/villages", post(registry::create_village))
        .route("/manufacturers", post(registry::create_manufacturer))
        .route("/tariffs", post(registry::create_tariff))
        .route("/registrations", post(registrations::register))
        .route("/customers", get(devices::customers))
        .route("/customers/{id}", get(devices::customer))
        .route("/customers/{id}/plans", post(registrations::sell_plan))
        .route("/plans/{id}", get(plans::get_plan))
        .route("/plans/{id}/total", put(plans::edit_total))
        .route("/plans/{id}/installments/{number}", put(plans::edit_installment))
        .route("/devices/{serial}", get(devices::get_device))
        .route("/devices/{serial}/owner", put(devices::reassign))
        .route("/devices/{serial}/tokens", get(devices::tokens).post(devices::operator_token))
        .route("/payments/validate", post(payments::validate))
        .route("/payments", post(payments::post).get(payments::list))
        .route("/payments/refused", get(payments::refused))
        .route("/payments/unmatched", get(payments::unmatched))
        .route("/payments/unmatched/{id}/assign", post(payments::assign))
        .route("/payments/{payment_id}", get(payments::get))
        .route("/reports/revenue", get(reports::revenue))
        .route("/reports/energy", get(reports::energy))
        .route("/reports/debt", get(reports::debt))
        .route("/reports/par", get(reports::par))
        .route("/reports/collection", get(reports::collection))
        .route("/export", get(export::export))
        .route("/api-keys", post(system::create_key))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::require_key));
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .nest("/v1", v1)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
