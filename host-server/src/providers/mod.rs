//! Payment providers (issue #5): real providers pay into the server in their own wire formats.
//!
//! - `POST /v1/providers` (admin) configures one and answers its hook paths once; each path carries an
//!   unguessable secret segment (stored hashed, like API keys) and none of Safaricom's banned words.
//! - The hooks live under `/hooks/…`, outside the API-key layer: a provider cannot send our API key, so a
//!   hook is authenticated by its secret path segment and, where the provider signs, by the signature.
//! - Every delivery is kept raw with its SHA-256 before the answer ([`store`]), once it is authenticated: a
//!   delivery from outside the provider's allowlist, or whose signature fails, is refused before anything of
//!   it is stored, and counted in `/metrics` instead ([`source_allowed`], [`check_signature`]).
//! - Money goes through the same exactly-once [`crate::payments::apply`] as `POST /v1/payments`; a delivery
//!   whose money disagrees with what was announced becomes a conflict for an operator and credits nothing.
//! - `POST /v1/providers/{id}/rotate` replaces the hook paths (the old ones work for a grace period);
//!   `DELETE /v1/providers/{id}` closes every hook of a provider and keeps its history.
//!
//! Wire formats live here (one file per provider); every business decision is the core's.

pub mod daraja;
pub mod generic;
pub mod names;
pub mod signature;
pub mod statement;
pub mod store;
pub mod wave;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::ids::{new_id, now_rfc3339};
use crate::payments::{Outcome, PaymentAnswer, Queued};
use crate::routes::payments::PostAnswer;
use crate::state::AppState;
use crate::storage::audit::{Action, Actor, Entry};
use crate::storage::page::{Page, PageQuery};

/// The largest hook body accepted: provider callbacks are a few hundred bytes.
pub const HOOK_BODY_LIMIT: usize = 16 * 1024;

/// Words Safaricom filters out of callback URLs (reference/payment-providers.md §1.2).
pub const BANNED_URL_WORDS: &[&str] = &["m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query"];

/// `(method, path, summary)` of every hook, for the router and the OpenAPI document.
pub const HOOK_ROUTES: &[(&str, &str, &str)] = &[
    ("post", "/hooks/c2b/{secret}/validation", "Daraja C2B validation (Safaricom's format; always HTTP 200)"),
    ("post", "/hooks/c2b/{secret}/confirmation", "Daraja C2B confirmation (Safaricom's format)"),
    ("post", "/hooks/wave/{secret}", "Wave webhook (Wave-Signature)"),
    ("post", "/hooks/hmac/{secret}/validate", "Generic HMAC validation (X-Signature)"),
    ("post", "/hooks/hmac/{secret}/payments", "Generic HMAC payment, the /v1/payments body (X-Signature)"),
];

/// The hook routes, without API-key authentication and with a small body limit.
pub fn hooks_router() -> Router<AppState> {
    Router::new()
        .route("/hooks/c2b/{secret}/validation", post(daraja::validation))
        .route("/hooks/c2b/{secret}/confirmation", post(daraja::confirmation))
        .route("/hooks/wave/{secret}", post(wave::webhook))
        .route("/hooks/hmac/{secret}/validate", post(generic::validate))
        .route("/hooks/hmac/{secret}/payments", post(generic::payments))
        .layer(DefaultBodyLimit::max(HOOK_BODY_LIMIT))
}

/// A provider's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    DarajaC2b,
    Wave,
    GenericHmac,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        match text {
            "daraja_c2b" => Some(Kind::DarajaC2b),
            "wave" => Some(Kind::Wave),
            "generic_hmac" => Some(Kind::GenericHmac),
            _ => None,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::DarajaC2b => "daraja_c2b",
            Kind::Wave => "wave",
            Kind::GenericHmac => "generic_hmac",
        }
    }
}

/// A configured provider, its signing secret opened.
pub struct Provider {
    pub id: String,
    pub kind: Kind,
    /// The `provider` its payments are recorded under (unique).
    pub name: String,
    pub currency: String,
    pub shortcode: Option<String>,
    pub secret: Option<String>,
    /// Daraja: a confirmation without an accepted validation before it is a conflict.
    pub require_validation: bool,
    /// The networks its deliveries may come from; empty: anywhere.
    pub allowed_sources: Vec<IpNet>,
}

