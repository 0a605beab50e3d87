//! Payment allocation (domain.md §5): money first clears debt, only what remains becomes a token.
//!
//! The host loads one [`AccountSnapshot`] for the device whose serial the payment carries, calls
//! [`allocate_payment`] (or [`validate_payment`] before the money moves), and writes the decision in one
//! transaction. Every decision conserves money exactly:
//! `Σ lines.amount + credit_added − credit_used = amount`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::access_rate::{accrue, AccessRateState};
use crate::error::{CoreError, CoreResult};
use crate::money::{check_payment_amount, Currency};
use crate::num;
use crate::plan::{EaasPlan, InstallmentPlan, Period};
use crate::registry::{normalize_serial, DeviceKind};
use crate::tariff::Tariff;
use crate::token::{Resolution, TokenRequest, TokenUnit};

/// A payment as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// As the provider sent it; normalised by the core.
    pub serial: String,
    #[serde(with = "crate::wire::dec")]
    /// The amount, in the currency's units.
    pub amount: Decimal,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// The day the money was received, in the operator's time zone.
    pub received_on: NaiveDate,
}

/// The device's owner, as far as a payment needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Identifier given by the host.
    pub id: String,
    /// Given name.
    pub name: String,
    #[serde(default)]
    /// Surname.
    pub surname: String,
}

/// How the device is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Billing {
    /// A meter on a tariff, with its access-rate account.
    Meter {
        /// The meter's tariff.
        tariff: Tariff,
        #[serde(default)]
        /// The access-rate fee, if the tariff charges one.
        access_rate: AccessRateState,
        /// What one of the meter's tokens can carry, in kWh (OpenPAYGO: `"1/<time divider>"`; an external
        /// vendor may state its own). Energy is sold in multiples of both this and the tariff's
        /// `energy_step_kwh`; `None`: the tariff's step alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_resolution: Option<Resolution>,
    },
    /// An SHS or e-bike on an installment plan.
    Installments {
        /// The plan.
        plan: InstallmentPlan,
        /// The device's token resolution in days (`"1/4"` for OpenPAYGO with time divider 4): days are
        /// rounded up to a decimal multiple of it (whole days by default).
        #[serde(default)]
        day_resolution: Resolution,
    },
    /// An SHS or e-bike sold as energy-as-a-service.
    Eaas {
        /// The plan.
        plan: EaasPlan,
        /// The device's token resolution in days: days are rounded down to a decimal multiple of it.
        #[serde(default)]
        day_resolution: Resolution,
    },
}

/// The device a payment is for, and its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAccount {
    /// Canonical serial.
    pub serial: String,
    /// Meter, SHS or e-bike.
    pub kind: DeviceKind,
    /// Registration day; anchors access-rate periods.
    pub registered_on: NaiveDate,
    #[serde(default)]
    /// The owner; `None` if the device is unassigned.
    pub owner: Option<Owner>,
}

/// Everything a payment decision needs, loaded by the host in one read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    /// The device part.
    pub device: DeviceAccount,
    /// How the device is billed.
    pub billing: Billing,
    /// The owner's plans that have no device (a TV, a fridge), in creation order; paid through meter
    /// payments when overdue.
    #[serde(default)]
    pub customer_plans: Vec<InstallmentPlan>,
    /// The owner's credit balance in the billing currency.
    #[serde(with = "crate::wire::dec", default)]
    pub credit_balance: Decimal,
}

/// What a line of an allocation paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationKind {
    /// Paid (part of) an installment.
    Installment,
    /// Paid the meter's access-rate debt.
    AccessRate,
    /// Bought energy for a meter.
    Energy,
    /// Energy-as-a-service.
    Eaas,
}

/// One use of the money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationLine {
    /// What the money paid for.
    pub kind: AllocationKind,
    #[serde(with = "crate::wire::dec")]
    /// The amount, in the currency's units.
    pub amount: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The plan paid, for installment lines.
    pub plan_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The installment number, for installment lines.
    pub installment: Option<u32>,
    /// kWh for energy, days for EaaS.
    #[serde(with = "crate::wire::dec_opt", default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
}

