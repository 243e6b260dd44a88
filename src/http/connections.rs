//! Connection caps, so that slow or idle connections cannot use up the
//! server's file descriptors and shut out everyone else (health checks
//! included).
//!
//! * **Per source address** (an IPv4 address or an IPv6 /64, as the rate
//!   limits count them): at most `AUTHLOG_MAX_CONNECTIONS_PER_ADDRESS`
//!   open at once (default 256). One more is shut down as soon as it is
//!   accepted, before a byte is read.
//! * **In total**: at most `AUTHLOG_MAX_CONNECTIONS` (default: the
//!   process's file-descriptor limit, raised to its hard limit at start,
//!   less 512 kept for the log, the index and outgoing fetches).
//! * **Time**: request headers must arrive within 5 s of a connection
//!   opening (or of the previous response), a body within 10 s of its
//!   headers (`body.rs`), an idle keep-alive connection is closed after
//!   5 s, and a connection older than `MAX_CONNECTION_SECONDS` is closed
//!   after its next response. So a connection costs at most one slot for a
//!   bounded time, unless it keeps sending complete requests.
//!
//! Behind a reverse proxy every connection comes from the proxy's
//! address: raise the per-address cap to the total there.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::rt::net::TcpStream;

use super::context::ip_key;

/// Descriptors kept back from the connection budget for the log, the
/// index, snapshots and outgoing metadata-document fetches.
const RESERVED_DESCRIPTORS: u64 = 512;

/// Default per-address cap.
pub const DEFAULT_PER_ADDRESS: usize = 256;

/// Age after which a connection is closed once its current response is sent.
pub const MAX_CONNECTION_SECONDS: u64 = 300;

/// How long request headers may take.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle keep-alive connection stays open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Raises the soft file-descriptor limit to the hard one and returns the
/// default total connection cap it leaves room for.
pub fn default_total() -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .unwrap_or(1024);
    let budget = limit.saturating_sub(RESERVED_DESCRIPTORS).max(64);
    usize::try_from(budget).unwrap_or(usize::MAX)
}

/// Open connections, counted in total and per source address.
#[derive(Debug)]
pub struct ConnectionLimits {
    total: usize,
    per_address: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<String, usize>,
}

/// One admitted connection; dropping it (when the connection closes)
/// gives its slot back.
#[derive(Debug)]
pub struct Permit {
    limits: Arc<ConnectionLimits>,
    address: String,
    opened: Instant,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server holds its total.
    Total,
    /// The source address holds its share.
    Address,
}

impl ConnectionLimits {
    /// Caps of `total` connections and `per_address` from one address.
    pub fn new(total: usize, per_address: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            total,
            per_address,
            open: Mutex::new(Open::default()),
        })
    }

    /// Admits a connection from `ip`, or says why not. Memory holds one
    /// entry per address with an open connection, so it is bounded by the
    /// total cap.
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Permit, Refused> {
        let address = ip_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.total {
            return Err(Refused::Total);
        }
        let from_here = open.by_address.entry(address.clone()).or_insert(0);
        if *from_here >= self.per_address {
            return Err(Refused::Address);
        }
        *from_here += 1;
        open.total += 1;
        Ok(Permit {
            limits: self.clone(),
            address,
            opened: Instant::now(),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

/// The server's `on_connect` hook: no Nagle delay, and a connection over
/// a cap is shut down at once (the peer sees it closed before any reply).
pub fn on_connect(limits: &Arc<ConnectionLimits>, conn: &dyn std::any::Any, ext: &mut Extensions) {
    let Some(tcp) = conn.downcast_ref::<TcpStream>() else {
        return;
    };
    // Responses are small and latency matters.
    let _ = tcp.set_nodelay(true);
    let ip = tcp.peer_addr().ok().map(|a| a.ip());
    match limits.admit(ip) {
        Ok(permit) => {
            ext.insert(permit);
        }
        Err(why) => {
            // Debug level: an attack must not flood the process log either.
            tracing::debug!(address = %ip_key(ip), cap = ?why, "connection refused: over the cap");
            let _ = socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Closes a connection that has lived `MAX_CONNECTION_SECONDS` once this
/// response is sent.
pub fn finish<B: MessageBody>(mut res: ServiceResponse<B>) -> ServiceResponse<B> {
    let old = res
        .request()
        .conn_data::<Permit>()
        .is_some_and(|p| p.opened.elapsed() >= Duration::from_secs(MAX_CONNECTION_SECONDS));
    if old {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_total_and_frees_slots_on_drop() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limits.admit(Some(a)).unwrap();
        let _second = limits.admit(Some(a)).unwrap();
        assert_eq!(limits.admit(Some(a)).unwrap_err(), Refused::Address);
        let _third = limits.admit(Some(b)).unwrap();
        assert_eq!(limits.admit(Some(b)).unwrap_err(), Refused::Total);
        drop(first);
        assert_eq!(limits.open(), 2);
        limits.admit(Some(a)).expect("a slot came back");
    }

    #[test]
    fn an_ipv6_slash_64_counts_as_one_address() {
        let limits = ConnectionLimits::new(10, 1);
        let _one = limits.admit(Some("2001:db8::1".parse().unwrap())).unwrap();
        assert_eq!(
            limits
                .admit(Some("2001:db8::ffff".parse().unwrap()))
                .unwrap_err(),
            Refused::Address
        );
        assert!(limits
            .admit(Some("2001:db8:0:1::1".parse().unwrap()))
            .is_ok());
    }
}