fn path_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The provider a hook path belongs to; `None` (answered 404, like any unknown path) when the secret segment
/// matches no active provider of that kind, or only a path that a rotation has retired.
pub async fn by_path(state: &AppState, kind: Kind, secret: &str) -> ApiResult<Option<Provider>> {
    if secret.len() != 64 {
        return Ok(None);
    }
    let Some(row) = store::provider_by_path_hash(&state.db.pool, &path_hash(secret), &now_rfc3339()).await? else {
        return Ok(None);
    };
    if row.kind != kind {
        return Ok(None);
    }
    opened(state, row).map(Some)
}

/// The active provider whose payments are recorded under `name` (a statement names its provider so).
pub async fn by_name(state: &AppState, name: &str) -> ApiResult<Option<Provider>> {
    match store::provider_by_name(&state.db.pool, name).await? {
        Some(row) if row.removed_at.is_none() => opened(state, row).map(Some),
        _ => Ok(None),
    }
}

/// A stored provider with its allowlist read and its signing secret opened.
fn opened(state: &AppState, row: store::ProviderRow) -> ApiResult<Provider> {
    let kind = row.kind;
    // Written by `create` from parsed blocks, so a block that does not parse back is a damaged row: refuse
    // the delivery (500) rather than drop the block and widen the allowlist.
    let allowed_sources = row
        .allowed_sources()
        .map_err(ApiError::internal)?
        .iter()
        .map(|text| parse_source(text).ok_or_else(|| ApiError::internal(format!("stored source {text:?}"))))
        .collect::<ApiResult<Vec<IpNet>>>()?;
    let secret = row
        .secret_sealed
        .as_deref()
        .map(|s| state.sealer.open(crate::crypto::Slot::provider_secret(&row.id), s))
        .transpose()?;
    Ok(Provider {
        id: row.id,
        kind,
        name: row.name,
        currency: row.currency,
        shortcode: row.shortcode,
        secret,
        require_validation: row.require_validation != 0,
        allowed_sources,
    })
}

/// A CIDR block (`196.201.214.0/24`, `2001:db8::/32`) or a single address, which is its own block.
fn parse_source(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from)).map(|net| net.trunc())
}

/// Where a hook delivery came from: the last address in the trusted proxy's header when one is configured
/// (`MICROPOWER_TRUSTED_PROXY_HEADER`), else the socket's peer. `None` when it cannot be known (no such
/// header on the request, or no socket, as in a test that calls the router directly).
pub struct Source(pub Option<IpAddr>);

impl FromRequestParts<AppState> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Source(client_address(state, &parts.headers, &parts.extensions)))
    }
}

/// A request's client address as [`Source`] defines it (also the key of the API's failed-authentication
/// limit).
pub fn client_address(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
) -> Option<IpAddr> {
    let address = match &state.trusted_proxy_header {
        // Only the last hop is the proxy's own writing; any address before it is the client's say-so.
        Some(header) => headers
            .get_all(header)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .next_back()
            .and_then(|hop| hop.trim().parse::<IpAddr>().ok()),
        None => extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip()),
    };
    address.map(|ip| ip.to_canonical())
}

/// Whether a delivery from `source` may reach `provider`'s hooks. A refusal is counted in `/metrics` and
/// logged; nothing of the delivery is kept. An unknown source is refused when there is an allowlist.
pub fn source_allowed(state: &AppState, provider: &Provider, source: &Source) -> bool {
    if provider.allowed_sources.is_empty() {
        return true;
    }
    if source.0.is_some_and(|ip| provider.allowed_sources.iter().any(|net| net.contains(&ip))) {
        return true;
    }
    state.metrics.hook_rejected.bump(provider.kind.name(), "source_not_allowed");
    tracing::warn!(provider = %provider.id, source = ?source.0, "hook delivery from outside the provider's allowlist refused");
    false
}

/// 403 for a delivery from outside a provider's allowlist, in the API's error shape.
pub fn forbidden_source() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this hook does not take deliveries from this address")
}

