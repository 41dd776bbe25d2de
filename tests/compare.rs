//! `bench/compare`, the side-by-side comparison of issue 18, runs at a small N and prints a
//! well-formed table and every target beside its measure. Timings are not checked here:
//! they are the benchmark's business.
//!
//! Needs what the comparison needs: moto_server and boto3 (scripts/test installs
//! `moto[server]`, which brings boto3) and the aws CLI (the script installs awscli with pip
//! when it is missing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const TARGETS: &[&str] = &[
    "inventory wall ≤ 1.0× the boto3 batching script (loopback)",
    "client CPU ≤ 0.25× the aws CLI loop's",
    "first row ≤ 150 ms after the first page (inventory)",
    "≤ 60 MB at 10,000 credentials",
    "inventory wall ≤ 1.3× the floor at 20 ms, 10,000 secrets",
    "≥ 20× faster than the sequential script at 20 ms, 10,000 secrets",
    "first row on screen ≤ 150 ms after the first page (TUI)",
    "200 IAM rotations ≥ 40× faster than the CLI loop",
    "frame ≤ 2 ms",
    "replay of 100,000 events ≤ 200 ms",
    "cold start ≤ 50 ms",
];

#[test]
fn the_comparison_prints_every_contender_and_every_target() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("python3")
        .arg(format!("{root}/bench/compare"))
        .args([
            "--n",
            "30",
            "--rounds",
            "1",
            "--sample",
            "5",
            "--latency-ms",
            "20",
            "--iam",
            "4",
            "--iam-sample",
            "2",
            // The micro-benchmarks are a release build of their own: `cargo bench` runs them.
            "--no-micro",
        ])
        .args(["--bin", env!("CARGO_BIN_EXE_breachbook")])
        .env_remove("AWS_PROFILE")
        .output()
        .expect("running bench/compare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    let table = |header: &str| -> Vec<&str> {
        stdout
            .lines()
            .skip_while(|l| !l.starts_with(header))
            .skip(2)
            .take_while(|l| l.starts_with("| "))
            .collect()
    };
    let rows = table("| contender |");
    let rotations = table("| rotation contender |");
    for (rows, names) in [
        (
            &rows,
            &[
                "breachbook inventory --json",
                "aws CLI loop",
                "boto3 sequential, GetSecretValue each",
                "boto3 sequential, BatchGetSecretValue by 20",
                "floor: pages as they come, BatchGetSecretValue by 20",
            ][..],
        ),
        (
            &rotations,
            &["breachbook run --headless --script", "aws CLI loop"][..],
        ),
    ] {
        assert_eq!(rows.len(), names.len(), "{stdout}");
        for (row, name) in rows.iter().zip(names) {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            assert!(cells[0].starts_with(name), "{row}");
            assert_eq!(cells.len(), 5, "{row}");
            for cell in &cells[1..] {
                let v: f64 = cell
                    .parse()
                    .unwrap_or_else(|_| panic!("not a number: {cell:?} in {row}"));
                assert!(v.is_finite() && v >= 0.0, "{row}");
            }
        }
        assert!(
            rows[0].split('|').nth(5).map(str::trim) == Some("1.00"),
            "{}",
            rows[0]
        );
    }
    assert!(
        rows[1].contains("extrapolated from 5"),
        "the CLI loop over a sample says so: {}",
        rows[1]
    );
    assert!(
        rotations[1].contains("extrapolated from 2"),
        "the CLI rotation loop over a sample says so: {}",
        rotations[1]
    );
    assert!(
        stdout.contains("4 IAM keys stored in Secrets Manager, rotated end to end"),
        "{stdout}"
    );
    let measures = table("| measure |");
    let cold = measures
        .iter()
        .find(|l| l.starts_with("| cold start to the first frame"))
        .unwrap_or_else(|| panic!("no cold start:\n{stdout}"));
    let ms: f64 = cold
        .trim_matches('|')
        .rsplit('|')
        .next()
        .unwrap()
        .trim()
        .trim_end_matches(" ms")
        .parse()
        .unwrap_or_else(|_| panic!("not a time: {cold}"));
    assert!(ms.is_finite() && ms > 0.0, "{cold}");
    for t in TARGETS {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("target: {t} |")))
            .unwrap_or_else(|| panic!("no target line for {t:?}:\n{stdout}"));
        let verdict = line.rsplit('|').next().unwrap().trim();
        assert!(["PASS", "MISS", "NOT RUN"].contains(&verdict), "{line}");
        let measured = line.split("| measured: ").nth(1).unwrap();
        if verdict != "NOT RUN" {
            assert!(
                measured.chars().next().is_some_and(|c| c.is_ascii_digit()),
                "a measured target starts with its number: {line}"
            );
        }
    }
    assert!(stdout.contains("N = 30 secrets"), "{stdout}");
}
