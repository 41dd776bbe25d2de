//! Human durations as runbooks write them: `90s`, `15m`, `2h`, `3d`, `1h30m`.

use std::time::Duration;

/// The longest duration breachbook takes: ten years (3660 days). Longer ones are refused, so
/// every time computed from one (the drill clock, deadlines, key ages) stays far inside what
/// dates can hold.
pub const MAX_SECS: u64 = 3660 * 86_400;

/// Parses `90s`, `15m`, `2h`, `3d` or a sum of them (`1h30m`).
///
/// Errors say what was wrong in words fit for a diagnostic.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration; write e.g. `90s`, `15m`, `2h` or `3d`".into());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut saw_unit = false;
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => {
                return Err(if c == '.' {
                    format!(
                        "`{t}` is not a duration: no fractions; write `1h30m` or `90m` instead of `1.5h`"
                    )
                } else {
                    format!("`{t}` is not a duration")
                });
            }
        };
        if digits.is_empty() {
            return Err(format!(
                "`{t}` is not a duration: a unit needs a number before it, e.g. `15m`"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{t}` is not a duration: number too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{t}` is too long a duration"))?;
        digits.clear();
        saw_unit = true;
    }
    if !digits.is_empty() {
        return Err(format!(
            "`{t}` has no unit: write `{t}s` for seconds or `{t}m` for minutes"
        ));
    }
    if !saw_unit {
        return Err(format!("`{t}` is not a duration"));
    }
    if total > MAX_SECS {
        return Err(format!(
            "`{t}` is too long a duration: the longest breachbook takes is ten years (`3660d`)"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// `t + d`, or the latest time there is when that is past it: arithmetic on incident times
/// saturates instead of panicking (a journal may hold any duration).
pub fn after(t: chrono::DateTime<chrono::Utc>, d: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// `t - d`, or the earliest time there is.
pub fn before(t: chrono::DateTime<chrono::Utc>, d: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// Formats a duration compactly: `1h05m`, `4m10s`, `12s`.
pub fn format(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "15",
            "m",
            "15x",
            "1.5h",
            "-3m",
            "99999999999999999999d",
            "999999999999d",
            "3661d",
        ] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn time_arithmetic_saturates() {
        let t = chrono::DateTime::<chrono::Utc>::MAX_UTC;
        assert_eq!(after(t, Duration::from_secs(u64::MAX)), t);
        let t0 = chrono::DateTime::<chrono::Utc>::MIN_UTC;
        assert_eq!(before(t0, Duration::from_secs(60)), t0);
        let now = chrono::Utc::now();
        assert_eq!(
            after(now, Duration::from_secs(60)),
            now + chrono::Duration::seconds(60)
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format(Duration::from_secs(3900)), "1h05m");
        assert_eq!(format(Duration::from_secs(250)), "4m10s");
        assert_eq!(format(Duration::from_secs(12)), "12s");
    }
}
