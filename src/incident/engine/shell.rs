//! Command steps: the runbook's shell command, with names (never values) substituted in one
//! pass, run once per rotated key or once for all. In drills it is simulated (its drill
//! effect applied to the world); live, `sh -c` runs in a task and the new key reaches it only
//! through stdin or the environment.
//!
//! What a command can do with keys is bounded three ways:
//! - Its environment is scrubbed: the cloud and admin credentials breachbook runs with
//!   ([`is_scrubbed_env`]) are removed unless the step names them in `pass_env`.
//! - Its output is masked before it is journaled, shown or logged: every value of the keys
//!   it works on (old and new, read from the store first) and every other key value this
//!   process holds, in every encoding and across lines and reads
//!   ([`crate::incident::redact::StreamMasker`]), then key-shaped tokens as a second net.
//! - Its output is bounded: [`MAX_OUTPUT_LINES`] lines per run, lines cut at
//!   [`MAX_LINE_BYTES`].
//!
//! Depends on the ports, the model, events, the redactor and the runbook schema.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};

use super::work::OpCtx;
use super::{Engine, EngineError};
use crate::incident::event::Event;
use crate::incident::model::Credential;
use crate::incident::redact::{StreamMasker, known, redact};
use crate::incident::retries;
use crate::runbook::schema::{CommandSpec, DrillEffect, KeyPassing};

/// One run of a command step: the key it is for (per-key runs) and the command line.
type Run = (Option<Credential>, String);

/// Lines of output journaled per run; the rest are counted in one last line.
pub const MAX_OUTPUT_LINES: usize = 5_000;

/// A longer line is journaled in parts of this many bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Held-back output is shown after this long without more (see `StreamMasker`). An I/O
/// batching delay, not incident time: real time, not the incident clock.
const QUIET: Duration = Duration::from_millis(200);

/// Environment variables that hold (or point a cloud SDK at) the credentials breachbook runs
/// with; a command step gets none of them unless its `pass_env` names it.
pub const SCRUBBED_ENV: &[&str] = &[
    // The AWS credential chain (environment, profile, web identity, container credentials).
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    // The admin keys of the AI providers and Braintrust.
    "OPENAI_ADMIN_KEY",
    "ANTHROPIC_ADMIN_KEY",
    "BRAINTRUST_API_KEY",
    // The Vault token, and the GitHub token a `github_actions` scope writes secrets with.
    "VAULT_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    // Only ever set by breachbook itself, for `new_key_via: env`.
    "BREACHBOOK_NEW_KEY",
];

/// Whether a command step's environment loses `name` (unless the step's `pass_env` names
/// it): the variables of [`SCRUBBED_ENV`], and any `*_ADMIN_KEY` or `*_API_KEY` (admin and
/// API keys of providers breachbook may learn to use).
pub fn is_scrubbed_env(name: &str) -> bool {
    SCRUBBED_ENV.contains(&name) || name.ends_with("_ADMIN_KEY") || name.ends_with("_API_KEY")
}

impl Engine {
    /// Runs a started command step: simulated at once in drills, in a task live.
    pub(super) fn run_command(&mut self, step: &str) -> Result<(), EngineError> {
        let Some(spec) = self.state.step_def(step).and_then(|d| d.command.clone()) else {
            return Ok(());
        };
        // One run per rotated credential, or one run with every location.
        let creds: Vec<Credential> = self
            .state
            .credentials
            .iter()
            .filter(|c| c.in_rotation())
            .map(|c| c.credential.clone())
            .collect();
        let runs: Vec<Run> = if spec.per_credential {
            creds
                .iter()
                .map(|c| (Some(c.clone()), substitute(&spec.run, Some(c), &creds)))
                .collect()
        } else {
            vec![(None, substitute(&spec.run, None, &creds))]
        };
        if self.providers.drill.is_some() {
            return self.simulate(step, &spec, &runs);
        }
        self.start_unit(step, &[]);
        let ctx = self.op_ctx(step);
        let versions: HashMap<String, String> = self
            .state
            .credentials
            .iter()
            .filter_map(|c| {
                c.staged_version
                    .clone()
                    .map(|v| (c.credential.id.clone(), v))
            })
            .collect();
        let passing = spec.new_key_via.clone();
        let pass_env = spec.pass_env.clone();
        tokio::spawn(async move {
            remember_values(&ctx, &creds, &versions).await;
            run_live(&ctx, runs, &passing, &pass_env, &versions).await;
            ctx.done();
        });
        Ok(())
    }

    /// A drill runs nothing: each command is journaled as simulated, with its drill effect.
    fn simulate(
        &mut self,
        step: &str,
        spec: &CommandSpec,
        runs: &[Run],
    ) -> Result<(), EngineError> {
        let Some(world) = self.providers.drill.clone() else {
            return Ok(());
        };
        for (_, cmd) in runs {
            self.record(Event::CommandStarted {
                step: step.to_string(),
                command: cmd.clone(),
                simulated: true,
            })?;
            let effect = match &spec.drill_effect {
                Some(DrillEffect::RestartConsumers(names)) => {
                    world.restart_consumers(names);
                    format!("(drill) not run; simulated: restarted {}", names.join(", "))
                }
                _ => "(drill) not run; simulated success".to_string(),
            };
            self.record(Event::CommandOutput {
                step: step.to_string(),
                line: effect,
            })?;
            self.record(Event::CommandFinished {
                step: step.to_string(),
                exit_code: 0,
            })?;
        }
        let at = self.now();
        self.record(Event::StepCompleted {
            step: step.to_string(),
            at,
        })?;
        self.maybe_end_drill()
    }
}

