//! The server skeleton: it starts on an empty data directory, answers
//! `/healthz` and `/readyz`, refuses bad configuration clearly, and stops
//! cleanly.

use std::process::Command;

use crate::harness::{binary, Server};

#[test]
fn a_fresh_server_is_healthy_and_ready_on_an_empty_log() {
    let server = Server::start();
    let health: serde_json::Value = reqwest::blocking::get(server.url("/healthz"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = reqwest::blocking::get(server.url("/readyz")).unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().unwrap();
    assert_eq!(ready["status"], "ready");
    assert!(server.data.join("authlog.redb").exists());
    assert!(server.data.join("authlog.log").exists());
}

#[test]
fn the_server_restarts_on_its_own_data() {
    let server = Server::start();
    let server = server.restart();
    let ready: serde_json::Value = reqwest::blocking::get(server.url("/readyz"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ready["status"], "ready");
}

#[test]
#[cfg(target_os = "linux")]
fn the_server_runs_without_transparent_huge_pages() {
    let server = Server::start();
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    // Linux reports a process's PR_SET_THP_DISABLE here (since 5.0).
    let enabled = status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(str::trim);
    assert_eq!(enabled, Some("0"), "{status}");
}

#[test]
fn a_bad_listen_address_is_refused_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args(["serve", "--listen", "localhost:99999", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AUTHLOG_LISTEN"), "{stderr}");
}

#[test]
fn an_unknown_key_in_the_config_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authlog.toml");
    std::fs::write(&file, "listn = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listn"), "{stderr}");
}

#[test]
fn help_explains_serve_and_verify() {
    let out = Command::new(binary()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("serve") && text.contains("verify"), "{text}");
}