/// Why a payment bought no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoTokenReason {
    /// Debt took everything.
    NothingLeftAfterDebt,
    /// What was left (with credit) is below the tariff's minimum purchase; it waits as credit.
    BelowMinimumPurchase,
    /// What was left does not buy one energy step / one token resolution of days.
    BelowOneUnit,
    /// An EaaS payment below the plan's minimum payable; it waits as credit.
    BelowMinimumPayable,
    /// The plan was already paid off; the money waits as credit.
    PlanAlreadyPaid,
    /// A payment to a plan without a device makes no token.
    NoDevice,
}

/// A payment decision: what to write, and which token to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The device serial (canonical where the core produced it).
    pub serial: String,
    /// ISO 4217 currency.
    pub currency: Currency,
    #[serde(with = "crate::wire::dec")]
    /// The amount, in the currency's units.
    pub amount: Decimal,
    /// Where the money went, in order.
    pub lines: Vec<AllocationLine>,
    /// Credit spent on this purchase.
    #[serde(with = "crate::wire::dec")]
    pub credit_used: Decimal,
    /// Money that went to the credit balance.
    #[serde(with = "crate::wire::dec")]
    pub credit_added: Decimal,
    /// The credit balance after this payment.
    #[serde(with = "crate::wire::dec")]
    pub credit_balance: Decimal,
    /// A meter's access-rate account after accrual and payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_rate: Option<AccessRateState>,
    /// Every installment plan this payment touched, as it stands after the payment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<InstallmentPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The token to make, if any.
    pub token: Option<TokenRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Why there is no token, when there is none.
    pub no_token_reason: Option<NoTokenReason>,
}

/// Decides what a payment pays for. The money has moved: only rules that make the decision impossible are
/// errors (unknown serial, no owner, wrong currency, bad amount); a small payment becomes credit.
pub fn allocate_payment(snapshot: Option<&AccountSnapshot>, payment: &Payment) -> CoreResult<Allocation> {
    let (snapshot, serial) = account_for(snapshot, &payment.serial)?;
    check_payment_amount(payment.amount, &payment.currency)?;
    num::check_range("amount", payment.amount, true)?;
    num::check_range("credit_balance", snapshot.credit_balance, false)?;
    billing_currency(&snapshot.billing).expect_same(&payment.currency)?;
    let mut draft = Draft::new(serial, payment, snapshot.credit_balance);
    match &snapshot.billing {
        Billing::Meter { tariff, access_rate, token_resolution } => {
            meter(&mut draft, snapshot, tariff, access_rate, token_resolution.as_ref(), payment.received_on)?;
        }
        Billing::Installments { plan, day_resolution } => {
            installments(&mut draft, plan, day_resolution.step("day_resolution")?)?;
        }
        Billing::Eaas { plan, day_resolution } => eaas(&mut draft, plan, day_resolution.step("day_resolution")?)?,
    }
    draft.finish()
}

/// Resolves the snapshot for a payment's serial: unknown serials, foreign snapshots and missing owners
/// are refused here, so a token can only ever go to the device the payment names.
fn account_for<'a>(
    snapshot: Option<&'a AccountSnapshot>,
    raw_serial: &str,
) -> CoreResult<(&'a AccountSnapshot, String)> {
    let unknown = || CoreError::UnknownSerial { serial: raw_serial.to_owned() };
    let serial = normalize_serial(raw_serial).map_err(|_| unknown())?;
    let snapshot = match snapshot {
        Some(s) if s.device.serial == serial => s,
        _ => return Err(CoreError::UnknownSerial { serial }),
    };
    if snapshot.device.owner.is_none() {
        return Err(CoreError::DeviceUnassigned { serial });
    }
    let billing_fits = matches!(
        (&snapshot.device.kind, &snapshot.billing),
        (DeviceKind::Meter, Billing::Meter { .. })
            | (DeviceKind::SolarHomeSystem | DeviceKind::EBike, Billing::Installments { .. } | Billing::Eaas { .. })
    );
    if !billing_fits {
        return Err(CoreError::KindMismatch {
            kind: snapshot.device.kind.as_str().into(),
            reason: "meters are billed by tariff, SHS and e-bikes by plan".into(),
        });
    }
    Ok((snapshot, serial))
}

