//! `vt-gateway`: a VirusTotal API v2 server for a team, in front of the real service.
//!
//! Every v2 client of the team (analysts' `vt`, SOAR playbooks, Python scripts) points at
//! the gateway instead of VirusTotal, unchanged but for its base URL, and sends its own team
//! token as `apikey`. The gateway holds the real key and never returns it; serves the lookup
//! endpoints (file, URL, domain and IP reports) from one cache for everyone, byte for byte as
//! the service sent them; merges lookups arriving together from different clients into one
//! upstream batch (and asks once for what is already being asked); paces the key as vt-api
//! paces it, so that the service never answers 204, and answers a client that exceeds its
//! token's share 204 itself; serves a stale answer when the service cannot answer; and keeps
//! an audit log of who asked what.
//!
//! Its store is SQLite (one gateway) or PostgreSQL (several gateways sharing one cache and one
//! pace): [`Store`]. The `vt-gateway` binary is documented in `docs/gateway.md`.
#![deny(missing_docs)]

mod access;
mod audit;
mod error;
mod gateway;
mod hot;
mod lane;
mod metrics;
mod service;
mod store;
mod throttle;
mod token;

pub use error::Error;
pub use gateway::{
    Gateway, GatewayBuilder, RunningGateway, CACHE_HEADER, DEFAULT_MEMORY_CACHE, HEALTH_PATH,
    METRICS_PATH,
};
pub use store::{AuditEntry, Pruned, Store};
pub use token::{Allow, Token, TokenInfo};
