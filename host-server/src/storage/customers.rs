//! Customers as stored: the core's `Customer` as JSON, its names and village beside it for queries, a
//! lower-case search text, and one `customer_phones` row per number (the exact-match lookup registration
//! uses to find an existing customer).

use micropower_core::api::Customer;
use sqlx::{Any, Executor, Transaction};

use crate::error::{ApiError, ApiResult};
use crate::ids::now_rfc3339;
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// A customer with its place in the list.
#[derive(sqlx::FromRow)]
struct ListedCustomer {
    id: String,
    created_at: String,
    #[sqlx(try_from = "Text<Customer>")]
    body: Customer,
}

/// What `GET /v1/customers?query=` searches: names, phones and the national id, in lower case.
fn search_text(customer: &Customer) -> String {
    let national_id = customer.national_id.as_deref().unwrap_or_default();
    format!("{} {} {} {national_id}", customer.name, customer.surname, customer.phones.join(" ")).to_lowercase()
}

/// Customers whose search text contains any of `needles` (lower case), newest first.
pub async fn matching<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    needles: &[String],
    page: &PageRequest,
) -> ApiResult<Page<Customer>> {
    let mut q = ListQuery::new("SELECT id, created_at, body FROM customers");
    if !needles.is_empty() {
        let alternatives: Vec<String> =
            needles.iter().map(|n| format!("search LIKE {}", q.bind(format!("%{}%", escape_like(n))))).collect();
        q.condition(alternatives.join(" OR "));
    }
    let keyset = Keyset { list: "customers", key: "created_at", id: "id", order: Order::NewestFirst };
    let found = q.page(exec, keyset, page, |c: &ListedCustomer| (c.created_at.clone(), c.id.clone())).await?;
    Ok(found.map(|c| c.body))
}

/// A query's `%` and `_` are text, not wildcards. No `ESCAPE` clause is portable between SQLite and
/// PostgreSQL without one, so they are dropped: no name, phone or national id needs them to be found.
fn escape_like(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '%' | '_' | '\\')).collect()
}

/// Stores a new customer with its phones; 409 when a phone belongs to another customer.
pub async fn insert(tx: &mut Transaction<'_, Any>, customer: &Customer) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO customers (id, name, surname, village_id, body, search, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&customer.id)
    .bind(&customer.name)
    .bind(&customer.surname)
    .bind(&customer.village_id)
    .bind(serde_json::to_string(customer).map_err(ApiError::internal)?)
    .bind(search_text(customer))
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await?;
    insert_phones(tx, customer).await
}

/// Replaces a stored customer's fields and phones with `customer`'s.
pub async fn update(tx: &mut Transaction<'_, Any>, customer: &Customer) -> ApiResult<()> {
    // `updated_at`: an agent's incremental sync sends the customer again.
    sqlx::query(
        "UPDATE customers SET name = $1, surname = $2, village_id = $3, body = $4, search = $5, updated_at = $6 \
         WHERE id = $7",
    )
    .bind(&customer.name)
    .bind(&customer.surname)
    .bind(&customer.village_id)
    .bind(serde_json::to_string(customer).map_err(ApiError::internal)?)
    .bind(search_text(customer))
    .bind(crate::ids::now_rfc3339())
    .bind(&customer.id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM customer_phones WHERE customer_id = $1").bind(&customer.id).execute(&mut **tx).await?;
    insert_phones(tx, customer).await
}

async fn insert_phones(tx: &mut Transaction<'_, Any>, customer: &Customer) -> ApiResult<()> {
    for phone in &customer.phones {
        sqlx::query("INSERT INTO customer_phones (phone, customer_id) VALUES ($1, $2)")
            .bind(phone)
            .bind(&customer.id)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                if crate::repo::is_unique_violation(&e) {
                    ApiError::conflict(format!("phone {phone} belongs to another customer"))
                        .with("field", "customer.phone")
                } else {
                    e.into()
                }
            })?;
    }
    Ok(())
}