/// Checks a signed delivery before anything of it is kept: an unauthenticated body is not ours to store
/// (anyone who learns the path could fill the database). A refusal is counted in `/metrics` by reason and
/// logged with the body's SHA-256 and length, the only trace kept; it answers 401.
pub fn check_signature(
    state: &AppState,
    provider: &Provider,
    header: Option<&str>,
    separator: &[u8],
    body: &[u8],
) -> Result<(), ApiError> {
    let checked = match provider.secret.as_deref() {
        Some(key) if !key.is_empty() => signature::verify(key.as_bytes(), header, separator, body, unix_now())
            .map_err(|e| (e.label(), e.to_string())),
        // `create` refuses a signing kind without a secret; a row without one is never verified with an
        // empty key (which anybody can sign with).
        _ => Err(("no_signing_secret", "this provider has no signing secret configured".to_owned())),
    };
    let Err((reason, message)) = checked else { return Ok(()) };
    state.metrics.hook_rejected.bump(provider.kind.name(), reason);
    tracing::warn!(
        provider = %provider.id,
        reason,
        body_sha256 = %hex::encode(Sha256::digest(body)),
        body_len = body.len(),
        "hook delivery refused before it was kept: bad signature"
    );
    Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message))
}

/// 404 for a hook path whose secret matches no provider.
pub fn unknown_hook() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such path")
}

/// The body of `POST /v1/providers`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderIn {
    kind: String,
    currency: String,
    #[serde(default)]
    shortcode: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    /// What its payments are recorded under (`provider`); default the kind. Unique.
    #[serde(default)]
    name: Option<String>,
    /// Daraja only: credit a confirmation only after an accepted validation of it. Default false.
    #[serde(default)]
    require_validation: bool,
    /// CIDR blocks (or single addresses) its deliveries may come from; empty or absent: anywhere.
    #[serde(default)]
    allowed_sources: Vec<String>,
}

/// The most blocks an allowlist holds: a provider publishes a handful of ranges.
const MAX_ALLOWED_SOURCES: usize = 64;