fn billing_currency(billing: &Billing) -> Currency {
    match billing {
        Billing::Meter { tariff, .. } => tariff.currency,
        Billing::Installments { plan, .. } => plan.currency,
        Billing::Eaas { plan, .. } => plan.currency,
    }
}

/// The decision being built: what is left of the payment, and the lines so far.
struct Draft {
    serial: String,
    currency: Currency,
    amount: Decimal,
    left: Decimal,
    credit: Decimal,
    lines: Vec<AllocationLine>,
    credit_used: Decimal,
    access_rate: Option<AccessRateState>,
    plans: Vec<InstallmentPlan>,
    token: Option<TokenRequest>,
    no_token_reason: Option<NoTokenReason>,
}

impl Draft {
    fn new(serial: String, payment: &Payment, credit: Decimal) -> Self {
        Draft {
            serial,
            currency: payment.currency,
            amount: payment.amount,
            left: payment.amount,
            credit,
            lines: Vec::new(),
            credit_used: Decimal::ZERO,
            access_rate: None,
            plans: Vec::new(),
            token: None,
            no_token_reason: None,
        }
    }

    /// Books `amount` (≤ what is left) on a line.
    fn pay(
        &mut self,
        kind: AllocationKind,
        amount: Decimal,
        plan_id: Option<&str>,
        installment: Option<u32>,
    ) -> CoreResult<()> {
        self.left = num::sub(self.left, amount)?;
        self.lines.push(AllocationLine {
            kind,
            amount: amount.normalize(),
            plan_id: plan_id.map(str::to_owned),
            installment,
            quantity: None,
        });
        Ok(())
    }

    /// Books a purchase of `cost` for `quantity`, paid from what is left first and then from credit.
    fn buy(&mut self, kind: AllocationKind, cost: Decimal, quantity: Decimal, unit: TokenUnit) -> CoreResult<()> {
        let from_credit = num::sub(cost, self.left)?.max(Decimal::ZERO);
        self.credit_used = from_credit;
        self.left = num::sub(self.left, num::sub(cost, from_credit)?)?;
        self.lines.push(AllocationLine {
            kind,
            amount: cost.normalize(),
            plan_id: None,
            installment: None,
            quantity: Some(quantity.normalize()),
        });
        self.token = Some(TokenRequest { serial: self.serial.clone(), unit, quantity: quantity.normalize() });
        Ok(())
    }

    fn no_token(&mut self, reason: NoTokenReason) {
        self.no_token_reason = Some(reason);
    }

    /// Pays installments of `plan` in `order` (indices into its installments) from what is left.
    fn pay_installments(&mut self, plan: &mut InstallmentPlan, order: &[usize]) -> CoreResult<Decimal> {
        let mut paid_here = Decimal::ZERO;
        for &index in order {
            if self.left <= Decimal::ZERO {
                break;
            }
            let Some(inst) = plan.installments.get_mut(index) else { continue };
            let pay = inst.remaining().min(self.left);
            if pay <= Decimal::ZERO {
                continue;
            }
            inst.paid = num::add(inst.paid, pay)?.normalize();
            let number = inst.number;
            paid_here = num::add(paid_here, pay)?;
            self.pay(AllocationKind::Installment, pay, Some(&plan.id), Some(number))?;
        }
        Ok(paid_here)
    }

    fn finish(self) -> CoreResult<Allocation> {
        let credit_added = self.left.normalize();
        let credit_balance = num::add(num::sub(self.credit, self.credit_used)?, credit_added)?.normalize();
        Ok(Allocation {
            serial: self.serial,
            currency: self.currency,
            amount: self.amount.normalize(),
            lines: self.lines,
            credit_used: self.credit_used.normalize(),
            credit_added,
            credit_balance,
            access_rate: self.access_rate,
            plans: self.plans,
            token: self.token,
            no_token_reason: self.no_token_reason,
        })
    }
}

