//! The router: every path of http-api.md, authenticated, with a body size limit. The same table builds the
//! router and the OpenAPI document (`GET /v1/openapi.json`), so the published API cannot drift from the
//! served one.

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::routes::{
    agent_sync, agents, appliance_types, audit, bulk_tokens, devices, export, imports, payments, plans, receipts,
    reconciliations, registrations, registry, reports, statements, system, tariffs,
};
use crate::state::AppState;
use crate::{notify, providers};

/// Declares the `/v1` routes once: `METHOD "path" => handler, "tag", "summary";`.
macro_rules! v1_routes {
    ($($method:ident $path:literal => $handler:path, $tag:literal, $summary:literal;)*) => {
        fn v1_router() -> Router<AppState> {
            let router = Router::new();
            $(let router = router.route($path, upload_limit($path, $method($handler)));)*
            router
        }

        /// `(method, path, tag, summary)` of every `/v1` route.
        pub const V1_ROUTES: &[(&str, &str, &str, &str)] = &[$((stringify!($method), $path, $tag, $summary)),*];
    };
}

v1_routes! {
    post "/clusters" => registry::create_cluster, "registry", "Create a cluster";
    get "/clusters" => registry::clusters, "registry", "Clusters by name (paged)";
    get "/clusters/{id}" => registry::cluster, "registry", "One cluster";
    patch "/clusters/{id}" => registry::patch_cluster, "registry", "Rename a cluster";
    post "/areas" => registry::create_area, "registry", "Create a catchment area (MPM mini-grid) under a cluster";
    get "/areas" => registry::areas, "registry", "Catchment areas by name, optionally of one cluster (paged)";
    get "/areas/{id}" => registry::area, "registry", "One catchment area";
    patch "/areas/{id}" => registry::patch_area, "registry", "Rename a catchment area";
    post "/villages" => registry::create_village, "registry", "Create a village under an area";
    get "/villages" => registry::villages, "registry", "Villages by name, optionally of one area (paged)";
    get "/villages/{id}" => registry::village, "registry", "One village";
    patch "/villages/{id}" => registry::patch_village, "registry", "Rename a village";
    post "/manufacturers" => registry::create_manufacturer, "registry", "Create a manufacturer with its device kinds and token scheme";
    get "/manufacturers" => registry::manufacturers, "registry", "Manufacturers by name (paged)";
    get "/manufacturers/{id}" => registry::manufacturer, "registry", "One manufacturer";
    patch "/manufacturers/{id}" => registry::patch_manufacturer, "registry", "Rename a manufacturer";
    post "/tariffs" => tariffs::create_tariff, "registry", "Create a meter tariff; answers its unit price";
    get "/tariffs" => tariffs::tariffs, "registry", "Tariffs by name, each as in force today with its unit price (paged)";
    get "/tariffs/{id}" => tariffs::tariff, "registry", "One tariff as in force today, with every version";
    post "/tariffs/{id}/versions" => tariffs::add_version, "registry", "New prices from a business day on: payments are priced by the version in force on their business day";
    post "/appliance-types" => appliance_types::create, "registry", "Add an appliance type to the catalog: price and default terms";
    get "/appliance-types" => appliance_types::list, "registry", "The appliance catalog by name (paged)";
    get "/appliance-types/{id}" => appliance_types::get, "registry", "One appliance type";
    patch "/appliance-types/{id}" => appliance_types::patch, "registry", "Change an appliance type (plans already sold keep their terms)";
    post "/registrations" => registrations::register, "registry", "Register a customer and a device together, atomically";
    post "/imports/registrations" => imports::import, "registry", "Register customers with their devices and plans from a spreadsheet (CSV or XLSX, as the body or the multipart field `file`; ?dry_run=true, ?mode=valid_rows, ?create_missing=true, ?progress=<id>): each row ok, unchanged or refused with its columns; paid_to_date and opening_credit are kept as opening balances";
    get "/imports/registrations/progress/{id}" => imports::progress, "registry", "How far the import started with ?progress={id} has come: rows done of the total, and whether it finished (kept 10 minutes after)";
    get "/imports/registrations/template.csv" => imports::template, "registry", "The bulk registration spreadsheet's headers and one example row (text/csv)";
    post "/customers" => devices::create_customer, "registry", "Create a customer without a device";
    get "/customers" => devices::customers, "registry", "Search customers by name, surname, phone or national id, newest first (paged)";
    get "/customers/{id}" => devices::customer, "registry", "A customer with devices, plans and credit balances";
    get "/customers/{id}/statement" => statements::statement, "registry", "A customer's statement between two days (?from=&to=&currency=): payments, what each paid, installments due and the running balance; JSON, CSV (Accept: text/csv) or a printable page (Accept: text/html)";
    patch "/customers/{id}" => devices::patch_customer, "registry", "Change a customer's names, phones, village or national id";
    post "/customers/{id}/plans" => registrations::sell_plan, "plans", "Sell an appliance without a device";
    get "/plans/{id}" => plans::get_plan, "plans", "A plan with its installments";
    put "/plans/{id}/total" => plans::edit_total, "plans", "Change a plan's total (MPM's edit rules)";
    put "/plans/{id}/installments/{number}" => plans::edit_installment, "plans", "Change one untouched installment";
    get "/devices/{serial}" => devices::get_device, "devices", "A device with its debts, credit and token count";
    get "/devices" => devices::devices, "devices", "Search devices by serial, with their owner's name and phone (paged)";
    get "/devices/{serial}/snapshot" => devices::snapshot, "devices", "The account as the core sees it now (the dashboard's payment preview)";
    put "/devices/{serial}/owner" => devices::reassign, "devices", "Re-assign a device to another customer";
    put "/devices/{serial}/tariff" => tariffs::move_meter, "devices", "Move a meter to another tariff in the same currency";
    get "/devices/{serial}/tokens" => devices::tokens, "tokens", "A device's token history";
    post "/devices/{serial}/tokens" => devices::operator_token, "tokens", "An operator token (no money moves)";
    post "/tokens/bulk" => bulk_tokens::bulk, "tokens", "One operator token for many devices, all or none, with its reason; answers a CSV of serial, code, count (admin)";
    post "/payments/validate" => payments::validate, "payments", "Would this payment be accepted? No side effects";
    post "/payments" => payments::post, "payments", "Apply a payment exactly once";
    get "/payments" => payments::list, "payments", "Payments, newest first, optionally of one serial and between two business days (paged)";
    get "/payments/refused" => payments::refused, "payments", "Payments refused before money moved";
    get "/payments/unmatched" => payments::unmatched, "payments", "Money that arrived for an unknown serial";
    get "/payments/conflicts" => providers::conflicts, "payments", "Provider deliveries whose money disagreed with what was announced (nothing credited)";
    post "/payments/conflicts/{id}/resolve" => providers::resolve, "payments", "An operator's decision on a conflict: credit the money as received (optionally to another serial) or dismiss it";
    post "/payments/unmatched/{id}/assign" => payments::assign, "payments", "Apply waiting money to a device";
    get "/payments/{payment_id}" => payments::get, "payments", "One payment, with its tokens as they are now";
    get "/payments/{payment_id}/receipt" => receipts::receipt, "payments", "A printable HTML receipt of one payment";
    post "/reconciliations" => reconciliations::create, "payments", "Reconcile a provider's statement (?provider=; the file as a text/csv body or the multipart field `file`): each line recorded, missing, mismatch, unmatched or skipped, and the provider's payments not on it";
    get "/reconciliations" => reconciliations::list, "payments", "Statement reconciliations, newest first (paged)";
    get "/reconciliations/{id}" => reconciliations::get, "payments", "One reconciliation with its lines, what was applied and the payments not on the statement";
    post "/reconciliations/{id}/apply" => reconciliations::apply, "payments", "Credit every missing line once through the provider's payment path; a mismatch becomes a conflict";
    get "/reports/revenue" => reports::revenue, "reports", "Revenue per period, by allocation kind and by place or device kind";
    get "/reports/energy" => reports::energy, "reports", "Energy sold per period";
    get "/reports/debt" => reports::debt, "reports", "Outstanding debt in aging buckets";
    get "/reports/par" => reports::par, "reports", "Portfolio at risk (PAR N)";
    get "/reports/collection" => reports::collection, "reports", "Collection rate over a period";
    get "/export" => export::export, "reports", "Every record as JSON Lines (the Python package's input)";
    post "/api-keys" => system::create_key, "system", "Create an API key (admin)";
    get "/api-keys" => system::list_keys, "system", "API keys: labels, roles, creation, last use, expiry; never a key (admin, paged)";
    delete "/api-keys/{id}" => system::revoke_key, "system", "Revoke an API key at once (admin)";
    post "/providers" => providers::create, "providers", "Configure a payment provider; answers its hook paths once (admin)";
    get "/sms-templates" => notify::templates::list, "notifications", "Customer SMS templates with their defaults";
    put "/sms-templates/{name}" => notify::templates::put, "notifications", "Edit (or reset with null) an SMS template";
    get "/notifications" => notify::list, "notifications", "The customer SMS outbox, newest first";
    get "/providers" => providers::list, "providers", "The configured providers, removed ones with removed_at, without secrets (admin)";
    post "/providers/{id}/rotate" => providers::rotate, "providers", "New hook paths, answered once; the previous ones work for grace_seconds, then 404 (admin)";
    get "/audit" => audit::list, "system", "Who moved money or changed a secret, when, before and after: the audit log and the payment journal, newest first (admin, paged)";
    post "/agents" => agents::create, "agents", "Create a field agent with its terms; answers its API key (role agent) once";
    get "/agents" => agents::list, "agents", "Field agents by name, each with balance (cash held) and commission earned (paged)";
    get "/agents/{id}" => agents::get, "agents", "One agent with balance (the sum of sale and handover lines) and commission_earned (the sum of commission lines)";
    patch "/agents/{id}" => agents::patch, "agents", "Change an agent's name, phone, area, commission rates, risk ceiling or (without ledger lines) currency";
    get "/agents/{id}/ledger" => agents::ledger, "agents", "Every line of an agent's ledger (sale, commission, handover), newest first (paged)";
    post "/agents/{id}/sales" => agents::sale, "agents", "An agent's cash sale, as a payment of provider agent:{id} exactly once per client_tx_id (201, then 200 with the same body); adds a sale and a commission line; 422 risk_ceiling_exceeded past the agent's ceiling";
    get "/agents/{id}/sync" => agent_sync::download, "agents", "What an agent's phone keeps offline (?since=<cursor> for what changed since): the agent, its customers (its area's and those it registered), their devices with the core's account snapshot (offline_token false: a phone never makes a token), their plans and the tariffs their meters use; with the agent's own key, sets last_sync_at";
    post "/agents/{id}/sync" => agent_sync::upload, "agents", "An agent phone's queued sales and registrations (at most 500), each in its own transaction and exactly once per client_tx_id: applied, duplicate (the original answer) or refused (the single endpoint's error, the same on a re-send); with the agent's own key, sets last_sync_at";
    post "/agents/{id}/handovers" => agents::handover, "agents", "Cash an agent handed over to the office (operator): a handover line of -amount, at most the balance; commission earned is left alone; answers the receipt's path";
    get "/agents/{id}/handovers/{handover_id}/receipt" => receipts::handover_receipt, "agents", "A printable HTML receipt of one handover";
    delete "/providers/{id}" => providers::remove, "providers", "Remove a provider: its hooks answer 404, its history stays (admin)";
}

