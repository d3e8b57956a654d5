//! Typed continuation cursors, one per job.
//!
//! A work item carries its cursor as JSON (`cursor` in the wire shape); the
//! engine reads it here once, per job, and never looks at raw JSON again.
//! The JSON stays what it always was, so items enqueued by an older
//! version continue: reconcile `{"pass":2}` (now also
//! `{"pass":2,"resume":{"part":3,"rank":4,"from":"<id>"}}`, which an older
//! version reads as `{"pass":2}`), photos `{"after":"<id>"}` (or `{}` before
//! the first user). A cursor from another job, or garbage, is
//! treated as no cursor: every job is safe to start over.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{Guid, Job};

/// Where an unfinished job resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobCursor {
    /// Reconcile counts passes to bound the retries of transient failures.
    /// Without `resume` it reads again and re-plans; with it, it continues
    /// a full read from the run's snapshot (`engine/snapshot.rs`) at that
    /// point of the plan.
    Reconcile { pass: u64, resume: Option<Resume> },
    /// Photos work through the in-scope users in id order; `after` is the
    /// last user fully done (None: none yet).
    Photos { after: Option<Guid> },
}

/// Where a full read's plan, applied part after part, goes on: the
/// actions of part `part` from `from` on, in plan order (kind rank, source
/// user id), then the later parts. `part` equal to the plan's part count
/// means every action was started (only sponsors and managers are left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub part: u32,
    /// The plan-order key of the first action not started (None: the
    /// part's first action).
    #[serde(flatten, with = "from_key")]
    pub from: Option<(u8, Guid)>,
}

/// `from` on the wire: `"rank": n, "from": "<id>"`, both or neither.
mod from_key {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::domain::Guid;

    #[derive(Serialize, Deserialize)]
    struct Wire {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rank: Option<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Guid>,
    }

    pub fn serialize<S: Serializer>(v: &Option<(u8, Guid)>, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            rank: v.map(|(r, _)| r),
            from: v.map(|(_, id)| id),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(u8, Guid)>, D::Error> {
        let w = Wire::deserialize(d)?;
        match (w.rank, w.from) {
            (Some(r), Some(id)) => Ok(Some((r, id))),
            (None, None) => Ok(None),
            _ => Err(serde::de::Error::custom(
                "resume: rank and from go together",
            )),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct ReconcileWire {
    pass: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<Resume>,
}

#[derive(Serialize, Deserialize)]
struct PhotosWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<Guid>,
}

impl JobCursor {
    /// The cursor of `job` in `raw`; None for no cursor, one of another
    /// job, or one that does not parse.
    pub fn parse(job: Job, raw: Option<&Value>) -> Option<JobCursor> {
        let raw = raw?;
        match job {
            Job::Reconcile => serde_json::from_value::<ReconcileWire>(raw.clone())
                .ok()
                .map(|w| JobCursor::Reconcile {
                    pass: w.pass,
                    resume: w.resume,
                }),
            Job::Photos => {
                // `{"pass":..}` is a reconcile cursor, not "photos from the start".
                let obj = raw.as_object()?;
                if obj.keys().any(|k| k != "after") {
                    return None;
                }
                serde_json::from_value::<PhotosWire>(raw.clone())
                    .ok()
                    .map(|w| JobCursor::Photos { after: w.after })
            }
            Job::Redemption => None,
        }
    }

    /// The job this cursor belongs to.
    pub fn job(&self) -> Job {
        match self {
            JobCursor::Reconcile { .. } => Job::Reconcile,
            JobCursor::Photos { .. } => Job::Photos,
        }
    }

    /// The JSON a continuation work item carries.
    pub fn to_value(&self) -> Value {
        let v = match self {
            JobCursor::Reconcile { pass, resume } => serde_json::to_value(ReconcileWire {
                pass: *pass,
                resume: *resume,
            }),
            JobCursor::Photos { after } => serde_json::to_value(PhotosWire { after: *after }),
        };
        v.unwrap_or(Value::Null)
    }

    /// The reconcile pass this cursor continues (1 = a fresh run).
    pub fn reconcile_pass(c: Option<JobCursor>) -> u64 {
        match c {
            Some(JobCursor::Reconcile { pass, .. }) => pass,
            _ => 1,
        }
    }

    /// Where a full read resumes from its snapshot, if this continues one.
    pub fn reconcile_resume(c: Option<JobCursor>) -> Option<Resume> {
        match c {
            Some(JobCursor::Reconcile { resume, .. }) => resume,
            _ => None,
        }
    }

    /// The last photo user done, if this continues a photo run.
    pub fn photos_after(c: Option<JobCursor>) -> Option<Guid> {
        match c {
            Some(JobCursor::Photos { after }) => after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The wire shapes are the ones older work items carry, both ways.
    #[test]
    fn wire_shapes_round_trip() {
        let id = Guid::new_v4();
        let r = JobCursor::parse(Job::Reconcile, Some(&json!({"pass": 2})));
        assert_eq!(
            r,
            Some(JobCursor::Reconcile {
                pass: 2,
                resume: None
            })
        );
        assert_eq!(r.unwrap().to_value(), json!({"pass": 2}));
        // A full read resuming from its snapshot, mid-part and at a part's start.
        let mid = json!({"pass": 3, "resume": {"part": 2, "rank": 4, "from": id.to_string()}});
        let r = JobCursor::parse(Job::Reconcile, Some(&mid)).unwrap();
        assert_eq!(
            JobCursor::reconcile_resume(Some(r)),
            Some(Resume {
                part: 2,
                from: Some((4, id))
            })
        );
        assert_eq!(r.to_value(), mid);
        let start = json!({"pass": 3, "resume": {"part": 5}});
        let r = JobCursor::parse(Job::Reconcile, Some(&start)).unwrap();
        assert_eq!(
            JobCursor::reconcile_resume(Some(r)),
            Some(Resume {
                part: 5,
                from: None
            })
        );
        assert_eq!(r.to_value(), start);
        // Half a key is no cursor (start over: always safe).
        let half = json!({"pass": 3, "resume": {"part": 2, "rank": 4}});
        assert_eq!(JobCursor::parse(Job::Reconcile, Some(&half)), None);
        let p = JobCursor::parse(Job::Photos, Some(&json!({"after": id.to_string()})));
        assert_eq!(p, Some(JobCursor::Photos { after: Some(id) }));
        assert_eq!(p.unwrap().to_value(), json!({"after": id.to_string()}));
        let start = JobCursor::parse(Job::Photos, Some(&json!({})));
        assert_eq!(start, Some(JobCursor::Photos { after: None }));
        assert_eq!(start.unwrap().to_value(), json!({}));
    }

    /// Another job's cursor, garbage and null all mean "start over".
    #[test]
    fn foreign_or_garbage_is_no_cursor() {
        assert_eq!(
            JobCursor::parse(Job::Photos, Some(&json!({"pass": 2}))),
            None
        );
        assert_eq!(
            JobCursor::parse(Job::Reconcile, Some(&json!({"after": "x"}))),
            None
        );
        assert_eq!(
            JobCursor::parse(Job::Photos, Some(&json!({"after": "not-a-guid"}))),
            None
        );
        assert_eq!(JobCursor::parse(Job::Reconcile, Some(&json!("pass"))), None);
        assert_eq!(
            JobCursor::parse(Job::Redemption, Some(&json!({"pass": 1}))),
            None
        );
        assert_eq!(JobCursor::parse(Job::Reconcile, None), None);
        assert_eq!(JobCursor::reconcile_pass(None), 1);
        assert_eq!(JobCursor::photos_after(None), None);
    }
}
