//! SQLite's group commit. SQLite has one writer and every commit costs an fsync, so one task per kind of
//! write takes the jobs that are waiting together, applies each inside its own savepoint of one shared
//! transaction (a failing job undoes only itself), commits once, and only then answers each job: nothing is
//! acknowledged before the commit that makes it durable. PostgreSQL does not use this; its transactions
//! commit side by side.

use std::future::Future;
use std::pin::Pin;

use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The most jobs one commit carries.
const MAX_BATCH: usize = 128;

/// The future a [`Step`] returns, borrowing the state, the transaction and the job.
pub type StepFuture<'a, T> = Pin<Box<dyn Future<Output = ApiResult<T>> + Send + 'a>>;

/// One job's writes inside the shared transaction.
pub trait Step: Send + Sync + 'static {
    type Output: Send + 'static;
    fn apply<'a>(&'a self, state: &'a AppState, tx: &'a mut Transaction<'static, Any>) -> StepFuture<'a, Self::Output>;
}

type Job<S> = (S, oneshot::Sender<ApiResult<<S as Step>::Output>>);

/// The queue in front of one writer task.
pub struct GroupCommit<S: Step> {
    jobs: mpsc::Sender<Job<S>>,
    name: &'static str,
}

impl<S: Step> GroupCommit<S> {
    /// Starts the writer task; `name` names it in errors.
    pub fn spawn(state: AppState, name: &'static str) -> Self {
        let (jobs, mut queue) = mpsc::channel::<Job<S>>(4 * MAX_BATCH);
        tokio::spawn(async move {
            while let Some(first) = queue.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                run_batch(&state, batch).await;
            }
        });
        GroupCommit { jobs, name }
    }

    /// Applies `step` in the next batch; answers after that batch's commit.
    pub async fn submit(&self, step: S) -> ApiResult<S::Output> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ApiError::internal(format!("the {} stopped", self.name));
        self.jobs.send((step, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run_batch<S: Step>(state: &AppState, batch: Vec<Job<S>>) {
    // Other writes that take the SQLite write guard (registrations, plan edits) wait for this batch.
    let _guard = state.db.write_guard().await;
    let mut tx = match state.db.pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let message = e.to_string();
            for (_, reply) in batch {
                let _ = reply.send(Err(ApiError::internal(&message)));
            }
            return;
        }
    };
    let mut done = Vec::with_capacity(batch.len());
    for (step, reply) in batch {
        let result = in_savepoint(state, &mut tx, &step).await;
        done.push((reply, result));
    }
    if let Err(e) = tx.commit().await {
        let message = e.to_string();
        for (reply, _) in done {
            let _ = reply.send(Err(ApiError::internal(&message)));
        }
        return;
    }
    for (reply, result) in done {
        let _ = reply.send(result);
    }
}

async fn in_savepoint<S: Step>(state: &AppState, tx: &mut Transaction<'static, Any>, step: &S) -> ApiResult<S::Output> {
    sqlx::query("SAVEPOINT job").execute(&mut **tx).await?;
    match step.apply(state, tx).await {
        Ok(output) => {
            sqlx::query("RELEASE SAVEPOINT job").execute(&mut **tx).await?;
            Ok(output)
        }
        Err(e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT job").execute(&mut **tx).await?;
            sqlx::query("RELEASE SAVEPOINT job").execute(&mut **tx).await?;
            Err(e)
        }
    }
}