/// Keys whose values [`remember_values`] reads at once.
const REMEMBER_AT_ONCE: usize = 8;

/// Reads the new and the old value of every key in the rotation (through the engine's
/// remembering ports), so the command's output is masked of them even when the command finds
/// them by itself. Failures only mean less to look for: the key-shaped net still holds.
async fn remember_values(ctx: &OpCtx, creds: &[Credential], versions: &HashMap<String, String>) {
    // A few keys at a time: a hundred keys read one after another kept the command waiting
    // for half a minute.
    futures::stream::iter(creds)
        .for_each_concurrent(REMEMBER_AT_ONCE, |c| {
            async move {
                let (Some(primary), Some(version)) = (c.primary_store(), versions.get(&c.id))
                else {
                    return;
                };
                let Ok(store) = ctx.providers.store(primary.kind) else {
                    return;
                };
                // The new value is tried as any read (a throttled or lost answer is not the
                // end of it); the old one may be gone by design (NotFound), so once, its
                // retries watched.
                let _ = ctx
                    .attempt(Some(&c.id), "read new key", || {
                        store.read_version(primary, version)
                    })
                    .await;
                let _ = retries::watched(ctx.watch(Some(&c.id)), store.read_old(primary, version))
                    .await;
            }
        })
        .await;
}

/// Runs each command in turn until one fails; then the step is done or failed.
async fn run_live(
    ctx: &OpCtx,
    runs: Vec<Run>,
    passing: &KeyPassing,
    pass_env: &[String],
    versions: &HashMap<String, String>,
) {
    let mut all_ok = true;
    for (cred, cmd) in runs {
        ctx.send(vec![Event::CommandStarted {
            step: ctx.step.clone(),
            command: cmd.clone(),
            simulated: false,
        }]);
        let key = match (&cred, passing) {
            (Some(c), KeyPassing::Stdin | KeyPassing::Env) => {
                read_new_key(ctx, c, versions.get(&c.id)).await
            }
            _ => None,
        };
        let code = run_shell(ctx, &cmd, passing, pass_env, key).await;
        ctx.send(vec![Event::CommandFinished {
            step: ctx.step.clone(),
            exit_code: code,
        }]);
        if code != 0 {
            all_ok = false;
            break;
        }
    }
    let at = ctx.providers.clock.now();
    ctx.send(vec![if all_ok {
        Event::StepCompleted {
            step: ctx.step.clone(),
            at,
        }
    } else {
        Event::StepFailed {
            step: ctx.step.clone(),
            why: "the command failed; read its output, fix the cause and run it again".into(),
            at,
        }
    }]);
}

/// The placeholders a command may hold, and what each becomes.
const PLACEHOLDERS: [&str; 4] = ["{credential}", "{issuer}", "{locations}", "{location}"];

