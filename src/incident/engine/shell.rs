//! Command steps: the runbook's shell command, with names (never values) substituted, run
//! once per rotated key or once for all. In drills it is simulated (its drill effect applied
//! to the world); live, `sh -c` runs in a task, its output redacted line by line into the
//! journal, and the new key reaches it only through stdin or the environment.
//!
//! Depends on the ports, the model, events, the redactor and the runbook schema.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};

use super::work::OpCtx;
use super::{Engine, EngineError};
use crate::incident::event::Event;
use crate::incident::model::{Credential, LocationKind};
use crate::runbook::schema::{CommandSpec, DrillEffect, KeyPassing};

/// One run of a command step: the key it is for (per-key runs) and the command line.
type Run = (Option<Credential>, String);

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
        tokio::spawn(async move {
            run_live(&ctx, runs, &passing, &versions).await;
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

/// Runs each command in turn until one fails; then the step is done or failed.
async fn run_live(
    ctx: &OpCtx,
    runs: Vec<Run>,
    passing: &KeyPassing,
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
        let code = run_shell(ctx, &cmd, passing, key).await;
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

/// Substitutes names (never values) into a command.
fn substitute(template: &str, cred: Option<&Credential>, all: &[Credential]) -> String {
    let locations: Vec<String> = match cred {
        Some(c) => c.locations.iter().map(|l| l.label()).collect(),
        None => all
            .iter()
            .flat_map(|c| c.locations.iter().map(|l| l.label()))
            .collect(),
    };
    let mut s = template.replace("{locations}", &shell_quote_all(&locations));
    if let Some(c) = cred {
        s = s
            .replace("{credential}", &shell_quote(&c.name))
            .replace("{issuer}", &shell_quote(c.issuer.label()))
            .replace(
                "{location}",
                &shell_quote(&c.locations.first().map(|l| l.label()).unwrap_or_default()),
            );
    }
    s
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:#@%+=,".contains(c))
    {
        s.to_string()
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
    let store = ctx
        .providers
        .store(LocationKind::SecretsManager)
        .ok()?
        .clone();
    store.read_version(&primary, version).await.ok()
}

/// Runs `sh -c cmd`; the new key goes only through stdin or the environment.
async fn run_shell(ctx: &OpCtx, cmd: &str, passing: &KeyPassing, key: Option<SecretString>) -> i32 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true);
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
    let out = child.stdout.take();
    let err = child.stderr.take();
    let forward = |r: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        let ctx = ctx.clone();
        async move {
            if let Some(r) = r {
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    ctx.send(vec![Event::CommandOutput {
                        step: ctx.step.clone(),
                        line: crate::incident::redact::redact(&line),
                    }]);
                }
            }
        }
    };
    let a = forward(out.map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>));
    let b = forward(err.map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>));
    tokio::join!(a, b);
    match child.wait().await {
        Ok(status) => status.code().unwrap_or(-1),
        Err(_) => -1,
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
