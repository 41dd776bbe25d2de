//! AWS providers (being built).

pub mod cloudtrail;
pub mod iam;
pub mod policy;
pub mod secrets;