/// `POST /v1/providers` (admin): 201 [`CreatedProvider`]. The hook paths are shown only here and on
/// rotation (their secret segment is stored hashed); the signing secret is sealed and never returned.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<ProviderIn>,
) -> ApiResult<(StatusCode, Json<CreatedProvider>)> {
    let kind =
        Kind::parse(&body.kind).ok_or_else(|| ApiError::invalid("kind", "must be daraja_c2b, wave or generic_hmac"))?;
    let currency = body.currency.trim().to_uppercase();
    // The core knows the currencies (and their minor units); ask it rather than keep a second list.
    state
        .core(micropower_core::calls::RoundMoney { amount: rust_decimal::Decimal::ZERO, currency: currency.to_owned() })
        .await
        .map_err(|_| ApiError::invalid("currency", "an ISO 4217 currency code is required"))?;
    let shortcode = match kind {
        Kind::DarajaC2b => {
            let code = body.shortcode.as_deref().map(str::trim).unwrap_or_default();
            if !(5..=7).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::invalid("shortcode", "the paybill or till number: 5 to 7 digits"));
            }
            Some(code.to_owned())
        }
        _ if body.shortcode.is_some() => return Err(ApiError::invalid("shortcode", "only daraja_c2b has a shortcode")),
        _ => None,
    };
    if body.require_validation && kind != Kind::DarajaC2b {
        return Err(ApiError::invalid("require_validation", "only daraja_c2b has a validation to require"));
    }
    let allowed_sources = allowed_sources(&body.allowed_sources)?;
    // Before the secret is sealed: the provider's id is part of its seal.
    let id = new_id();
    let secret = match kind {
        Kind::Wave | Kind::GenericHmac => {
            // Missing is refused on its own: verifying with an empty key would accept anybody's signature.
            let secret = body.secret.as_deref().ok_or_else(|| {
                ApiError::unprocessable("secret", format!("a {} provider needs its signing secret", kind.name()))
            })?;
            if secret.len() < 16 || secret.len() > 512 {
                return Err(ApiError::invalid("secret", "the signing secret: 16 to 512 characters"));
            }
            Some(state.sealer.seal(crate::crypto::Slot::provider_secret(&id), secret)?)
        }
        Kind::DarajaC2b if body.secret.is_some() => {
            return Err(ApiError::invalid("secret", "Daraja does not sign its callbacks; the hook path is the secret"))
        }
        Kind::DarajaC2b => None,
    };
    let name = body.name.as_deref().map(str::trim).unwrap_or(kind.name()).to_owned();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::invalid("name", "1 to 64 characters are required"));
    }
    let path_secret = hex::encode(crate::crypto::random_bytes::<32>()?);
    // Stored as NULL when empty, which reads as "from anywhere".
    let stored_sources = if allowed_sources.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&allowed_sources).map_err(ApiError::internal)?)
    };
    let new = store::NewProvider {
        id: &id,
        kind,
        name: &name,
        currency: &currency,
        shortcode: shortcode.as_deref(),
        secret_sealed: secret.as_deref(),
        require_validation: body.require_validation,
        allowed_sources: stored_sources.as_deref(),
        path_hash: &path_hash(&path_secret),
    };
    let audited = ProviderCreated {
        id: &id,
        kind: kind.name(),
        name: &name,
        currency: &currency,
        shortcode: shortcode.as_deref(),
        require_validation: body.require_validation,
        allowed_sources: &allowed_sources,
        signing_secret: secret.is_some(),
    };
    let entry = Entry::new(&Actor::ApiKey(caller.key_id), Action::ProviderCreated, "provider", &id).after(&audited)?;
    if let Err(e) = store::insert_provider(&state.db.pool, &new, &entry).await {
        return Err(if crate::repo::is_unique_violation(&e) {
            ApiError::conflict(format!("a provider named {name:?} exists; give this one another name"))
                .with("field", "name")
        } else {
            e.into()
        });
    }
    state.provider_names.invalidate();
    tracing::info!(provider = %id, kind = kind.name(), %name, "provider configured");
    let created = CreatedProvider {
        id,
        kind: kind.name(),
        name,
        currency,
        shortcode,
        require_validation: body.require_validation,
        allowed_sources,
        hook_paths: HookPaths::of(kind, &path_secret),
        previous_paths_expire_at: None,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// An allowlist as given, each block checked and written in its canonical form (`196.201.214.7/24` is
/// `196.201.214.0/24`).
fn allowed_sources(given: &[String]) -> ApiResult<Vec<String>> {
    if given.len() > MAX_ALLOWED_SOURCES {
        return Err(ApiError::invalid("allowed_sources", format!("at most {MAX_ALLOWED_SOURCES} blocks")));
    }
    given
        .iter()
        .map(|text| {
            parse_source(text).map(|net| net.to_string()).ok_or_else(|| {
                ApiError::invalid(
                    "allowed_sources",
                    format!("{text:?} is not a CIDR block (196.201.214.0/24) or an address"),
                )
            })
        })
        .collect()
}

/// A new provider as the audit log keeps it: whether it has a signing secret, never the secret, nor its hook
/// paths (knowing one is enough to post payments).
#[derive(Serialize)]
struct ProviderCreated<'a> {
    id: &'a str,
    kind: &'static str,
    name: &'a str,
    currency: &'a str,
    shortcode: Option<&'a str>,
    require_validation: bool,
    allowed_sources: &'a [String],
    signing_secret: bool,
}

/// A rotation as the audit log keeps it: not the paths, old or new.
#[derive(Serialize)]
struct ProviderRotated<'a> {
    grace_seconds: u32,
    previous_paths_expire_at: &'a str,
}

/// The answer of `POST /v1/providers` and `POST /v1/providers/{id}/rotate`: the only times the hook paths are
/// shown.
#[derive(Serialize)]
pub struct CreatedProvider {
    id: String,
    kind: &'static str,
    name: String,
    currency: String,
    shortcode: Option<String>,
    require_validation: bool,
    allowed_sources: Vec<String>,
    hook_paths: HookPaths,
    /// On rotation: until when the previous hook paths keep working (the grace period's end).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_paths_expire_at: Option<String>,
}

