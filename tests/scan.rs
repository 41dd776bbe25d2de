//! `breachbook scan` (issue 16, item 5): copies of an incident's exposed keys planted in a
//! `.env` file, a config file, a file `.gitignore` leaves out, a binary file and a commit
//! three commits back, found by keyed fingerprint in a real git repository made here with
//! the `git` command; none of scan's output holds a key value.
//!
//! Two incidents: a live one, its inventory run against moto_server and the provider fakes
//! (tests/support/vendor_world.rs; the fingerprints are the incident's own random key), and a
//! drill (the drill world's keys are derived from its seed, as `providers/sim` documents:
//! HMAC-SHA256 keyed with the seed's little-endian bytes over the key id). scripts/test
//! installs moto[server]; git is on every machine that runs the tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/contract.rs"]
mod contract;
#[path = "support/emulator.rs"]
mod emulator;
#[path = "support/fake_ai.rs"]
mod fake_ai;
#[path = "support/localstack.rs"]
mod localstack;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/vendor_world.rs"]
mod vendor_world;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use vendor_world::World;

fn breachbook(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_breachbook"));
    for name in vendor_world::UNSET {
        c.env_remove(name);
    }
    c.env("BREACHBOOK_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository holding `in_history` only in a commit three commits back (removed by the
/// next), and `in_tree` in `.env`, `config/app.yaml`, an ignored file and a binary file.
fn plant(dir: &Path, in_tree: &str, in_history: &str) {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    sh(
        dir,
        "git init -q -b main && git config user.email ada@example.com && git config user.name Ada",
    );
    std::fs::write(
        dir.join("settings.py"),
        format!("# settings\nANTHROPIC_API_KEY = \"{in_history}\"\n"),
    )
    .unwrap();
    sh(dir, "git add -A && git commit -qm 'add settings'");
    std::fs::write(
        dir.join("settings.py"),
        "# settings\nANTHROPIC_API_KEY = os.environ[\"ANTHROPIC_API_KEY\"]\n",
    )
    .unwrap();
    sh(
        dir,
        "git add -A && git commit -qm 'read the key from the environment' && \
         git commit -q --allow-empty -m two && git commit -q --allow-empty -m three",
    );
    std::fs::write(
        dir.join(".env"),
        format!("DEBUG=1\nOPENAI_API_KEY={in_tree}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("config/app.yaml"),
        format!("service: chat\nopenai:\n  org: org-example\n  key: \"{in_tree}\"\n"),
    )
    .unwrap();
    std::fs::write(dir.join(".gitignore"), "build/\n").unwrap();
    std::fs::create_dir_all(dir.join("build")).unwrap();
    std::fs::write(dir.join("build/bundle.js"), format!("var k='{in_tree}';\n")).unwrap();
    let mut bin = vec![0u8, 1, 2, 0];
    bin.extend_from_slice(in_tree.as_bytes());
    std::fs::write(dir.join("logo.bin"), bin).unwrap();
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The scan of `repo` for `incident`, as JSON; its exit code checked.
fn scan_json(
    state: &Path,
    repo: &Path,
    incident: &str,
    extra: &[&str],
) -> (Output, serde_json::Value) {
    let out = breachbook(state)
        .current_dir(repo)
        .args(["scan", ".", "--incident", incident, "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out, doc)
}

fn places(doc: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = doc["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let commit = f["commit"]
                .as_str()
                .map(|c| format!("{} ", &c[..7]))
                .unwrap_or_default();
            format!(
                "{commit}{}:{} {}",
                f["path"].as_str().unwrap().trim_start_matches("./"),
                f["line"],
                f["name"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

fn commit_three_back(repo: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD~3"])
        .current_dir(repo)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim()[..7].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_finds_a_live_incidents_exposed_keys_on_disk_and_in_history_and_prints_no_value() {
    let world = World::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let rb = vendor_world::runbook_copy(tmp.path());
    let script = tmp.path().join("inventory-only.yaml");
    std::fs::write(
        &script,
        "- tick_all: declare\n- run: declare\n- run: inventory\n",
    )
    .unwrap();
    let out = tokio::task::block_in_place(|| {
        breachbook(&state)
            .envs(world.env(&state))
            .args(["run", rb.to_str().unwrap(), "--headless"])
            .args(["--script", script.to_str().unwrap()])
            .args(["--endpoint-url", &world.aws.endpoint])
            .output()
            .unwrap()
    });
    assert_eq!(
        out.status.code(),
        Some(3),
        "the script stops after the inventory: {}",
        text(&out)
    );
    let incident = std::fs::read_dir(state.join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();

    let repo = tmp.path().join("repo");
    plant(
        &repo,
        vendor_world::OPENAI_PROD_OLD,
        vendor_world::ANTHROPIC_OLD,
    );
    let back = commit_three_back(&repo);

    // The working tree: .gitignore respected, binaries skipped.
    let (out, doc) = scan_json(&state, &repo, &incident, &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "copies found: exit 3\n{}",
        text(&out)
    );
    let openai = doc["found"][0]["name"].as_str().unwrap().to_string();
    assert_eq!(
        places(&doc),
        [
            format!(".env:2 {openai}"),
            format!("config/app.yaml:4 {openai}")
        ],
        "{doc:#}"
    );
    assert_eq!(doc["binary_files_skipped"], 1, "{doc:#}");
    assert_eq!(
        doc["keys_looked_for"],
        vendor_world::EXPOSED,
        "every exposed key has a copy breachbook read: {doc:#}"
    );
    let mut all = text(&out);

    // With history and the ignored files.
    let (out, doc) = scan_json(&state, &repo, &incident, &["--git-history", "--no-ignore"]);
    assert_eq!(out.status.code(), Some(3));
    let found = places(&doc);
    assert!(
        found.contains(&format!("build/bundle.js:1 {openai}")),
        "{found:?}"
    );
    let anthropic: Vec<&String> = found.iter().filter(|p| p.starts_with(&back)).collect();
    assert_eq!(anthropic.len(), 1, "the commit three back: {found:?}");
    assert!(
        anthropic[0].starts_with(&format!("{back} settings.py:2 ")),
        "{found:?}"
    );
    all.push_str(&text(&out));

    // The text a person reads.
    let out = breachbook(&state)
        .current_dir(&repo)
        .args(["scan", "--incident", &incident, "--git-history"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let screen = text(&out);
    assert!(screen.contains("3 copy(ies) found"), "{screen}");
    assert!(screen.contains(&format!("commit {back}")), "{screen}");
    all.push_str(&screen);

    let secrets = vendor_world::secrets(&[]);
    if let Some(part) = vendor_world::leaked(&all, &secrets) {
        panic!("scan printed part of a key value ({part}):\n{all}");
    }
    // Nothing found: exit 0.
    let clean = tmp.path().join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    std::fs::write(clean.join("README"), "nothing here\n").unwrap();
    let (out, doc) = scan_json(&state, &clean, &incident, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(doc["found"].as_array().unwrap().len(), 0);
}

/// The drill world's value of a key (providers/sim: HMAC-SHA256 keyed with the seed's
/// little-endian bytes over the key id, hex, cut per issuer).
fn drill_value(seed: u64, key_id: &str, prefix: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&seed.to_le_bytes()).unwrap();
    mac.update(key_id.as_bytes());
    let h = hex::encode(mac.finalize().into_bytes());
    format!("{prefix}{}", &h[..40])
}

#[test]
fn scan_finds_a_drills_keys_in_the_newest_incident_without_being_told() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out = breachbook(&state)
        .args(["drill", "--headless", "--autopilot", "--seed", "7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    let incident = summary["incident"].as_str().unwrap().to_string();
    let journal = std::fs::read_to_string(
        state
            .join("incidents")
            .join(&incident)
            .join("journal.jsonl"),
    )
    .unwrap();
    let mut exposed = Vec::new();
    for line in journal.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let c = &r["event"]["credential"];
        if r["event"]["type"] == "credential_discovered" && c["exposed"] == true {
            exposed.push((
                c["issuer"].as_str().unwrap().to_string(),
                c["key_id"].as_str().unwrap().to_string(),
            ));
        }
    }
    let (_, openai_id) = exposed
        .iter()
        .find(|(i, _)| i == "openai")
        .expect("an exposed OpenAI key");
    let (_, anthropic_id) = exposed
        .iter()
        .find(|(i, _)| i == "anthropic")
        .expect("an exposed Anthropic key");
    let openai = drill_value(7, openai_id, "sk-test-");
    let anthropic = drill_value(7, anthropic_id, "sk-ant-test-");
    let repo = tmp.path().join("repo");
    plant(&repo, &openai, &anthropic);
    let back = commit_three_back(&repo);
    // The newest incident is the drill's: no --incident needed.
    let out = breachbook(&state)
        .current_dir(&repo)
        .args(["scan", "--git-history", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = places(&doc);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found
            .iter()
            .any(|p| p.starts_with(&format!("{back} settings.py:2"))),
        "{found:?}"
    );
    assert!(found.iter().any(|p| p.starts_with(".env:2")), "{found:?}");
    assert!(
        found.iter().any(|p| p.starts_with("config/app.yaml:4")),
        "{found:?}"
    );
    let all = text(&out);
    for v in [&openai, &anthropic] {
        assert!(!all.contains(&v[8..24]), "a value in the output:\n{all}");
    }
    // An unknown incident, a path that is not there: exit 2, with what to do.
    let out = breachbook(&state)
        .args(["scan", "nowhere", "--incident", &incident])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    let out = breachbook(&state)
        .args(["scan", ".", "--incident", "20990101-000000-nothing-0000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