/// Substitutes names (never values) into a command, shell-quoted, in one pass: the template
/// is read once from left to right and a substituted value is never read again, so a name
/// holding `{location}`, `$(…)`, quotes or a line break stays one quoted word. Placeholders of
/// a credential (`{credential}`, `{issuer}`, `{location}`) stay as written in a run for all
/// keys; anything else in braces is left alone.
fn substitute(template: &str, cred: Option<&Credential>, all: &[Credential]) -> String {
    let value = |placeholder: &str| -> Option<String> {
        match (placeholder, cred) {
            ("{locations}", Some(c)) => Some(shell_quote_all(
                &c.locations.iter().map(|l| l.label()).collect::<Vec<_>>(),
            )),
            ("{locations}", None) => Some(shell_quote_all(
                &all.iter()
                    .flat_map(|c| c.locations.iter().map(|l| l.label()))
                    .collect::<Vec<_>>(),
            )),
            ("{credential}", Some(c)) => Some(shell_quote(&c.name)),
            ("{issuer}", Some(c)) => Some(shell_quote(c.issuer.label())),
            ("{location}", Some(c)) => Some(shell_quote(
                &c.locations.first().map(|l| l.label()).unwrap_or_default(),
            )),
            _ => None,
        }
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let at = &rest[open..];
        let hit = PLACEHOLDERS
            .iter()
            .find(|p| at.starts_with(**p))
            .and_then(|p| value(p).map(|v| (p.len(), v)));
        match hit {
            Some((len, v)) => {
                out.push_str(&v);
                rest = &at[len..];
            }
            None => {
                out.push('{');
                rest = &at[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One shell word: left bare when it holds only characters the shell never interprets,
/// otherwise in single quotes (inside which nothing is interpreted; a `'` is closed, escaped
/// and reopened). A NUL, which no shell word can hold, is dropped.
fn shell_quote(s: &str) -> String {
    let s: String = s.chars().filter(|c| *c != '\0').collect();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:#@%+=,".contains(c))
        && !s.starts_with('#')
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn shell_quote_all(items: &[String]) -> String {
    items
        .iter()
        .map(|s| shell_quote(s))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn read_new_key(
    ctx: &OpCtx,
    cred: &Credential,
    version: Option<&String>,
) -> Option<SecretString> {
    let primary = cred.primary_store()?.clone();
    let version = version?;
    let store = ctx.providers.store(primary.kind).ok()?.clone();
    ctx.attempt(Some(&cred.id), "read new key", || {
        store.read_version(&primary, version)
    })
    .await
    .ok()
}

/// Runs `sh -c cmd` in a scrubbed environment; the new key goes only through stdin or the
/// environment. Its output is masked and journaled line by line.
async fn run_shell(
    ctx: &OpCtx,
    cmd: &str,
    passing: &KeyPassing,
    pass_env: &[String],
    key: Option<SecretString>,
) -> i32 {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if let Some(n) = name.to_str()
            && is_scrubbed_env(n)
            && !pass_env.iter().any(|p| p == n)
        {
            command.env_remove(n);
        }
    }
    command.env_remove("BREACHBOOK_NEW_KEY");
    if let (KeyPassing::Env, Some(k)) = (passing, &key) {
        command.env("BREACHBOOK_NEW_KEY", k.expose_secret());
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            ctx.send(vec![Event::CommandOutput {
                step: ctx.step.clone(),
                line: format!("could not start sh: {e}"),
            }]);
            return 127;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        if let (KeyPassing::Stdin, Some(k)) = (passing, &key) {
            let _ = stdin.write_all(k.expose_secret().as_bytes()).await;
        }
        drop(stdin);
    }
    drop(key);
    forward_output(ctx, child.stdout.take(), child.stderr.take()).await;
    match child.wait().await {
        Ok(status) => status.code().unwrap_or(-1),
        Err(_) => -1,
    }
}

/// Reads stdout and stderr as they come, each through its own [`StreamMasker`], and
/// journals their lines (key-shaped tokens masked too), at most [`MAX_OUTPUT_LINES`].
async fn forward_output(
    ctx: &OpCtx,
    mut out: Option<tokio::process::ChildStdout>,
    mut err: Option<tokio::process::ChildStderr>,
) {
    use tokio::io::AsyncReadExt;
    let masker = known().masker();
    let mut masks = [
        StreamMasker::new(masker.clone(), MAX_LINE_BYTES),
        StreamMasker::new(masker, MAX_LINE_BYTES),
    ];
    let mut bufs = [
        zeroize::Zeroizing::new(vec![0u8; 8192]),
        zeroize::Zeroizing::new(vec![0u8; 8192]),
    ];
    let mut shown = 0usize;
    let mut left_out = 0usize;
    let mut journal = |lines: Vec<String>| {
        let mut events = Vec::new();
        for line in lines {
            if shown < MAX_OUTPUT_LINES {
                shown += 1;
                events.push(Event::CommandOutput {
                    step: ctx.step.clone(),
                    line: redact(&line),
                });
            } else {
                left_out += 1;
            }
        }
        ctx.send(events);
    };
    let [buf_out, buf_err] = &mut bufs;
    let [mask_out, mask_err] = &mut masks;
    while out.is_some() || err.is_some() {
        tokio::select! {
            r = async { match out.as_mut() { Some(o) => o.read(buf_out).await, None => std::future::pending().await } }, if out.is_some() => {
                match r {
                    Ok(n) if n > 0 => journal(mask_out.push(&buf_out[..n])),
                    _ => {
                        out = None;
                        journal(mask_out.finish());
                    }
                }
            }
            r = async { match err.as_mut() { Some(e) => e.read(buf_err).await, None => std::future::pending().await } }, if err.is_some() => {
                match r {
                    Ok(n) if n > 0 => journal(mask_err.push(&buf_err[..n])),
                    _ => {
                        err = None;
                        journal(mask_err.finish());
                    }
                }
            }
            () = tokio::time::sleep(QUIET) => {
                journal(mask_out.flush_lines());
                journal(mask_err.flush_lines());
            }
        }
    }
    if left_out > 0 {
        ctx.send(vec![Event::CommandOutput {
            step: ctx.step.clone(),
            line: format!(
                "… {left_out} more line(s) of output not recorded: breachbook keeps at most {MAX_OUTPUT_LINES} lines per run"
            ),
        }]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_uses_names_and_quotes() {
        let c = Credential {
            id: "openai/x".into(),
            issuer: crate::runbook::schema::Issuer::Openai,
            key_id: "key_1".into(),
            name: "x; rm -rf /".into(),
            hint: "sk-…abcd".into(),
            created: None,
            last_used: None,
            locations: vec![],
            exposed: true,
            exposure_reason: String::new(),
            fingerprint: None,
            meta: Default::default(),
        };
        let s = substitute("echo {credential}", Some(&c), &[]);
        assert_eq!(s, "echo 'x; rm -rf /'");
    }
}