/// Largest uploaded file (a month's statement, a spreadsheet of 10,000 registrations): the uploads' own
/// body limit, above the general one that guards every other route.
pub const UPLOAD_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The paths whose `POST` takes a file ([`crate::upload::Upload`]).
const FILE_UPLOADS: &[&str] = &["/imports/registrations", "/reconciliations", "/tokens/bulk"];

/// A file upload's route with [`UPLOAD_BODY_LIMIT`]: a route's own limit overrides the application's.
fn upload_limit(path: &str, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    if FILE_UPLOADS.contains(&path) {
        route.layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT))
    } else {
        route
    }
}

/// The whole application, testable without a socket (`tower::ServiceExt::oneshot`).
pub fn app(state: AppState, body_limit: usize) -> Router {
    let v1 = v1_router()
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::heavy::limit))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::require_key));
    let router = Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .nest("/v1", v1)
        .merge(providers::hooks_router());
    #[cfg(feature = "dashboard")]
    let router = router.merge(crate::web::router());
    router
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such path") })
        .layer(axum::middleware::map_request(refuse_nul_in_uri))
        .layer(axum::middleware::map_response(error_shape))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Refuses a path or query that decodes to a NUL character (`%00`): no id or serial holds one, and
/// PostgreSQL cannot even compare against one.
async fn refuse_nul_in_uri(request: axum::extract::Request) -> Result<axum::extract::Request, ApiError> {
    let uri = request.uri();
    let spelled = |text: &str| text.as_bytes().windows(3).any(|w| w.eq_ignore_ascii_case(b"%00"));
    if spelled(uri.path()) || uri.query().is_some_and(spelled) {
        return Err(ApiError::invalid("path", "the path or query must not contain NUL characters (%00)"));
    }
    Ok(request)
}

