//! The DNS resolver of outgoing calls: it resolves a name and hands hyper only the addresses
//! the policy allows, so the check is made on the addresses actually connected to and a
//! name that changes its answer (DNS rebinding) cannot slip past a check made earlier.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::{AddressPolicy, Refusal};

pub(super) struct PolicyResolver {
    pub(super) policy: AddressPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: hyper puts the URL's port in.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let mut refused: Option<Refusal> = None;
            let allowed: Vec<SocketAddr> = resolved
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(refusal) => {
                        refused.get_or_insert(refusal);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some(refusal)) => Err(refusal.into()),
                (true, None) => Err(format!("{host} has no address").into()),
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}
