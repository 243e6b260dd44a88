//! Audit query parameters: the filters (`client_id`, `actor`, repeatable
//! `type`, `since`, `until`, `stream`) and paging (`limit`, opaque
//! `cursor`), parsed strictly from a query string (an unknown or repeated
//! single-valued parameter is an error, not silently ignored).

use authlog_events::{Event, Principal, RecordedEvent, Timestamp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::DateTime;

use super::AuditError;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page.
pub const MAX_LIMIT: usize = 500;
/// Longest accepted filter value.
const MAX_VALUE: usize = 512;

/// Which events an auditor asks for. Every given filter must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events attributed to this client.
    pub client_id: Option<String>,
    /// Events caused by this principal.
    pub actor: Option<Principal>,
    /// Events of any of these types (empty = all).
    pub types: Vec<&'static str>,
    /// Recorded at or after.
    pub since: Option<Timestamp>,
    /// Recorded strictly before.
    pub until: Option<Timestamp>,
    /// Events of this stream.
    pub stream: Option<String>,
}

impl AuditFilter {
    /// Whether `event` passes every filter.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        if let Some(client) = &self.client_id {
            if event.client_id.as_deref() != Some(client.as_str()) {
                return false;
            }
        }
        if let Some(actor) = &self.actor {
            if event.actor.principal != *actor {
                return false;
            }
        }
        if !self.types.is_empty() && !self.types.contains(&event.payload.type_name()) {
            return false;
        }
        if self.since.is_some_and(|s| event.recorded_at < s) {
            return false;
        }
        if self.until.is_some_and(|u| event.recorded_at >= u) {
            return false;
        }
        if let Some(stream) = &self.stream {
            if event.stream != *stream {
                return false;
            }
        }
        true
    }
}

/// A parsed audit query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// The filters.
    pub filter: AuditFilter,
    /// Page size.
    pub limit: usize,
    /// Page strictly before this position.
    pub before: Option<u64>,
    /// Export format (`ndjson`, `csv`), when given.
    pub format: Option<String>,
}

/// The opaque cursor of the page that starts strictly before `position`.
pub fn encode_cursor(position: u64) -> String {
    URL_SAFE_NO_PAD.encode(position.to_be_bytes())
}

/// Reads a cursor this API returned.
pub fn decode_cursor(cursor: &str) -> Result<u64, AuditError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_be_bytes)
        .filter(|p| *p > 0)
        .ok_or_else(|| AuditError::invalid("cursor", "is not a cursor this API returned"))
}

/// Parses an RFC 3339 instant.
pub fn parse_time(field: &str, text: &str) -> Result<Timestamp, AuditError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| Timestamp::from(t.to_utc()))
        .map_err(|_| {
            AuditError::invalid(field, "must be an RFC 3339 time, e.g. 2025-01-31T12:00:00Z")
        })
}

/// Reads an `actor` value (`Principal::key` form): `system`, `anonymous`,
/// `client:<id>` or `user:<uuid>`.
pub fn parse_actor(text: &str) -> Result<Principal, AuditError> {
    let principal = match text.split_once(':') {
        None if text == "system" => Some(Principal::System),
        None if text == "anonymous" => Some(Principal::Anonymous),
        Some(("client", id)) if !id.is_empty() => Some(Principal::Client(id.to_owned())),
        Some(("user", id)) => uuid::Uuid::parse_str(id).ok().map(Principal::User),
        _ => None,
    };
    principal.ok_or_else(|| {
        AuditError::invalid(
            "actor",
            "must be system, anonymous, client:<client_id> or user:<uuid>",
        )
    })
}

/// Checks a `type` value against the catalogue.
pub fn parse_type(text: &str) -> Result<&'static str, AuditError> {
    Event::TYPE_NAMES
        .iter()
        .find(|t| **t == text)
        .copied()
        .ok_or_else(|| {
            AuditError::invalid(
                "type",
                format!(
                    "unknown event type {text:?}; one of {}",
                    Event::TYPE_NAMES.join(", ")
                ),
            )
        })
}