/// Gives axum's own rejections (a malformed path parameter or query, a wrong method) the API's error shape,
/// so every 4xx a client sees is `{"code", "message"}`.
async fn error_shape(response: Response) -> Response {
    let status = response.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The unread rest of the body makes the connection unusable; say so, or a client that pools
        // connections sends its next request into a socket about to close.
        let mut response = response;
        response.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        return reshape(response).await;
    }
    reshape(response).await
}

async fn reshape(response: Response) -> Response {
    let status = response.status();
    let is_json = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.starts_with("application/json")
            || v.starts_with("application/x-ndjson")
            || v.starts_with("text/plain; version")
    });
    if !status.is_client_error() || is_json {
        return response;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        _ => "invalid_input",
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("refused").to_owned() } else { text };
    ApiError::new(status, code, message).into_response()
}

/// The OpenAPI 3.1 document of the API, built from [`V1_ROUTES`]. Built as JSON on purpose: an OpenAPI
/// document is a schema of schemas whose shape is OpenAPI's, not ours; typing it here would re-create
/// the OpenAPI object model for one answer.
pub fn openapi() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (method, path, tag, summary) in V1_ROUTES {
        let mut parameters: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let list = (*method == "get").then(|| LISTS.iter().find(|(p, _)| p == path)).flatten();
        let ok = match list {
            Some((_, filters)) => {
                parameters.extend(page_parameters());
                parameters.extend(filters.iter().map(|(name, description)| {
                    json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}})
                }));
                json!({"description": "One page, newest first where time orders the list, else by name or serial",
                       "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}})
            }
            None if path.ends_with(".csv") => {
                json!({"description": "A spreadsheet", "content": {"text/csv": {"schema": {"type": "string"}}}})
            }
            None if path.ends_with("/receipt") => {
                json!({"description": "A printable page", "content": {"text/html": {}}})
            }
            None if path.starts_with("/reports/") => {
                parameters.extend(report_parameters(path));
                json!({"description": "The report; split by a place, each group is {id, name} (see ReportGroup)",
                       "content": {"application/json": {}}})
            }
            None => json!({"description": "OK", "content": {"application/json": {}}}),
        };
        let mut responses = json!({
            "200": ok,
            "4XX": {"description": "Refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        });
        if *method == "post" {
            if let Some(map) = responses.as_object_mut() {
                map.insert("201".into(), json!({"description": "Created", "content": {"application/json": {}}}));
            }
        }
        let mut operation = json!({
            "tags": [tag],
            "summary": summary,
            "operationId": format!("{method}_{}", path.trim_matches('/').replace(['/', '{', '}', '-'], "_")),
            "parameters": parameters,
            "security": [{"bearer": []}],
            "responses": responses,
        });
        if let (true, Some(map)) = (matches!(*method, "post" | "put" | "patch"), operation.as_object_mut()) {
            if UPLOADS.contains(path) {
                map.insert("requestBody".into(), upload_body(path));
            } else if !WITHOUT_BODY.contains(path) {
                let schema = request_schema(method, path).unwrap_or_else(|| json!({"type": "object"}));
                map.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": schema}}}),
                );
            }
        }
        if let Some(entry) = paths.entry(format!("/v1{path}")).or_insert_with(|| json!({})).as_object_mut() {
            entry.insert((*method).to_owned(), operation);
        }
    }
    for (method, path, summary) in providers::HOOK_ROUTES {
        let operation = json!({
            "tags": ["hooks"],
            "summary": summary,
            "description": "Authenticated by the secret path segment (and the signature where the provider signs), not by an API key.",
            "parameters": [{"name": "secret", "in": "path", "required": true, "schema": {"type": "string"}}],
            "security": [],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": {"description": "Answered in the provider's format", "content": {"application/json": {}}},
                "401": {"description": "Signature missing, malformed, stale or wrong (Wave, generic): nothing stored"},
                "403": {"description": "From outside the provider's allowed_sources: nothing stored"},
                "404": {"description": "No such secret, a retired one (rotation) or a removed provider"},
            },
        });
        if let Some(entry) = paths.entry((*path).to_owned()).or_insert_with(|| json!({})).as_object_mut() {
            entry.insert((*method).to_owned(), operation);
        }
    }
    paths.insert("/healthz".into(), json!({"get": {"summary": "Ready when the database and the core engine are", "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}}));
    paths.insert(
        "/metrics".into(),
        json!({"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "micropower", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Payments and device credit for off-grid energy. Money and energy are decimal strings; dates YYYY-MM-DD; instants RFC 3339."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Page": {
                    "type": "object", "required": ["items", "next_cursor"],
                    "properties": {
                        "items": {"type": "array", "items": {"type": "object"}},
                        "next_cursor": {"type": ["string", "null"], "description": "Pass as ?cursor= for the next page; null on the last page"},
                    },
                },
                "ReportGroup": {
                    "type": "object", "required": ["id", "name"],
                    "description": "A group of a report split by place or device kind. Revenue rows carry it as `group`; \
                                    debt, PAR and collection split by a place answer their whole numbers plus \
                                    `groups: [{group, …the same numbers for the group's records}]`, ordered by id \
                                    (records without a place in the group `unlocated`).",
                    "properties": {
                        "id": {"type": "string", "description": "The cluster, area or village id, or the device kind"},
                        "name": {"type": ["string", "null"], "description": "The place's name in the registry; null for a device kind or an id the registry does not know"},
                    },
                },
                "Error": {
                "type": "object", "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": error_codes()},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                    "minimum_amount": {"type": "string"},
                },
            }},
        },
    })
}

