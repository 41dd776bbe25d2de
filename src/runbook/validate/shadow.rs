//! The shadow parse: a second, lenient parse of the same text into structs of `Spanned`
//! values that mirror the parts of the schema the rules talk about, so every problem can
//! point at its node.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SRunbook {
    pub(super) version: Option<Spanned<u32>>,
    pub(super) exposure_window: Option<SExposure>,
    pub(super) scope: Option<Spanned<IgnoredAny>>,
    pub(super) settings: Option<SSettings>,
    pub(super) steps: Vec<SStep>,
    pub(super) drill: Option<Spanned<SDrill>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SExposure {
    pub(super) end: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SSettings {
    pub(super) quiet_period: Option<Spanned<String>>,
    pub(super) concurrency: Option<Spanned<u64>>,
    pub(super) max_attempts: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SStep {
    pub(super) id: Option<Spanned<String>>,
    pub(super) needs: Vec<Spanned<String>>,
    pub(super) action: Option<Spanned<String>>,
    pub(super) confirm: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) command: Option<Spanned<SCommand>>,
    pub(super) checklist: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SCommand {
    pub(super) drill_effect: Option<Spanned<SDrillEffect>>,
    pub(super) pass_env: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SDrillEffect {
    RestartConsumers(Vec<Spanned<String>>),
    Nothing,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SDrill {
    pub(super) duration: Option<Spanned<String>>,
    pub(super) starts_after_exposure: Option<Spanned<String>>,
    pub(super) speed: Option<Spanned<f64>>,
    pub(super) credentials: Vec<SCred>,
    pub(super) actors: Vec<SActor>,
    pub(super) injects: Vec<SInject>,
    pub(super) faults: Vec<Spanned<SFault>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SCred {
    pub(super) name: Option<Spanned<String>>,
    pub(super) age: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SActor {
    pub(super) name: Option<Spanned<String>>,
    pub(super) uses: Vec<Spanned<String>>,
    pub(super) every: Option<Spanned<String>>,
    pub(super) reads: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SInject {
    pub(super) at: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SFault {
    Throttle(SFaultBody),
    ServerError(SFaultBody),
    StaleConsumer(SFaultBody),
}

impl SFault {
    pub(super) fn body(&self) -> &SFaultBody {
        match self {
            SFault::Throttle(b) | SFault::ServerError(b) | SFault::StaleConsumer(b) => b,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SFaultBody {
    pub(super) rate: Option<Spanned<f64>>,
    pub(super) from: Option<Spanned<String>>,
    pub(super) until: Option<Spanned<String>>,
    pub(super) consumer: Option<Spanned<String>>,
}

pub(super) fn off<T>(s: &Spanned<T>) -> usize {
    s.referenced
        .span()
        .byte_offset()
        .map(|o| o as usize)
        .unwrap_or(0)
}

pub(super) fn opt_off<T>(s: &Option<Spanned<T>>, fallback: usize) -> usize {
    s.as_ref().map(off).unwrap_or(fallback)
}
