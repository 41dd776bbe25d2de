//! Region names the AWS SDK knows: a region in the scope that is not one of them is most
//! likely a typo (`eu-wset-1`), and every call there would fail to connect. A warning, not an
//! error: a region newer than this build is still a region.

use super::super::diagnostic::{Diagnostic, Lines};
use super::super::schema::Runbook;

/// The regions of the AWS partitions the SDK's endpoint resolver lists (aws, aws-cn,
/// aws-eusc, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-us-gov), without the `*-global`
/// pseudo-regions: the partitions JSON in aws-sdk-secretsmanager 1.99.0
/// `src/endpoint_lib.rs` (the same in aws-sdk-sts 1.97.0).
pub const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "cn-north-1",
    "cn-northwest-1",
    "eusc-de-east-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "eu-isoe-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-gov-east-1",
    "us-gov-west-1",
];

/// Edit distance (Levenshtein) of two short names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known region closest to `name`, when it is close (two edits or fewer).
fn closest(name: &str) -> Option<&'static str> {
    KNOWN_REGIONS
        .iter()
        .map(|r| (distance(name, r), *r))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, r)| r)
}

/// A warning for every Secrets Manager region of the scope the SDK does not know, located
/// at its first mention in `src`.
pub fn region_warnings(src: &str, rb: &Runbook) -> Vec<Diagnostic> {
    let Some(sm) = &rb.scope.secrets_manager else {
        return Vec::new();
    };
    let lines = Lines::new(src);
    let anchor = src.find("regions").unwrap_or(0);
    sm.regions
        .iter()
        .filter(|r| !KNOWN_REGIONS.contains(&r.trim()))
        .map(|r| {
            let at = src[anchor..].find(r.as_str()).map(|o| anchor + o).unwrap_or(anchor);
            let hint = match closest(r.trim()) {
                Some(c) => format!("did you mean `{c}`? Every call to `{r}` would fail to connect"),
                None => format!(
                    "check the name (aws account list-regions); every call to `{r}` would fail to connect if it does not exist"
                ),
            };
            lines.diagnostic(
                at,
                format!("`{r}` is not a region the AWS SDK knows"),
                Some(hint),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_caught_and_the_region_meant_named() {
        assert_eq!(closest("eu-wset-1"), Some("eu-west-1"));
        assert_eq!(closest("us-east-1"), Some("us-east-1"));
        assert_eq!(closest("mars-north-9"), None);
        assert!(KNOWN_REGIONS.contains(&"ap-southeast-7"));
    }
}