/// Routes that take a file (crate::upload): the body itself, or a form's `file` field.
const UPLOADS: &[&str] = &["/imports/registrations", "/reconciliations"];
/// Posts whose path says everything.
const WITHOUT_BODY: &[&str] = &["/reconciliations/{id}/apply"];

/// The bulk registration also reads Excel workbooks.
const XLSX_UPLOADS: &[&str] = &["/imports/registrations"];

fn upload_body(path: &str) -> Value {
    let mut content = json!({
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
    });
    if let (true, Some(media)) = (XLSX_UPLOADS.contains(&path), content.as_object_mut()) {
        media.insert(
            crate::spreadsheet::XLSX_MEDIA_TYPE.into(),
            json!({"schema": {"type": "string", "format": "binary"}}),
        );
    }
    json!({"required": true, "content": content})
}

/// The paged lists (`GET` of these paths) with their filters beside `limit` and `cursor`.
const LISTS: &[(&str, &[(&str, &str)])] = &[
    ("/clusters", &[]),
    ("/areas", &[("cluster_id", "Only the areas of this cluster")]),
    ("/villages", &[("area_id", "Only the villages of this area")]),
    ("/manufacturers", &[]),
    ("/tariffs", &[]),
    ("/appliance-types", &[]),
    (
        "/customers",
        &[
            ("query", "Part of a name, surname, phone number or national id"),
            ("phone_region", "ISO 3166 region a local phone number in query is read in"),
        ],
    ),
    ("/devices", &[("query", "Part of a serial, in any spelling the core normalises")]),
    ("/devices/{serial}/tokens", &[]),
    (
        "/payments",
        &[
            ("serial", "Only this device's payments"),
            (
                "from",
                "First business day (YYYY-MM-DD, MICROPOWER_TIMEZONE) of the time the server recorded the payment",
            ),
            ("to", "Last business day, included"),
        ],
    ),
    ("/payments/refused", &[]),
    ("/payments/unmatched", &[("status", "open or assigned")]),
    ("/payments/conflicts", &[("status", "open or resolved")]),
    ("/reconciliations", &[]),
    ("/notifications", &[("status", "pending, sent or failed")]),
    ("/api-keys", &[]),
    ("/agents", &[]),
    ("/agents/{id}/ledger", &[]),
    (
        "/audit",
        &[
            ("entity_kind", "Only entries about this kind of entity (payment, plan, device, provider, api_key, …)"),
            ("entity_id", "Only entries about this entity"),
            ("action", "Only this action (payment.recorded, plan.edited, provider.rotated, …)"),
            ("from", "First business day (YYYY-MM-DD, MICROPOWER_TIMEZONE) or an RFC 3339 instant"),
            ("to", "Last business day (included) or an RFC 3339 instant (excluded)"),
        ],
    ),
];

