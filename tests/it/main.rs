//! End-to-end tests: each starts the real `authlog` binary on a loopback
//! port with a fresh temporary data directory and talks HTTP to it.

mod harness;
mod health;
mod verify_cli;