/// Installments of `plan` in payment order (due date, then number), optionally only those due by `until`.
fn due_order(plan: &InstallmentPlan, until: Option<NaiveDate>) -> Vec<usize> {
    let mut order: Vec<usize> = plan
        .installments
        .iter()
        .enumerate()
        .filter(|(_, i)| i.remaining() > Decimal::ZERO && until.is_none_or(|d| i.due_date <= d))
        .map(|(index, _)| index)
        .collect();
    order.sort_by_key(|&index| plan.installments.get(index).map(|i| (i.due_date, i.number)));
    order
}

/// §5.1: overdue device-less installments, then access-rate debt, then energy for what is left plus credit.
/// Energy is sold in multiples of what both the meter (`energy_step_kwh`) and its token can carry (§6): with
/// OpenPAYGO tokens of whole kWh, 700 at 500/kWh buys 1 kWh for 500 and 200 stays as credit.
fn meter(
    draft: &mut Draft,
    snapshot: &AccountSnapshot,
    tariff: &Tariff,
    access: &AccessRateState,
    token_resolution: Option<&Resolution>,
    today: NaiveDate,
) -> CoreResult<()> {
    tariff.validate()?;
    let step = match token_resolution {
        Some(resolution) => {
            num::common_step("token_resolution", tariff.energy_step_kwh, resolution.step("token_resolution")?)?
        }
        None => tariff.energy_step_kwh,
    };
    let mut access = match &tariff.access_rate {
        Some(rate) => accrue(rate, snapshot.device.registered_on, access, today)?.state,
        None => *access,
    };
    pay_overdue_customer_plans(draft, &snapshot.customer_plans, today)?;
    let access_paid = access.debt.min(draft.left);
    if access_paid > Decimal::ZERO {
        draft.pay(AllocationKind::AccessRate, access_paid, None, None)?;
        access.debt = num::sub(access.debt, access_paid)?.normalize();
    }
    draft.access_rate = Some(access);
    let net = num::add(draft.left, draft.credit)?;
    if net.is_zero() {
        draft.no_token(NoTokenReason::NothingLeftAfterDebt);
    } else if net < tariff.minimum_purchase {
        draft.no_token(NoTokenReason::BelowMinimumPurchase);
    } else {
        let energy = tariff.energy_in_steps(net, step)?;
        if energy.kwh.is_zero() {
            draft.no_token(NoTokenReason::BelowOneUnit);
        } else {
            draft.buy(AllocationKind::Energy, energy.cost, energy.kwh, TokenUnit::Kwh)?;
        }
    }
    Ok(())
}

/// Pays the owner's overdue device-less installments: oldest due date first, then plan creation order,
/// then installment number. Plans in another currency are left alone: currencies never meet.
fn pay_overdue_customer_plans(draft: &mut Draft, plans: &[InstallmentPlan], today: NaiveDate) -> CoreResult<()> {
    let mut due: Vec<(NaiveDate, usize, u32, usize)> = Vec::new();
    for (p, plan) in plans.iter().enumerate().filter(|(_, plan)| plan.currency == draft.currency) {
        plan.validate()?;
        for index in due_order(plan, Some(today)) {
            if let Some(i) = plan.installments.get(index) {
                due.push((i.due_date, p, i.number, index));
            }
        }
    }
    due.sort();
    let mut updated: Vec<Option<InstallmentPlan>> = vec![None; plans.len()];
    for (_, p, _, index) in due {
        if draft.left <= Decimal::ZERO {
            break;
        }
        let (Some(slot), Some(original)) = (updated.get_mut(p), plans.get(p)) else { continue };
        let plan = slot.get_or_insert_with(|| original.clone());
        draft.pay_installments(plan, &[index])?;
    }
    draft.plans.extend(updated.into_iter().flatten());
    Ok(())
}