/// The query of a report path (`/reports/…`).
fn report_parameters(path: &str) -> Vec<Value> {
    let param = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}});
    let mut params = vec![param("currency", "ISO 4217 code; default: the only currency the records hold")];
    match path {
        "/reports/revenue" | "/reports/energy" | "/reports/collection" => {
            params.push(param("from", "First day (YYYY-MM-DD), included; default: a year before `to`"));
            params.push(param("to", "Last day, included; default: today"));
        }
        _ => params.push(param("as_of", "The report's day (YYYY-MM-DD); default: today")),
    }
    match path {
        "/reports/revenue" | "/reports/energy" => params.push(param("group_by", "day, week or month (default)")),
        "/reports/par" => params.push(param("days", "N of PAR N, at least 1; default 30")),
        _ => {}
    }
    match path {
        "/reports/revenue" => {
            params.push(param("by", "cluster, area, village, kind or none (default): each row's group is {id, name}"))
        }
        "/reports/debt" | "/reports/par" | "/reports/collection" => params
            .push(param("by", "cluster, area, village or none (default): adds groups, each {group: {id, name}, …}")),
        _ => {}
    }
    params
}

fn page_parameters() -> [Value; 2] {
    [
        json!({"name": "limit", "in": "query", "required": false, "description": "Items per page, 1 to 500 (default 50); anything else is a 422",
               "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}),
        json!({"name": "cursor", "in": "query", "required": false, "description": "next_cursor of the previous page, unchanged; a bad cursor is a 422",
               "schema": {"type": "string"}}),
    ]
}

/// The request bodies the registry's edits take (the other bodies are documented as objects in
/// http-api.md and the issues).
fn request_schema(method: &str, path: &str) -> Option<Value> {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 200});
    let phones = json!({"type": "array", "items": {"type": "string"}, "minItems": 1,
                        "description": "Phone numbers, normalised to E.164 by the core; the first is the primary one"});
    let closed = |required: Vec<&str>, properties: Value| json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties});
    Some(match (method, path) {
        ("patch", "/clusters/{id}" | "/areas/{id}" | "/villages/{id}" | "/manufacturers/{id}") => {
            closed(vec!["name"], json!({"name": name}))
        }
        ("post", "/clusters") => closed(vec!["name"], json!({"name": name})),
        ("post", "/areas") => {
            closed(vec!["name", "cluster_id"], json!({"name": name, "cluster_id": {"type": "string"}}))
        }
        ("post", "/villages") => closed(vec!["name", "area_id"], json!({"name": name, "area_id": {"type": "string"}})),
        ("post", "/customers") => closed(
            vec!["name", "surname", "village_id"],
            json!({
                "name": name, "surname": name, "phones": phones,
                "phone": {"type": "string", "description": "One number, instead of or before phones"},
                "village_id": {"type": "string"},
                "national_id": {"type": ["string", "null"]},
                "geo": {"type": ["object", "null"], "properties": {"lat": {"type": "string"}, "lng": {"type": "string"}}, "description": "Degrees as decimal strings"},
                "phone_region": {"type": "string", "description": "ISO 3166 region local numbers are read in"},
            }),
        ),
        ("patch", "/customers/{id}") => closed(
            vec![],
            json!({
                "name": name, "surname": name, "phones": phones,
                "village_id": {"type": "string"},
                "national_id": {"type": ["string", "null"], "description": "null removes it"},
                "phone_region": {"type": "string"},
            }),
        ),
        ("post", "/providers") => closed(
            vec!["kind", "currency"],
            json!({
                "kind": {"type": "string", "enum": ["daraja_c2b", "wave", "generic_hmac"]},
                "currency": {"type": "string", "description": "ISO 4217"},
                "shortcode": {"type": "string", "description": "daraja_c2b only: the paybill or till number, 5 to 7 digits"},
                "secret": {"type": "string", "minLength": 16, "maxLength": 512, "description": "wave and generic_hmac: the signing secret (required)"},
                "name": {"type": "string", "minLength": 1, "maxLength": 64, "description": "What its payments are recorded under; default the kind"},
                "require_validation": {"type": "boolean", "default": false, "description": "daraja_c2b only: a confirmation without an accepted validation is a conflict"},
                "allowed_sources": {"type": "array", "items": {"type": "string"}, "maxItems": 64, "description": "CIDR blocks deliveries may come from; empty: anywhere"},
            }),
        ),
        ("post", "/providers/{id}/rotate") => closed(
            vec![],
            json!({"grace_seconds": {"type": "integer", "minimum": 0, "maximum": 604800, "default": 0,
                                     "description": "How long the previous hook paths keep working"}}),
        ),
        ("post", "/appliance-types") => {
            closed(vec!["name", "kind", "price", "currency", "default_terms"], appliance_type_properties(name))
        }
        ("patch", "/appliance-types/{id}") => closed(vec![], appliance_type_properties(name)),
        ("post", "/tokens/bulk") => closed(
            vec!["serials", "kind", "reason"],
            json!({
                "serials": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 10000,
                            "description": "Or a text/csv body with a serial column, and kind, days, reason in the query"},
                "kind": {"type": "string", "enum": ["add_time", "set_time", "counter_sync", "unlock"]},
                "days": {"type": "string", "description": "add_time and set_time only: a decimal string"},
                "reason": {"type": "string", "minLength": 1, "maxLength": 500, "description": "Kept with every token's audit entry"},
            }),
        ),
        ("post", "/tariffs/{id}/versions") => closed(
            vec!["effective_from", "price_per_kwh"],
            json!({
                "effective_from": {"type": "string", "format": "date",
                                   "description": "First business day of the new prices; after the latest version's and after every payment the replaced version priced"},
                "price_per_kwh": {"type": "string", "description": "A decimal string"},
                "fees": {"type": "array", "items": {"type": "object"}, "description": "Per-kWh surcharges; absent: as the replaced version"},
                "access_rate": {"type": ["object", "null"], "description": "{amount, period_days}; absent: as the replaced version, null: none"},
                "minimum_purchase": {"type": "string", "description": "Absent: as the replaced version"},
                "energy_step_kwh": {"type": "string", "description": "Absent: as the replaced version"},
            }),
        ),
        ("put", "/devices/{serial}/tariff") => closed(
            vec!["tariff_id"],
            json!({"tariff_id": {"type": "string", "description": "A tariff in the meter's currency"}}),
        ),
        ("post", "/api-keys") => closed(
            vec!["role"],
            json!({"role": {"type": "string", "enum": ["admin", "operator", "viewer"]}, "label": {"type": "string"},
                   "expires_at": {"type": "string", "format": "date-time",
                                  "description": "When the key stops working by itself (in the future); absent: never"}}),
        ),
        ("post", "/agents") => {
            closed(vec!["name", "phone", "area_id", "commission", "risk_ceiling", "currency"], agent_properties(name))
        }
        ("patch", "/agents/{id}") => closed(vec![], agent_properties(name)),
        ("post", "/agents/{id}/sales") => closed(
            vec!["client_tx_id", "amount", "currency"],
            json!({
                "client_tx_id": {"type": "string", "minLength": 1, "maxLength": 128,
                                 "description": "The phone's id of the sale: applied once however often it is sent"},
                "serial": {"type": "string", "description": "The device paid; exactly one of serial and plan_id"},
                "plan_id": {"type": "string", "description": "The plan paid, instead of a serial"},
                "amount": {"type": "string", "description": "A decimal string"},
                "currency": {"type": "string", "description": "ISO 4217; the agent's"},
                "taken_at": {"type": "string", "format": "date-time", "description": "When the agent took the cash; default now"},
            }),
        ),
        ("post", "/agents/{id}/sync") => closed(
            vec!["items"],
            json!({
                "items": {"type": "array", "maxItems": 500, "items": {
                    "type": "object", "required": ["type", "client_tx_id"],
                    "description": "A sale: the body of POST /v1/agents/{id}/sales plus type. A registration: the body of POST /v1/registrations plus type and client_tx_id",
                    "properties": {
                        "type": {"type": "string", "enum": ["sale", "registration"]},
                        "client_tx_id": {"type": "string", "minLength": 1, "maxLength": 128,
                                         "description": "The phone's id of the item: applied once however often it is sent"},
                    },
                }},
            }),
        ),
        ("post", "/agents/{id}/handovers") => closed(
            vec!["amount", "received_by"],
            json!({
                "amount": {"type": "string", "description": "A positive decimal string, at most the agent's balance"},
                "received_by": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Who at the office received the cash"},
                "currency": {"type": "string", "description": "ISO 4217; default (and only) the agent's"},
            }),
        ),
        _ => return None,
    })
}

