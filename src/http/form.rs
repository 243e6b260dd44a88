//! Strict `application/x-www-form-urlencoded` bodies for the OAuth
//! endpoints: bounded size, valid UTF-8 after percent-decoding, and no
//! parameter given twice (RFC 6749 §3.1, §3.2). Empty values count as
//! absent (RFC 6749 §3.1).

use actix_web::{web, HttpRequest};

use super::error::OAuthError;

/// Largest form body accepted.
pub const FORM_LIMIT: usize = 16 * 1024;

/// Parameters that may appear more than once: RFC 8707 §2 `resource`,
/// RFC 8693 §2.1 `audience`, and the consent form's `team` checkboxes.
const REPEATABLE: [&str; 3] = ["resource", "audience", "team"];

/// A parsed form.
#[derive(Debug, Clone, Default)]
pub struct OAuthForm {
    params: Vec<(String, String)>,
}

/// Decodes one `application/x-www-form-urlencoded` component strictly.
pub fn decode_component(raw: &[u8]) -> Option<String> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

impl OAuthForm {
    /// Reads and parses the body of `req`.
    pub async fn read(req: &HttpRequest, payload: web::Payload) -> Result<Self, OAuthError> {
        if super::media_type::of(req) != "application/x-www-form-urlencoded" {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let body = super::body::read(payload, FORM_LIMIT).await?;
        Self::parse(&body)
    }

    /// Parses a body.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let name = decode_component(name).ok_or_else(|| {
                OAuthError::invalid_request("a parameter name is not valid UTF-8")
            })?;
            let value = decode_component(value).ok_or_else(|| {
                OAuthError::invalid_request(format!("parameter {name} is not valid UTF-8"))
            })?;
            if !REPEATABLE.contains(&name.as_str()) && params.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name} is repeated"
                )));
            }
            params.push((name, value));
        }
        Ok(OAuthForm { params })
    }

    /// A parameter's value; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of a repeatable parameter.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be present.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is missing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let e = OAuthForm::parse(b"a=1&b=2&a=3").unwrap_err();
        assert!(e.description.contains("a is repeated"));
    }

    #[test]
    fn values_are_percent_and_plus_decoded() {
        let f = OAuthForm::parse(b"scope=a+b%20c&x=%C3%A9").unwrap();
        assert_eq!(f.get("scope"), Some("a b c"));
        assert_eq!(f.get("x"), Some("é"));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(OAuthForm::parse(b"x=%FF").is_err());
    }

    #[test]
    fn empty_values_are_absent() {
        let f = OAuthForm::parse(b"scope=&grant_type=client_credentials").unwrap();
        assert_eq!(f.get("scope"), None);
        assert!(f.require("scope").is_err());
    }
}
