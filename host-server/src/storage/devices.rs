//! Devices as the device list reads them: with their owner, so a list shows people, not ids.

use micropower_core::api::Customer;
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::repo::{self, ListedDevice, DEVICE_COLUMNS};
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// A device with its currency, credit, tariff and owner.
#[derive(sqlx::FromRow)]
pub struct OwnedDevice {
    #[sqlx(flatten)]
    pub listed: ListedDevice,
    #[sqlx(try_from = "Text<Option<Customer>>")]
    pub owner: Option<Customer>,
}

/// Devices whose canonical serial matches a `LIKE` pattern, by serial.
pub async fn matching<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    serial_pattern: &str,
    page: &PageRequest,
) -> ApiResult<Page<OwnedDevice>> {
    let mut q = ListQuery::new(format!(
        "SELECT {}, COALESCE(t.currency, p.currency) AS currency, cb.balance AS credit, t.body AS tariff, \
         c.body AS owner FROM devices d \
         LEFT JOIN tariffs t ON t.id = d.tariff_id \
         LEFT JOIN plans p ON p.id = d.plan_id \
         LEFT JOIN credit_balances cb ON cb.customer_id = d.owner_id AND cb.currency = COALESCE(t.currency, p.currency) \
         LEFT JOIN customers c ON c.id = d.owner_id",
        repo::qualified(DEVICE_COLUMNS, "d")
    ));
    q.filter("d.serial LIKE {}", serial_pattern);
    let keyset = Keyset { list: "devices", key: "d.serial", id: "d.serial", order: Order::Ascending };
    q.page(exec, keyset, page, |d: &OwnedDevice| (d.listed.device.serial.clone(), d.listed.device.serial.clone())).await
}
