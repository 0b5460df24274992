//! When each fault is injected. The default run lasts 40 s: Redis frozen
//! at 5 s for 5 s, PostgreSQL restarted at 15 s, B killed at 22 s and
//! started again at 24 s, Redis killed at 30 s and started again at 35 s.
//! A longer run spreads the starts out in proportion; the outages keep
//! their length. With `--cluster` the Redis steps freeze and wake one
//! master, and kill and start again another: the same times.

use std::time::Duration;

/// The default run's length, for which the starts below are written.
pub(super) const DEFAULT_SECONDS: u64 = 40;
/// Starts in a run of [`DEFAULT_SECONDS`].
const REDIS_FREEZE_AT: f64 = 5.0;
const POSTGRES_RESTART_AT: f64 = 15.0;
const PROCESS_KILL_AT: f64 = 22.0;
const REDIS_KILL_AT: f64 = 30.0;
/// How long each outage lasts, whatever the run's length.
pub(super) const REDIS_FROZEN_FOR: Duration = Duration::from_secs(5);
pub(super) const PROCESS_DOWN_FOR: Duration = Duration::from_secs(2);
pub(super) const REDIS_DOWN_FOR: Duration = Duration::from_secs(5);

/// One action of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    FreezeRedis,
    ThawRedis,
    RestartPostgres,
    KillProcess,
    StartProcess,
    KillRedis,
    StartRedis,
}

/// The steps, in order, and when the load stops.
#[derive(Debug, PartialEq)]
pub(super) struct Timeline {
    pub(super) steps: Vec<(Duration, Step)>,
    pub(super) end: Duration,
}

impl Timeline {
    /// The timeline of a run of `seconds` (at least [`DEFAULT_SECONDS`]).
    pub(super) fn for_run(seconds: u64) -> Result<Timeline, String> {
        if seconds < DEFAULT_SECONDS {
            return Err(format!(
                "--seconds {seconds}: a run needs at least {DEFAULT_SECONDS} s to fit its four faults"
            ));
        }
        let scale = seconds as f64 / DEFAULT_SECONDS as f64;
        let at = |start: f64| Duration::from_secs_f64(start * scale);
        let freeze = at(REDIS_FREEZE_AT);
        let kill = at(PROCESS_KILL_AT);
        let redis_kill = at(REDIS_KILL_AT);
        Ok(Timeline {
            steps: vec![
                (freeze, Step::FreezeRedis),
                (freeze + REDIS_FROZEN_FOR, Step::ThawRedis),
                (at(POSTGRES_RESTART_AT), Step::RestartPostgres),
                (kill, Step::KillProcess),
                (kill + PROCESS_DOWN_FOR, Step::StartProcess),
                (redis_kill, Step::KillRedis),
                (redis_kill + REDIS_DOWN_FOR, Step::StartRedis),
            ],
            end: Duration::from_secs(seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(timeline: &Timeline) -> Vec<(f64, Step)> {
        timeline
            .steps
            .iter()
            .map(|(at, step)| (at.as_secs_f64(), *step))
            .collect()
    }

    #[test]
    fn the_default_run_follows_the_written_schedule() {
        let timeline = Timeline::for_run(40).unwrap();
        assert_eq!(
            seconds(&timeline),
            [
                (5.0, Step::FreezeRedis),
                (10.0, Step::ThawRedis),
                (15.0, Step::RestartPostgres),
                (22.0, Step::KillProcess),
                (24.0, Step::StartProcess),
                (30.0, Step::KillRedis),
                (35.0, Step::StartRedis),
            ]
        );
        assert_eq!(timeline.end, Duration::from_secs(40));
    }

    #[test]
    fn a_longer_run_spreads_the_starts_and_keeps_the_outages() {
        let timeline = Timeline::for_run(80).unwrap();
        assert_eq!(
            seconds(&timeline),
            [
                (10.0, Step::FreezeRedis),
                (15.0, Step::ThawRedis),
                (30.0, Step::RestartPostgres),
                (44.0, Step::KillProcess),
                (46.0, Step::StartProcess),
                (60.0, Step::KillRedis),
                (65.0, Step::StartRedis),
            ]
        );
        let in_order = timeline.steps.windows(2).all(|w| w[0].0 <= w[1].0);
        assert!(in_order);
    }

    #[test]
    fn a_run_too_short_for_its_faults_is_refused() {
        assert!(Timeline::for_run(39).unwrap_err().contains("at least 40 s"));
    }
}
