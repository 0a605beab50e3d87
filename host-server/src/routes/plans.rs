//! Plans: view, and MPM's edits (a new total, one installment).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use micropower_core::api::{Currency, InstallmentPlan, InstallmentView, Period, TotalEdit};
use micropower_core::calls::{self, CoreFn};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::payments::lock_customer;
use crate::repo::{self, PlanBody, PlanKind, PlanRow};
use crate::state::AppState;
use crate::storage::audit::{self, Action, Actor, Entry};

/// A plan as the API shows it: `{id, kind, appliance, customer_id, serial, currency, version}` and, for
/// installment plans, `{period, total_cost, paid, outstanding, installments: [{number, due_date, amount, paid,
/// remaining}]}`, for EaaS plans the price per day and the least amount payable.
#[derive(Debug, Serialize)]
pub struct PlanView {
    id: String,
    kind: PlanKind,
    appliance: String,
    /// The catalog type the plan was sold from (`POST /v1/appliance-types`), or null.
    appliance_type_id: Option<String>,
    customer_id: String,
    serial: Option<String>,
    currency: Currency,
    version: i64,
    #[serde(flatten)]
    terms: Terms,
}

impl PlanView {
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// What a plan's kind adds to its view.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Terms {
    Installments {
        period: Period,
        #[serde(with = "micropower_core::wire::dec")]
        total_cost: Decimal,
        #[serde(with = "micropower_core::wire::dec")]
        paid: Decimal,
        #[serde(with = "micropower_core::wire::dec")]
        outstanding: Decimal,
        installments: Vec<InstallmentView>,
    },
    Eaas {
        #[serde(with = "micropower_core::wire::dec")]
        price_per_day: Decimal,
        #[serde(with = "micropower_core::wire::dec")]
        minimum_payable: Decimal,
    },
}

/// A plan as the API shows it ([`PlanView`]).
pub async fn plan_view(state: &AppState, row: &PlanRow) -> ApiResult<PlanView> {
    let terms = match &row.plan {
        PlanBody::Installments(plan) => {
            // Through the engine like every other core call, so the wasm build decides here too.
            let summary = state.core(calls::PlanSummary { plan: plan.clone() }).await?;
            Terms::Installments {
                period: summary.period,
                total_cost: summary.total_cost,
                paid: summary.paid,
                outstanding: summary.outstanding,
                installments: summary.installments,
            }
        }
        PlanBody::Eaas(plan) => {
            Terms::Eaas { price_per_day: plan.price_per_day, minimum_payable: plan.minimum_payable }
        }
    };
    Ok(PlanView {
        id: row.id.clone(),
        kind: row.kind(),
        appliance: row.appliance.clone(),
        appliance_type_id: row.appliance_type_id.clone(),
        customer_id: row.customer_id.clone(),
        serial: row.serial.clone(),
        currency: row.currency,
        version: row.version,
        terms,
    })
}

/// `GET /v1/plans/{id}`
pub async fn get_plan(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<PlanView>> {
    let row = repo::plan(&state.db.pool, &id).await?.ok_or_else(|| ApiError::not_found("plan", &id))?;
    Ok(Json(plan_view(&state, &row).await?))
}

/// The body of `PUT /v1/plans/{id}/total`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotalBody {
    #[serde(with = "micropower_core::wire::dec")]
    total_cost: Decimal,
    #[serde(default)]
    installments: Option<u32>,
    #[serde(default)]
    period: Option<Period>,
}

/// The body of `PUT /v1/plans/{id}/installments/{number}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallmentBody {
    #[serde(with = "micropower_core::wire::dec")]
    amount: Decimal,
}

/// `PUT /v1/plans/{id}/total`: the core applies MPM's edit rules; the plan is locked meanwhile.
pub async fn edit_total(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body<TotalBody>,
) -> ApiResult<Json<PlanView>> {
    let edit = TotalEdit { total_cost: body.total_cost, installments: body.installments, period: body.period };
    let actor = Actor::ApiKey(caller.key_id);
    edit_plan(&state, &actor, &id, |plan| calls::EditPlanTotal { plan, edit: edit.clone() }).await
}

/// `PUT /v1/plans/{id}/installments/{number}`
pub async fn edit_installment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, number)): Path<(String, u32)>,
    Body(body): Body<InstallmentBody>,
) -> ApiResult<Json<PlanView>> {
    let actor = Actor::ApiKey(caller.key_id);
    edit_plan(&state, &actor, &id, |plan| calls::EditInstallment { plan, number, amount: body.amount }).await
}

/// How often an edit starts over because the plan changed owner between reading it and locking the owner.
const OWNER_RETRIES: usize = 3;

/// Applies an edit under the locks every writer of a plan takes, in the same order: the owner's row, then
/// the plan's. A payment locks its device and the owner, then reads the owner's plans and writes them back
/// whole; an edit that locked only the plan's row could commit between that read and that write, and the
/// payment would erase the edit (or the edit the payment's paid amounts).
async fn edit_plan<F: CoreFn<Output = InstallmentPlan>>(
    state: &AppState,
    actor: &Actor,
    id: &str,
    edit: impl Fn(InstallmentPlan) -> F,
) -> ApiResult<Json<PlanView>> {
    let _guard = state.db.write_guard().await;
    for _ in 0..OWNER_RETRIES {
        let mut tx = state.db.pool.begin().await?;
        let owner = repo::plan(&mut *tx, id).await?.ok_or_else(|| ApiError::not_found("plan", id))?.customer_id;
        lock_customer(state, &mut tx, &owner).await?;
        let mut row = repo::plan_locked(&mut *tx, id, state.db.for_update())
            .await?
            .ok_or_else(|| ApiError::not_found("plan", id))?;
        if row.customer_id != owner {
            // Its device was re-assigned meanwhile: start over under the new owner's lock.
            continue;
        }
        let Some(plan) = row.installments() else {
            return Err(ApiError::conflict("only installment plans have a total and installments to edit"));
        };
        let edited = state.core(edit(plan.clone())).await?;
        repo::update_plan_body(&mut *tx, id, &edited).await?;
        let before = plan_view(state, &row).await?;
        row.plan = PlanBody::Installments(edited);
        row.version += 1;
        let after = plan_view(state, &row).await?;
        audit::record(&mut *tx, &Entry::new(actor, Action::PlanEdited, "plan", id).before(&before)?.after(&after)?)
            .await?;
        tx.commit().await?;
        return Ok(Json(after));
    }
    Err(ApiError::conflict("the plan changed owner while it was edited; try again"))
}
