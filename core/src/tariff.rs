//! Tariffs for meters (domain.md §3): unit price, the energy that net money buys, the access rate.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::money::{check_non_negative, Currency};
use crate::num;

/// A per-kWh surcharge on top of the base price (MPM "tariff component").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeComponent {
    /// The fee's name, as shown on receipts.
    pub name: String,
    #[serde(with = "crate::wire::dec")]
    /// Price of one kWh.
    pub price_per_kwh: Decimal,
}

/// A fixed fee every `period_days` on a meter (MPM "access rate" / subscription fee).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRate {
    #[serde(with = "crate::wire::dec")]
    /// The amount, in the currency's units.
    pub amount: Decimal,
    /// Days between two fees (at least 1).
    pub period_days: u32,
}

/// What a meter's customer pays for energy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Identifier given by the host.
    pub id: Option<String>,
    /// ISO 4217 currency.
    pub currency: Currency,
    #[serde(with = "crate::wire::dec")]
    /// Price of one kWh.
    pub price_per_kwh: Decimal,
    #[serde(default)]
    /// Per-kWh surcharges.
    pub fees: Vec<FeeComponent>,
    #[serde(default)]
    /// The access-rate fee, if the tariff charges one.
    pub access_rate: Option<AccessRate>,
    /// Below this net amount no token is made; the money waits as credit.
    #[serde(with = "crate::wire::dec", default)]
    pub minimum_purchase: Decimal,
    /// The meter's credit resolution: energy is sold in multiples of this.
    #[serde(with = "crate::wire::dec", default = "default_step")]
    pub energy_step_kwh: Decimal,
}

fn default_step() -> Decimal {
    Decimal::new(1, 2)
}

/// The energy that an amount of net money buys, and what is left over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergyPurchase {
    /// kWh, a multiple of the tariff's step.
    #[serde(with = "crate::wire::dec")]
    pub kwh: Decimal,
    /// What the energy costs, rounded half up to the currency's minor unit.
    #[serde(with = "crate::wire::dec")]
    pub cost: Decimal,
    /// Net money minus cost: goes to the customer's credit balance, never lost.
    #[serde(with = "crate::wire::dec")]
    pub credit: Decimal,
}

impl Tariff {
    /// Errors unless price > 0, fees ≥ 0, access amount > 0 with period ≥ 1, minimum ≥ 0, step > 0,
    /// all within the core's range and the currency's minor unit where they are money.
    pub fn validate(&self) -> CoreResult<()> {
        num::check_range("price_per_kwh", self.price_per_kwh, true)?;
        for fee in &self.fees {
            num::check_range("fees.price_per_kwh", fee.price_per_kwh, false)?;
        }
        if let Some(rate) = &self.access_rate {
            num::check_range("access_rate.amount", rate.amount, true)?;
            check_non_negative("access_rate.amount", rate.amount, &self.currency)?;
            if rate.period_days == 0 {
                return Err(CoreError::invalid("access_rate.period_days", "must be at least 1"));
            }
        }
        num::check_range("minimum_purchase", self.minimum_purchase, false)?;
        check_non_negative("minimum_purchase", self.minimum_purchase, &self.currency)?;
        num::check_range("energy_step_kwh", self.energy_step_kwh, true)?;
        Ok(())
    }

    /// `price_per_kwh + Σ fee.price_per_kwh`. *MPM: base 10000 + component 200000 ⇒ 210000.*
    pub fn unit_price(&self) -> CoreResult<Decimal> {
        self.validate()?;
        num::add(self.price_per_kwh, num::sum(self.fees.iter().map(|f| f.price_per_kwh))?)
    }

    /// The energy for net money `net`: `kwh = floor(net / unit_price)` to a multiple of the step,
    /// `cost = round_half_up(kwh × unit_price)`, and `net − cost` to credit.
    pub fn energy_for_money(&self, net: Decimal) -> CoreResult<EnergyPurchase> {
        self.energy_in_steps(net, self.energy_step_kwh)
    }

    /// [`Tariff::energy_for_money`] with energy sold in multiples of `step` (> 0) instead of the tariff's
    /// own step: a multiple of it that the meter's token can also carry.
    pub(crate) fn energy_in_steps(&self, net: Decimal, step: Decimal) -> CoreResult<EnergyPurchase> {
        num::check_range("net_amount", net, false)?;
        let unit_price = self.unit_price()?;
        let kwh = num::floor_to_step(num::div(net, unit_price)?, step)?;
        let cost = self.currency.round(num::mul(kwh, unit_price)?);
        // kwh × price ≤ net and net sits on the minor-unit grid, so rounding half up never passes net.
        let credit = num::sub(net, cost)?;
        Ok(EnergyPurchase { kwh: kwh.normalize(), cost, credit: credit.normalize() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn tariff(price: Decimal, fees: &[Decimal]) -> Tariff {
        Tariff {
            id: None,
            currency: Currency::parse("TZS").unwrap(),
            price_per_kwh: price,
            fees: fees.iter().map(|p| FeeComponent { name: "fee".into(), price_per_kwh: *p }).collect(),
            access_rate: None,
            minimum_purchase: dec!(0),
            energy_step_kwh: dec!(0.01),
        }
    }

    #[test]
    fn domain_examples() {
        assert_eq!(tariff(dec!(10000), &[dec!(200000)]).unit_price().unwrap(), dec!(210000));
        let p = tariff(dec!(300), &[]).energy_for_money(dec!(1000)).unwrap();
        assert_eq!((p.kwh, p.cost, p.credit), (dec!(3.33), dec!(999), dec!(1)));
        assert_eq!(tariff(dec!(450), &[dec!(50)]).energy_for_money(dec!(1000)).unwrap().kwh, dec!(2));
    }
}
