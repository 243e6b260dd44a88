//! authlog as the OAuth client of other providers: their configuration
//! (`provider.rs`, with RFC 8414 / OpenID discovery), the calls to their
//! token and revocation endpoints (`oauth.rs`), the signed-in user's
//! pending connection carried through the provider's redirect
//! (`connect_state.rs`), and keeping connections' tokens fresh, in the
//! background and on demand (`refresh.rs`). Tokens are sealed in the
//! vault (`crate::vault`); every step is an event (`commands/upstream.rs`).

pub mod connect_state;
pub mod disconnect;
pub mod oauth;
pub mod provider;
pub mod refresh;
