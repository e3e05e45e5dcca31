//! `retention:`: how long finished work is kept, as durations such as `14d`, `12h`, `30m`,
//! `45s` or `never`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `retention:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Events whose deliveries are all done (or discarded), with their deliveries and
    /// attempts, are deleted this long after the last one finished; parked events an
    /// operator discarded, this long after the discard.
    #[serde(default = "fourteen_days")]
    pub done: Keep,
    /// Events that planned no delivery (skipped: no route, nothing to send) are deleted this
    /// long after they were received.
    #[serde(default = "fourteen_days")]
    pub skipped: Keep,
    /// Dead letters (with their events) are deleted this long after they died; `never` by
    /// default, so that every dead letter waits for an operator.
    #[serde(default)]
    pub dead: Keep,
    /// Seconds between two purge passes of the background purger (0: no background purge;
    /// `itsm-bridge purge` still works).
    #[serde(default = "interval_secs")]
    pub interval_secs: u64,
    /// Events (or write-backs) looked at per purge step; each step is one short transaction.
    #[serde(default = "batch")]
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            done: fourteen_days(),
            skipped: fourteen_days(),
            dead: Keep::Never,
            interval_secs: interval_secs(),
            batch: batch(),
        }
    }
}

fn fourteen_days() -> Keep {
    Keep::For(Duration::from_secs(14 * 86_400))
}
fn interval_secs() -> u64 {
    300
}
fn batch() -> u32 {
    500
}

/// How long something is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Keep {
    For(Duration),
    #[default]
    Never,
}

impl Keep {
    /// `never`, or a whole number followed by `d`, `h`, `m` or `s` (`14d`, `30m`).
    pub fn parse(s: &str) -> Result<Keep, String> {
        let s = s.trim();
        if s == "never" {
            return Ok(Keep::Never);
        }
        let bad = || {
            format!(
                "{s:?} is not a duration: write a whole number and d, h, m or s (14d, 12h, 30m, 45s), or never"
            )
        };
        let unit = s.chars().last().ok_or_else(bad)?;
        let secs_per = match unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: u64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
        let secs = n.checked_mul(secs_per).ok_or_else(bad)?;
        Ok(Keep::For(Duration::from_secs(secs)))
    }

    /// The instant before which things go, at `now`; `None` when kept for ever.
    pub fn before(self, now: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
        match self {
            Keep::For(d) => Some(now - d),
            Keep::Never => None,
        }
    }
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Keep::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_in_days_hours_minutes_and_seconds_or_never() {
        assert_eq!(
            Keep::parse("14d"),
            Ok(Keep::For(Duration::from_secs(14 * 86_400)))
        );
        assert_eq!(
            Keep::parse("12h"),
            Ok(Keep::For(Duration::from_secs(43_200)))
        );
        assert_eq!(
            Keep::parse("30m"),
            Ok(Keep::For(Duration::from_secs(1_800)))
        );
        assert_eq!(Keep::parse("45s"), Ok(Keep::For(Duration::from_secs(45))));
        assert_eq!(Keep::parse("never"), Ok(Keep::Never));
        for bad in ["", "14", "d", "1.5d", "-1d", "14 days", "1w"] {
            let e = Keep::parse(bad).unwrap_err();
            assert!(e.contains("not a duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_retention_section_rejects_unknown_keys_and_bad_durations() {
        let c: RetentionConfig = serde_saphyr::from_str("done: 30m\nskipped: 1h\n").unwrap();
        assert_eq!(c.done, Keep::For(Duration::from_secs(1_800)));
        assert_eq!(c.dead, Keep::Never);
        let e = serde_saphyr::from_str::<RetentionConfig>("done: soon\n").unwrap_err();
        assert!(e.to_string().contains("not a duration"), "{e}");
        assert!(serde_saphyr::from_str::<RetentionConfig>("kept: 1d\n").is_err());
    }
}