/// §5.2: the device's installments oldest first (prepaying allowed); unlock when paid off, else days of use
/// at the daily price of the earliest installment that was unpaid, rounded up to the token resolution's
/// decimal grid (`resolution`, from [`Resolution::step`]).
fn installments(draft: &mut Draft, plan: &InstallmentPlan, resolution: Decimal) -> CoreResult<()> {
    plan.validate()?;
    let order = due_order(plan, None);
    let Some((price, price_days)) = daily_price(plan, &order)? else {
        draft.no_token(NoTokenReason::PlanAlreadyPaid);
        return Ok(());
    };
    let mut updated = plan.clone();
    let paid = draft.pay_installments(&mut updated, &order)?;
    if updated.outstanding()?.is_zero() {
        draft.token =
            Some(TokenRequest { serial: draft.serial.clone(), unit: TokenUnit::Unlock, quantity: Decimal::ZERO });
    } else {
        // paid × days / price rather than paid / (price / days): the daily price is rarely a finite decimal
        // (900 / 28), and rounding it first could push an exact 14 days over to 15.
        let days = num::ceil_to_step(num::div(num::mul(paid, price_days)?, price)?, resolution)?;
        draft.token =
            Some(TokenRequest { serial: draft.serial.clone(), unit: TokenUnit::Days, quantity: days.normalize() });
    }
    draft.plans.push(updated);
    Ok(())
}

/// The price of a day of use, as (the earliest unpaid installment's amount, the days it covers).
/// The down payment line covers no period of its own, so a regular installment is preferred; a plan whose
/// only unpaid line is the down payment prices days at that line over the plan's nominal period.
fn daily_price(plan: &InstallmentPlan, order: &[usize]) -> CoreResult<Option<(Decimal, Decimal)>> {
    let unpaid: Vec<_> = order.iter().filter_map(|&i| plan.installments.get(i)).collect();
    let Some(first) = unpaid.iter().find(|i| i.number > 0).or(unpaid.first()) else {
        return Ok(None);
    };
    let days = if first.number > 0 {
        plan.period_days_of(first.number)?
    } else {
        match plan.period {
            Period::Weekly => 7,
            Period::EveryDays(n) => n,
            Period::Monthly => 30,
        }
    };
    if first.amount.is_zero() {
        return Err(CoreError::invalid("installments.amount", "an unpaid installment of zero cannot price days"));
    }
    Ok(Some((first.amount, Decimal::from(days))))
}

/// §5.3: below the minimum payable, all to credit; otherwise days = (amount + credit) / price per day,
/// rounded down to the token resolution's decimal grid (`resolution`, from [`Resolution::step`]), the rest
/// to credit.
fn eaas(draft: &mut Draft, plan: &EaasPlan, resolution: Decimal) -> CoreResult<()> {
    plan.validate()?;
    if draft.amount < plan.minimum_payable {
        draft.no_token(NoTokenReason::BelowMinimumPayable);
        return Ok(());
    }
    let net = num::add(draft.left, draft.credit)?;
    let days = num::floor_to_step(num::div(net, plan.price_per_day)?, resolution)?;
    if days.is_zero() {
        draft.no_token(NoTokenReason::BelowOneUnit);
        return Ok(());
    }
    let cost = plan.price_of(days)?.min(net);
    draft.buy(AllocationKind::Eaas, cost, days, TokenUnit::Days)
}

/// A payment made against a device-less plan by its id (a TV paid directly): installments oldest first,
/// future ones included; what exceeds the plan goes to credit. No token.
pub fn allocate_plan_payment(
    plan: &InstallmentPlan,
    credit_balance: Decimal,
    amount: Decimal,
    currency: &Currency,
) -> CoreResult<Allocation> {
    plan.validate()?;
    check_payment_amount(amount, currency)?;
    num::check_range("amount", amount, true)?;
    num::check_range("credit_balance", credit_balance, false)?;
    plan.currency.expect_same(currency)?;
    let payment = Payment { serial: String::new(), amount, currency: *currency, received_on: plan.start_date };
    let mut draft = Draft::new(String::new(), &payment, credit_balance);
    let mut updated = plan.clone();
    draft.pay_installments(&mut updated, &due_order(plan, None))?;
    draft.plans.push(updated);
    draft.no_token(NoTokenReason::NoDevice);
    draft.finish()
}

/// Who entered a payment: a provider (money moved or about to move), or an operator in the web form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    /// Sent by a payment provider.
    Provider,
    /// Entered by an operator in the web form.
    Operator,
}

