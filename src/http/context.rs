//! What a request tells about itself (source IP, user agent, request id),
//! turned into the attribution its events carry.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::HttpRequest;
use authlog_events::{Actor, Principal};

use crate::commands::EventContext;

/// Longest user agent recorded.
const MAX_USER_AGENT: usize = 256;

/// Request facts for attribution.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    /// Peer address.
    pub ip: Option<IpAddr>,
    /// User agent (truncated).
    pub user_agent: Option<String>,
    /// Request id, also the events' correlation id.
    pub request_id: Option<String>,
}

impl RequestFacts {
    /// Reads them from a request.
    pub fn of(req: &HttpRequest) -> Self {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        RequestFacts {
            ip: super::forward::forwarded_for(req).or_else(|| req.peer_addr().map(|a| a.ip())),
            user_agent,
            request_id: super::request_id::of(req),
        }
    }

    /// Attribution for events caused by `principal` acting through `via_client`.
    pub fn context(&self, principal: Principal, via_client: Option<String>) -> EventContext {
        EventContext {
            actor: Actor {
                principal,
                via_client,
                ip: self.ip,
                user_agent: self.user_agent.clone(),
            },
            correlation_id: self.request_id.clone(),
        }
    }
}

/// The key rate limits count a source address under: an IPv4 address, or
/// the /64 of an IPv6 one (one host usually holds a whole /64).
pub fn ip_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}