/// The hook paths of one provider, named as its kind names its callbacks.
#[derive(Serialize)]
#[serde(untagged)]
pub enum HookPaths {
    DarajaC2b { validation: String, confirmation: String },
    Wave { webhook: String },
    GenericHmac { validate: String, payments: String },
}

impl HookPaths {
    /// The paths of a `kind` provider whose secret segment is `path_secret`.
    fn of(kind: Kind, path_secret: &str) -> HookPaths {
        match kind {
            Kind::DarajaC2b => HookPaths::DarajaC2b {
                validation: format!("/hooks/c2b/{path_secret}/validation"),
                confirmation: format!("/hooks/c2b/{path_secret}/confirmation"),
            },
            Kind::Wave => HookPaths::Wave { webhook: format!("/hooks/wave/{path_secret}") },
            Kind::GenericHmac => HookPaths::GenericHmac {
                validate: format!("/hooks/hmac/{path_secret}/validate"),
                payments: format!("/hooks/hmac/{path_secret}/payments"),
            },
        }
    }
}

/// The answer of `GET /v1/providers`.
#[derive(Serialize)]
pub struct ProviderList {
    providers: Vec<store::ListedProvider>,
}

/// `GET /v1/providers` (admin): the configured providers, removed ones included (with `removed_at`), without
/// secrets or hook paths.
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<ProviderList>> {
    Ok(Json(ProviderList { providers: store::providers(&state.db.pool).await? }))
}

/// The longest grace period of a rotation: long enough to redeploy a provider's configuration, short enough
/// that a leaked path does not stay open for good.
pub const MAX_GRACE_SECONDS: u32 = 7 * 24 * 3600;

/// The body of `POST /v1/providers/{id}/rotate`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateIn {
    /// How long the previous hook paths keep working; default 0 (they stop at once).
    #[serde(default)]
    grace_seconds: u32,
}

/// `POST /v1/providers/{id}/rotate` (admin): new hook paths, answered as at creation; the previous ones keep
/// working for `grace_seconds`, then answer 404 (a leaked path is closed, a provider's reconfiguration is
/// not a race). The signing secret is unchanged.
pub async fn rotate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body<RotateIn>,
) -> ApiResult<Json<CreatedProvider>> {
    if body.grace_seconds > MAX_GRACE_SECONDS {
        return Err(ApiError::invalid("grace_seconds", format!("0 to {MAX_GRACE_SECONDS} seconds (7 days)")));
    }
    let row = store::provider_by_id(&state.db.pool, &id)
        .await?
        .filter(|row| row.removed_at.is_none())
        .ok_or_else(|| ApiError::not_found("provider", &id))?;
    let path_secret = hex::encode(crate::crypto::random_bytes::<32>()?);
    let grace = chrono::Duration::seconds(i64::from(body.grace_seconds));
    let expire_at = (crate::ids::now() + grace).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let rotated = ProviderRotated { grace_seconds: body.grace_seconds, previous_paths_expire_at: &expire_at };
    let entry = Entry::new(&Actor::ApiKey(caller.key_id), Action::ProviderRotated, "provider", &id).after(&rotated)?;
    if !store::rotate_path(&state.db.pool, &id, &path_hash(&path_secret), &expire_at, &entry).await? {
        return Err(ApiError::not_found("provider", &id));
    }
    tracing::info!(provider = %id, grace_seconds = body.grace_seconds, "provider hook paths rotated");
    let listed = row.listed()?;
    Ok(Json(CreatedProvider {
        id: listed.id,
        kind: listed.kind.name(),
        name: listed.name,
        currency: listed.currency,
        shortcode: listed.shortcode,
        require_validation: listed.require_validation,
        allowed_sources: listed.allowed_sources,
        hook_paths: HookPaths::of(listed.kind, &path_secret),
        previous_paths_expire_at: Some(expire_at),
    }))
}

