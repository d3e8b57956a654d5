//! How close a tenant's client secret is to expiry, as the report shows it
//! ([`SecretStatus`], [`SecretLevel`]), by the daily expiry check's rule.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A secret expiring within this many days is a warning (`docs/design.md`, rule 9);
/// the expiry check's [`WARN_DAYS`](crate::secrets::expiry::WARN_DAYS).
pub const SECRET_WARNING_DAYS: i64 = crate::secrets::expiry::WARN_DAYS;

/// How close a client secret is to expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretLevel {
    /// More than [`SECRET_WARNING_DAYS`] days left.
    Ok,
    /// Expires within [`SECRET_WARNING_DAYS`] days.
    Warning,
    Expired,
    /// The expiry was never read (the daily check has not run yet).
    Unknown,
    /// A secretless tenant: no secret exists, so none expires.
    None,
}

impl SecretLevel {
    /// The JSON name (`ok`, `warning`, `expired`, `unknown`, `none`).
    pub fn as_str(&self) -> &'static str {
        match self {
            SecretLevel::Ok => "ok",
            SecretLevel::Warning => "warning",
            SecretLevel::Expired => "expired",
            SecretLevel::Unknown => "unknown",
            SecretLevel::None => "none",
        }
    }
}

/// The client secret's expiry as last read from the vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretStatus {
    /// `null` until the daily expiry check has read it from the vault.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole days until expiry (negative once expired); `null` when unknown.
    pub days_left: Option<i64>,
    pub level: SecretLevel,
}

impl SecretStatus {
    /// Days left and level by the expiry check's rule
    /// ([`classify`](crate::secrets::expiry::classify)), so the report,
    /// `tenant list` and the daily check never disagree.
    pub(super) fn new(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        use crate::secrets::expiry::{classify, ExpiryLevel};
        let (days_left, level) = classify(expires_at, now);
        let level = match level {
            ExpiryLevel::Ok => SecretLevel::Ok,
            ExpiryLevel::Warning => SecretLevel::Warning,
            ExpiryLevel::Expired => SecretLevel::Expired,
            // `classify` never says Unreadable (it reads nothing).
            ExpiryLevel::Unknown | ExpiryLevel::Unreadable => SecretLevel::Unknown,
        };
        SecretStatus {
            expires_at,
            days_left,
            level,
        }
    }

    /// A secretless tenant's: no secret, nothing to expire.
    pub(super) fn none() -> Self {
        SecretStatus {
            expires_at: None,
            days_left: None,
            level: SecretLevel::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::expiry::{classify, ExpiryLevel};
    use chrono::TimeZone;

    /// The report's days left and level agree with the expiry check's (and
    /// so with `tenant list`, which uses the check's rule) at the edges
    /// where truncation and floor differ: a secret expired 3 hours ago has
    /// -1 days everywhere, 29.5 days left is 29.
    #[test]
    fn report_and_expiry_check_agree_on_days_left() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
        let h = chrono::Duration::hours;
        let cases = [
            (h(-3), -1, SecretLevel::Expired, ExpiryLevel::Expired),
            (h(-49), -3, SecretLevel::Expired, ExpiryLevel::Expired),
            (h(0), 0, SecretLevel::Expired, ExpiryLevel::Expired),
            (h(5), 0, SecretLevel::Warning, ExpiryLevel::Warning),
            (
                h(29 * 24 + 12),
                29,
                SecretLevel::Warning,
                ExpiryLevel::Warning,
            ),
            (h(30 * 24), 30, SecretLevel::Warning, ExpiryLevel::Warning),
            (h(30 * 24 + 1), 30, SecretLevel::Ok, ExpiryLevel::Ok),
        ];
        for (offset, days, report_level, check_level) in cases {
            let at = now + offset;
            let report = SecretStatus::new(Some(at), now);
            assert_eq!(report.days_left, Some(days), "report, expiry {offset}");
            assert_eq!(report.level, report_level, "report, expiry {offset}");
            assert_eq!(
                classify(Some(at), now),
                (Some(days), check_level),
                "expiry check, expiry {offset}"
            );
        }
        let unknown = SecretStatus::new(None, now);
        assert_eq!(
            (unknown.days_left, unknown.level),
            (None, SecretLevel::Unknown)
        );
    }
}
