//! Redirect-URI and metadata-document URL validation on arbitrary strings:
//! never panics; nothing accepted contains CR, LF or a fragment.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if authlog::client_policy::validate_redirect_uri(text).is_ok() {
        assert!(!text.contains(['\r', '\n']), "accepted {text:?}");
    }
    if let Ok(url) = authlog::cimd::check_url(text) {
        assert_eq!(url.scheme(), "https");
        assert!(url.fragment().is_none());
    }
});