/// `DELETE /v1/providers/{id}` (admin): its hooks answer 404 from now on. Its history (deliveries,
/// payments, conflicts) is kept, and so it stays listed with `removed_at` and its name stays taken: the
/// payments recorded under that name must not be joined by another provider's. Repeating it changes nothing.
pub async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<store::ListedProvider>> {
    let before = store::provider_by_id(&state.db.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("provider", &id))?
        .listed()?;
    // Removing a removed provider changes nothing and records nothing.
    if before.removed_at.is_none() {
        let at = now_rfc3339();
        let after = store::ListedProvider { removed_at: Some(at.clone()), ..before.clone() };
        let entry = Entry::new(&Actor::ApiKey(caller.key_id), Action::ProviderDeleted, "provider", &id)
            .before(&before)?
            .after(&after)?;
        if !store::remove_provider(&state.db.pool, &id, &at, &entry).await? {
            return Err(ApiError::not_found("provider", &id));
        }
    }
    tracing::info!(provider = %id, "provider removed");
    let row = store::provider_by_id(&state.db.pool, &id).await?.ok_or_else(|| ApiError::not_found("provider", &id))?;
    Ok(Json(row.listed()?))
}

/// Filter of `GET /v1/payments/conflicts`.
#[derive(Deserialize)]
pub struct ConflictQuery {
    /// `open` or `resolved`; every conflict when absent.
    status: Option<String>,
}

/// `GET /v1/payments/conflicts?status=`: deliveries whose money disagreed with what was announced; nothing
/// credited. Newest first.
pub async fn conflicts(
    State(state): State<AppState>,
    axum::extract::Query(page): axum::extract::Query<PageQuery>,
    axum::extract::Query(q): axum::extract::Query<ConflictQuery>,
) -> ApiResult<Json<Page<store::Conflict>>> {
    let page = page.request("conflicts")?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            store::ConflictStatus::parse(text)
                .ok_or_else(|| ApiError::unprocessable("status", "status is open or resolved"))?,
        ),
    };
    Ok(Json(store::conflicts(&state.db.pool, status, &page).await?))
}

/// The body of `POST /v1/payments/conflicts/{id}/resolve`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// True: apply the money as received (to `serial` if given, else the serial the delivery named);
    /// false: dismiss it (refunded or settled outside the server).
    credit: bool,
    #[serde(default)]
    serial: Option<String>,
}