fn set_once(slot: &mut Option<String>, field: &str, value: String) -> Result<(), AuditError> {
    if slot.is_some() {
        return Err(AuditError::invalid(field, "is given more than once"));
    }
    if value.is_empty() || value.len() > MAX_VALUE {
        return Err(AuditError::invalid(
            field,
            format!("must be 1 to {MAX_VALUE} bytes"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// The name (lossily decoded) of the first query parameter whose name or
/// value is not valid UTF-8 once percent-decoded, if any.
pub fn invalid_utf8_component(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let valid = |part: &str| {
            percent_encoding::percent_decode_str(&part.replace('+', " "))
                .decode_utf8()
                .is_ok()
        };
        (!valid(name) || !valid(value)).then(|| {
            percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

impl AuditQuery {
    /// Parses a raw query string (`type` may repeat; nothing else may).
    pub fn parse(query: &str) -> Result<AuditQuery, AuditError> {
        let mut client_id = None;
        let mut actor = None;
        let mut since = None;
        let mut until = None;
        let mut stream = None;
        let mut limit = None;
        let mut cursor = None;
        let mut format = None;
        let mut types = Vec::new();
        // `form_urlencoded::parse` would replace invalid UTF-8 with U+FFFD
        // and silently query for something else; refuse it instead.
        if let Some(bad) = invalid_utf8_component(query) {
            return Err(AuditError::invalid(&bad, "is not valid UTF-8"));
        }
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "client_id" => set_once(&mut client_id, "client_id", value)?,
                "actor" => set_once(&mut actor, "actor", value)?,
                "since" => set_once(&mut since, "since", value)?,
                "until" => set_once(&mut until, "until", value)?,
                "stream" => set_once(&mut stream, "stream", value)?,
                "limit" => set_once(&mut limit, "limit", value)?,
                "cursor" => set_once(&mut cursor, "cursor", value)?,
                "format" => set_once(&mut format, "format", value)?,
                "type" => {
                    let t = parse_type(&value)?;
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
                other => {
                    return Err(AuditError::invalid(
                        other,
                        "is not a parameter of the audit API",
                    ))
                }
            }
        }
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(AuditError::invalid(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        let filter = AuditFilter {
            client_id,
            actor: actor.as_deref().map(parse_actor).transpose()?,
            types,
            since: since
                .as_deref()
                .map(|t| parse_time("since", t))
                .transpose()?,
            until: until
                .as_deref()
                .map(|t| parse_time("until", t))
                .transpose()?,
            stream,
        };
        Ok(AuditQuery {
            filter,
            limit,
            before: cursor.as_deref().map(decode_cursor).transpose()?,
            format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(query: &str) -> String {
        match AuditQuery::parse(query) {
            Err(AuditError::Invalid { field, .. }) => field,
            other => panic!("{query}: expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn parameters_that_are_not_utf8_are_refused_not_replaced() {
        assert_eq!(field_of("client_id=%ff"), "client_id");
        assert_eq!(field_of("limit=1&%c3%28=x"), "\u{fffd}(");
        assert_eq!(
            invalid_utf8_component("client_id=caf%C3%A9+x&limit=2"),
            None
        );
        assert_eq!(invalid_utf8_component(""), None);
    }

    #[test]
    fn type_repeats_and_other_parameters_do_not() {
        let q = AuditQuery::parse("type=ClientPaused&type=ClientResumed&client_id=a%20b").unwrap();
        assert_eq!(q.filter.types, vec!["ClientPaused", "ClientResumed"]);
        assert_eq!(q.filter.client_id.as_deref(), Some("a b"));
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(field_of("client_id=a&client_id=b"), "client_id");
    }

    #[test]
    fn bad_values_name_their_parameter() {
        assert_eq!(field_of("limit=0"), "limit");
        assert_eq!(field_of("limit=501"), "limit");
        assert_eq!(field_of("limit=x"), "limit");
        assert_eq!(field_of("type=Nope"), "type");
        assert_eq!(field_of("since=yesterday"), "since");
        assert_eq!(field_of("actor=root"), "actor");
        assert_eq!(field_of("actor=user:not-a-uuid"), "actor");
        assert_eq!(field_of("cursor=%%%"), "cursor");
        assert_eq!(field_of("clientid=x"), "clientid");
    }

    #[test]
    fn actors_parse_from_their_key_form() {
        for key in [
            "system",
            "anonymous",
            "client:a:b",
            "user:0190a0b0-0000-7000-8000-000000000000",
        ] {
            assert_eq!(parse_actor(key).unwrap().key(), key);
        }
        assert!(parse_actor("client:").is_err());
    }

    #[test]
    fn cursors_round_trip_and_are_opaque() {
        let c = encode_cursor(12345);
        assert_eq!(decode_cursor(&c).unwrap(), 12345);
        assert!(decode_cursor(&encode_cursor(0)).is_err());
        assert!(decode_cursor("12345").is_err());
    }

    #[test]
    fn since_is_inclusive_and_until_exclusive() {
        let q = AuditQuery::parse("since=2025-01-01T00:00:00Z&until=2025-01-02T00:00:00%2B00:00")
            .unwrap();
        assert_eq!(
            q.filter.since.unwrap().to_rfc3339(),
            "2025-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            q.filter.until.unwrap().to_rfc3339(),
            "2025-01-02T00:00:00.000000Z"
        );
    }
}
