//! A full disk, for real: the log lives on a small tmpfs. When it fills
//! up, authlog answers 503 with a clear error, `/readyz` turns 503, no
//! acknowledged token is lost, and after the filesystem grows a restart
//! serves again with the chain intact. Needs root (mount); elsewhere the
//! storage-fault backend test in `src/writer/tests.rs` covers the logic.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::harness::Server;

/// A tmpfs mount, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().to_owned();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(Tmpfs { path, _dir: dir })
    }

    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn data_dir(fs: &Tmpfs) -> PathBuf {
    Path::new(&fs.path).join("data")
}

#[test]
fn a_full_disk_is_a_503_loses_nothing_acknowledged_and_recovers_after_restart() {
    let Some(fs) = Tmpfs::mount("2m") else {
        eprintln!("skipped: cannot mount tmpfs here (needs root); the fault-backend test covers the writer");
        return;
    };
    let data = data_dir(&fs);
    let s = Server::start_on(&data, &[]);
    let admin = s.admin_token(None);
    let rs = s.create_client(
        &admin,
        json!({"client_id": "rs", "client_name": "rs", "grant_types": ["client_credentials"], "introspection_allowed": true}),
    );
    let rs_secret = rs["client_secret"].as_str().unwrap().to_owned();
    let (id, secret) = s.service_client(&admin, "filler", "read");

    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for _ in 0..200_000 {
        let r = s.token_basic(&id, &secret, None);
        if r.status() == 200 {
            acknowledged.push(
                r.json::<Value>().unwrap()["access_token"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        } else {
            let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
            refusal = Some((r.status().as_u16(), r.json::<Value>().unwrap(), id));
            break;
        }
    }
    let (status, body, request_id) = refusal.expect("the disk filled up");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    // A fixed description; the I/O error's words go to the log only.
    let internal = |text: &str| text.contains("os error") || text.contains("space");
    let description = body["error_description"].as_str().unwrap();
    assert!(!internal(description), "{body}");
    // ... citing the request id the log files the cause under.
    assert!(
        description.ends_with(&format!("(request id {request_id})")),
        "{body}"
    );
    assert!(!acknowledged.is_empty());
    let ready = s.get("/readyz").send().unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().unwrap();
    assert_eq!(ready["status"], "unavailable");
    assert!(!internal(ready["error"].as_str().unwrap()), "{ready}");
    // Reads still answer from the committed state.
    assert_eq!(
        s.introspect("rs", &rs_secret, acknowledged.last().unwrap())["active"],
        true
    );

    let (data, _) = s.kill9();
    fs.grow("64m");
    let s = Server::start_on(&data, &[]);
    for token in acknowledged
        .iter()
        .rev()
        .take(50)
        .chain(acknowledged.iter().step_by(97))
    {
        assert_eq!(
            s.introspect("rs", &rs_secret, token)["active"],
            true,
            "an acknowledged token was lost"
        );
    }
    let admin = s.admin_token(None);
    let verify: Value = s
        .get("/api/audit/verify")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verify["intact"], true, "{verify}");
    assert_eq!(
        s.token_basic(&id, &secret, None).status(),
        200,
        "serves again"
    );
    drop(s);
}