/// A question asked before the money moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationRequest {
    /// The device serial (canonical where the core produced it).
    pub serial: String,
    #[serde(with = "crate::wire::dec")]
    /// The amount, in the currency's units.
    pub amount: Decimal,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// The day the money was received.
    pub received_on: NaiveDate,
    #[serde(default)]
    /// Who enters the payment.
    pub channel: Channel,
}

/// A positive answer: who will be credited, the least acceptable amount, and what the payment would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// Always true in an answer; refusals are errors.
    pub accepted: bool,
    /// "Name Surname" of the owner, to confirm to the payer.
    pub customer_name: String,
    #[serde(with = "crate::wire::dec")]
    /// The least amount that would be accepted.
    pub minimum_amount: Decimal,
    /// What the payment would do if it arrived now.
    pub preview: Allocation,
}

/// Answers, without side effects, whether a payment would be accepted (domain.md §5.5). The refusals, in
/// order: `unknown_serial`, `device_unassigned`, `currency_mismatch`, `invalid_amount`,
/// `amount_below_minimum` (with the minimum acceptable amount).
pub fn validate_payment(snapshot: Option<&AccountSnapshot>, request: &ValidationRequest) -> CoreResult<Validation> {
    let (account, _) = account_for(snapshot, &request.serial)?;
    billing_currency(&account.billing).expect_same(&request.currency)?;
    check_payment_amount(request.amount, &request.currency)?;
    num::check_range("amount", request.amount, true)?;
    let minimum_amount = minimum_amount(account, request)?;
    if request.amount < minimum_amount {
        return Err(CoreError::AmountBelowMinimum { amount: request.amount, minimum_amount });
    }
    let payment = Payment {
        serial: request.serial.clone(),
        amount: request.amount,
        currency: request.currency,
        received_on: request.received_on,
    };
    let preview = allocate_payment(Some(account), &payment)?;
    let owner = account.device.owner.as_ref();
    let customer_name = owner.map(|o| format!("{} {}", o.name, o.surname).trim().to_owned()).unwrap_or_default();
    Ok(Validation { accepted: true, customer_name, minimum_amount, preview })
}

/// The least amount this device accepts now:
/// - meter: overdue device-less installments + access debt (after accrual) + minimum purchase − credit;
/// - installment plan: the operator's minimum if set; through the operator's form, also the next
///   installment's remaining amount (MPM refuses 384 against a 385 installment there);
/// - EaaS: the minimum payable.
///
/// Never below the currency's smallest unit, since a payment must be positive.
pub fn minimum_amount(account: &AccountSnapshot, request: &ValidationRequest) -> CoreResult<Decimal> {
    let floor = request.currency.minor_unit();
    let minimum = match &account.billing {
        Billing::Meter { tariff, access_rate, .. } => {
            tariff.validate()?;
            let access = match &tariff.access_rate {
                Some(rate) => accrue(rate, account.device.registered_on, access_rate, request.received_on)?.state,
                None => *access_rate,
            };
            let mut overdue = Decimal::ZERO;
            for plan in account.customer_plans.iter().filter(|p| p.currency == request.currency) {
                plan.validate()?;
                for index in due_order(plan, Some(request.received_on)) {
                    let remaining = plan.installments.get(index).map(|i| i.remaining()).unwrap_or_default();
                    overdue = num::add(overdue, remaining)?;
                }
            }
            let needed = num::add(num::add(overdue, access.debt)?, tariff.minimum_purchase)?;
            num::sub(needed, account.credit_balance)?
        }
        Billing::Installments { plan, .. } => {
            plan.validate()?;
            let operator_floor = match request.channel {
                Channel::Operator => due_order(plan, None)
                    .first()
                    .and_then(|&i| plan.installments.get(i))
                    .map(|i| i.remaining())
                    .unwrap_or_default(),
                Channel::Provider => Decimal::ZERO,
            };
            operator_floor.max(plan.minimum_payment.unwrap_or_default())
        }
        Billing::Eaas { plan, .. } => plan.minimum_payable,
    };
    Ok(minimum.max(floor).normalize())
}