/// `POST /v1/payments/conflicts/{id}/resolve`: the operator's decision on a conflict, once. Crediting goes
/// through the same exactly-once apply (keyed by the provider's transaction), so two concurrent decisions
/// cannot credit twice; an unknown serial lands in the unmatched queue.
pub async fn resolve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body<ResolveIn>,
) -> ApiResult<(StatusCode, Json<Resolved>)> {
    let row = store::conflict_by_id(&state.db.pool, &id).await?.ok_or_else(|| ApiError::not_found("conflict", &id))?;
    if row.status != store::ConflictStatus::Open {
        return Err(already_resolved());
    }
    let resolved_at = now_rfc3339();
    let actor = Actor::ApiKey(caller.key_id.clone());
    let before = ConflictAudit { status: "open", resolution: None, serial: None, plan_id: None, payment_id: None };
    if !body.credit {
        let after = ConflictAudit { status: "resolved", resolution: Some("dismissed"), ..before };
        let entry =
            Entry::new(&actor, Action::ConflictResolved, "payment_conflict", &id).before(&before)?.after(&after)?;
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        if !store::claim_conflict(&mut *tx, &id, "dismissed", &resolved_at).await? {
            return Err(already_resolved());
        }
        crate::storage::audit::record(&mut *tx, &entry).await?;
        tx.commit().await?;
        return Ok((StatusCode::OK, Json(Resolved { id, status: "resolved", resolution: "dismissed", payment: None })));
    }
    // Each provider keeps its own account of what it received (store::Conflict); these fields they share.
    let received = &row.received;
    let text = |key: &str| received.get(key).and_then(field_text);
    // The operator's serial, else what the delivery named: its serial, or the plan it paid.
    let serial = body.serial.or_else(|| text("serial")).filter(|s| !s.trim().is_empty());
    let plan_id = if serial.is_none() { text("plan_id").filter(|p| !p.is_empty()) } else { None };
    if serial.is_none() && plan_id.is_none() {
        return Err(ApiError::invalid("serial", "the delivery named no serial: give one"));
    }
    let amount = received
        .get("amount")
        .and_then(decimal)
        .ok_or_else(|| ApiError::conflict("the delivery's amount is not a positive decimal: dismiss it"))?;
    let payment = crate::payments::PaymentIn {
        provider: row.name.clone(),
        provider_tx_id: row.provider_tx_id.clone(),
        serial: serial.clone(),
        plan_id: plan_id.clone(),
        amount: amount.to_string(),
        currency: text("currency").unwrap_or_else(|| row.currency.clone()),
        received_at: None,
        payer_phone: None,
        money_moved: true,
        // The money is credited by the operator's decision, not by the delivery.
        recorded_by: Some(caller.key_id),
        agent_id: None,
    };
    // The claim and the payment commit together: a dismissal racing this credit either finds the conflict
    // claimed, or claims it first and this one stops here, crediting nothing. SQLite's write guard keeps the
    // payment writer out meanwhile, as for every write through sqlx.
    let guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    if !store::claim_conflict(&mut *tx, &id, "credited", &resolved_at).await? {
        return Err(already_resolved());
    }
    let decision = crate::payments::decide_payment(&state, &mut tx, &payment).await?;
    let outcome = match decision {
        crate::payments::Decision::Done(outcome) => outcome,
        // Refused (another currency, say): nothing commits, the conflict stays open for another decision.
        crate::payments::Decision::Refused(refusal) => return Err(refusal),
    };
    let payment_id = match &outcome {
        Outcome::Applied(a) | Outcome::Repeat(a) => Some(a.payment_id.clone()),
        Outcome::Unmatched(_) => None,
    };
    store::set_conflict_payment(&mut *tx, &id, payment_id.as_deref()).await?;
    let after = ConflictAudit {
        status: "resolved",
        resolution: Some("credited"),
        serial: serial.as_deref(),
        plan_id: plan_id.as_deref(),
        payment_id: payment_id.as_deref(),
    };
    let entry = Entry::new(&actor, Action::ConflictResolved, "payment_conflict", &id).before(&before)?.after(&after)?;
    crate::storage::audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    drop(guard);
    let (status, Json(answer)) = crate::payments::finish(&state, crate::payments::Decision::Done(outcome))?.response();
    tracing::info!(conflict = %id, "conflict resolved by crediting");
    Ok((status, Json(Resolved { id, status: "resolved", resolution: "credited", payment: Some(answer) })))
}

/// A conflict as the audit log keeps it: the decision, and the payment a credit made (none when the money went
/// to the unmatched queue).
#[derive(Clone, Copy, Serialize)]
struct ConflictAudit<'a> {
    status: &'static str,
    resolution: Option<&'static str>,
    serial: Option<&'a str>,
    plan_id: Option<&'a str>,
    payment_id: Option<&'a str>,
}

fn already_resolved() -> ApiError {
    ApiError::conflict("this conflict is already resolved")
}

/// The answer of `POST /v1/payments/conflicts/{id}/resolve`: the payment's answer when it was credited.
#[derive(Serialize)]
pub struct Resolved {
    id: String,
    status: &'static str,
    resolution: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment: Option<PostAnswer>,
}

/// The secret path segment of a hook.
pub type Secret = Path<String>;

/// Current unix time, for signature windows.
pub fn unix_now() -> i64 {
    crate::ids::now().timestamp()
}

/// What became of a delivery's money.
pub enum Delivered {
    /// Applied now.
    Credited(PaymentAnswer),
    /// Applied before: the stored answer.
    Duplicate(PaymentAnswer),
    /// Money for an unknown serial, queued for an operator.
    Unmatched(Queued),
    /// Not credited: kept as a conflict for an operator, for this reason.
    Conflict(String),
}

impl Delivered {
    /// The outcome recorded on the delivery.
    pub fn outcome(&self) -> &'static str {
        match self {
            Delivered::Credited(_) => "credited",
            Delivered::Duplicate(_) => "duplicate",
            Delivered::Unmatched(_) => "unmatched",
            Delivered::Conflict(_) => "conflict",
        }
    }
}