/// The fields of an agent (`POST` requires all but `phone_region`, `PATCH` replaces those it gives).
fn agent_properties(name: Value) -> Value {
    let rate = json!({"type": "string", "description": "A fraction from 0 to 1 as a decimal string (\"0.05\" is 5 %)"});
    json!({
        "name": name,
        "phone": {"type": "string", "description": "Normalised to E.164 by the core"},
        "phone_region": {"type": "string", "description": "ISO 3166 region a local phone number is read in"},
        "area_id": {"type": "string", "description": "The catchment area the agent works in"},
        "commission": {"type": "object", "additionalProperties": false, "required": ["energy_rate", "appliance_rate"],
                       "description": "energy_rate on money that bought energy or EaaS days, appliance_rate on installments; access rate and credit earn nothing",
                       "properties": {"energy_rate": rate, "appliance_rate": rate}},
        "risk_ceiling": {"type": "string", "description": "The most cash the agent may hold: a sale past it is refused (risk_ceiling_exceeded)"},
        "currency": {"type": "string", "description": "ISO 4217; cannot change once the agent has ledger lines"},
    })
}

/// The fields of an appliance type (`POST` requires them all, `PATCH` replaces those it gives).
fn appliance_type_properties(name: Value) -> Value {
    let money = json!({"type": "string", "description": "A decimal string, never a JSON number with a fraction"});
    json!({
        "name": name,
        "kind": {"type": "string", "enum": ["solar_home_system", "e_bike", "other"]},
        "price": money,
        "currency": {"type": "string", "description": "ISO 4217 code"},
        "default_terms": {
            "oneOf": [
                {"type": "object", "additionalProperties": false, "required": ["installments", "period"],
                 "description": "An installment plan of the price, starting on the day of the sale",
                 "properties": {"down_payment": money, "installments": {"type": "integer", "minimum": 1},
                                "period": {"type": "string", "description": "weekly, monthly or every_N_days"}}},
                {"type": "object", "additionalProperties": false, "required": ["eaas"],
                 "properties": {"eaas": {"type": "object", "required": ["price_per_day"],
                                         "properties": {"price_per_day": money, "minimum_payable": money}}}},
            ],
        },
    })
}

/// Every code an error answer may carry: the core's and the server's own.
fn error_codes() -> Vec<&'static str> {
    let mut codes = micropower_core::CoreError::ALL_CODES.to_vec();
    codes.extend(["unauthorized", "forbidden", "conflict", "internal"]);
    codes
}
