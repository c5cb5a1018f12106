//! What the kinds of job share (`worker` runs user and group jobs, `reconcile` and `import` the others): the
//! error a job ends with, and the listing of every account an SP holds.
//!
//! It depends only on the `Provisioner` interface and the store's error, so the job modules each depend on it and
//! never on one another.

use std::collections::HashMap;

use crate::provisioning::{ProvisionError, Provisioner, RemoteUser};

/// Page size for listing the SP's users (RFC 7644 §3.4.2.4).
const PAGE: usize = 100;

/// A failure of one job, with whether to try again.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Sp(#[from] ProvisionError),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("the integration cannot be used: {0}")]
    Config(String),
}

/// Every user the SP holds, by SP id.
pub async fn list_all_users(sp: &dyn Provisioner) -> Result<HashMap<String, RemoteUser>, JobError> {
    let mut all = HashMap::new();
    let mut start = 1;
    loop {
        let page = sp.list_users(start, PAGE).await?;
        let n = page.items.len();
        for user in page.items {
            all.insert(user.id.clone(), user);
        }
        start += n;
        if n == 0 || start > page.total {
            return Ok(all);
        }
    }
}