/// Applies a delivery's payment exactly once, unless its transaction is in conflict. When the money has
/// already moved (`payment.money_moved`), a refusal by the core cannot be answered back to anybody: it
/// becomes a conflict for an operator. Otherwise the refusal is the caller's answer.
pub async fn deliver(
    state: &AppState,
    provider: &Provider,
    event_id: &str,
    payment: &crate::payments::PaymentIn,
) -> ApiResult<Delivered> {
    if let Some(reason) = store::conflict_reason(state, &provider.id, &payment.provider_tx_id).await? {
        return Ok(Delivered::Conflict(reason));
    }
    match crate::payments::apply(state, payment).await {
        Ok(Outcome::Applied(v)) => Ok(Delivered::Credited(v)),
        Ok(Outcome::Repeat(v)) => Ok(Delivered::Duplicate(v)),
        Ok(Outcome::Unmatched(v)) => Ok(Delivered::Unmatched(v)),
        Err(refusal) if payment.money_moved && refusal.status.is_client_error() => {
            let reason = refusal.code().to_owned();
            let received = RefusedDelivery {
                serial: payment.serial.as_deref(),
                plan_id: payment.plan_id.as_deref(),
                amount: &payment.amount,
                currency: &payment.currency,
                refusal: &refusal.body,
            };
            store::record_conflict(
                state,
                &provider.id,
                &payment.provider_tx_id,
                event_id,
                &reason,
                NO_ANNOUNCEMENT,
                &received,
            )
            .await?;
            Ok(Delivered::Conflict(reason))
        }
        Err(e) => Err(e),
    }
}

/// What a conflict keeps of money the core refused after it moved: the delivery as sent, and the refusal
/// (an error body, open by design).
#[derive(Serialize)]
struct RefusedDelivery<'a> {
    serial: Option<&'a str>,
    plan_id: Option<&'a str>,
    amount: &'a str,
    currency: &'a str,
    refusal: &'a serde_json::Map<String, Value>,
}

/// A conflict without an announcement to set against the delivery.
pub const NO_ANNOUNCEMENT: Option<&()> = None;

/// Records a conflict found before the payment was tried (amount or currency not as announced, foreign
/// shortcode, …) and returns it as the delivery's result. `announced` and `received` are each provider's
/// own account of the two sides, kept as JSON for the operator.
pub async fn conflict<A: Serialize, R: Serialize>(
    state: &AppState,
    provider: &Provider,
    provider_tx_id: &str,
    event_id: &str,
    reason: &str,
    announced: Option<&A>,
    received: &R,
) -> ApiResult<Delivered> {
    store::record_conflict(state, &provider.id, provider_tx_id, event_id, reason, announced, received).await?;
    Ok(Delivered::Conflict(reason.to_owned()))
}

/// The text a provider sent for a JSON number, when it can be known exactly. serde_json keeps an integer as
/// such, but any other number as an f64, and prints it back as the shortest text that reads as that f64:
/// the text sent for up to 15 significant digits, perhaps another beyond (`0.12345678901234567` comes back
/// as `0.12345678901234566`). Longer numbers, and those printed with an exponent, are `None`: a provider
/// that sends such an amount must send it as a string.
fn number_text(n: &serde_json::Number) -> Option<String> {
    let text = n.to_string();
    if n.is_i64() || n.is_u64() {
        return Some(text);
    }
    let digits = text.trim_start_matches('-').replace('.', "");
    let significant = digits.trim_start_matches('0').len();
    (!text.contains(['e', 'E']) && significant <= 15).then_some(text)
}

/// A provider's field as text: a string trimmed, or a number's exact text ([`number_text`]); `None` for
/// anything else.
pub fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => number_text(n),
        _ => None,
    }
}

/// An exact decimal from a provider's JSON field ([`field_text`]); `None` unless positive.
pub fn decimal(value: &Value) -> Option<rust_decimal::Decimal> {
    let parsed: rust_decimal::Decimal = field_text(value)?.parse().ok()?;
    (parsed > rust_decimal::Decimal::ZERO).then_some(parsed)
}
