//! Strict OAuth form parsing on arbitrary bytes: never panics; a parsed
//! form has at most one value for every non-repeatable parameter.
#![no_main]

use authlog::http::form::OAuthForm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = OAuthForm::parse(data) {
        for name in ["grant_type", "client_id", "scope", "redirect_uri", "state"] {
            let _ = form.get(name);
        }
        let _ = form.get_all("resource").count();
    }
});
