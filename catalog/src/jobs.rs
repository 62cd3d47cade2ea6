//! `JobStore`: background jobs and their progress, persisted so they survive a
//! restart (`<data_dir>/system/jobs/<id>.json`, each written atomically).
//!
//! A job's `spec` is the JSON its runner needs to start or resume it; the store
//! never interprets it. Progress updates rewrite the job's file, so after a
//! crash the job is found in `running` state and its runner resumes it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::CatalogError;
use crate::data_dir::{DataDir, write_atomically};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    /// Queued and running jobs are resumed at start.
    pub fn is_unfinished(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
}

/// One row of `lakehouse.jobs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    /// What the job does, e.g. `create_vector_index`.
    pub kind: String,
    /// What it works on, e.g. the index name.
    pub target: String,
    pub state: JobState,
    pub rows_done: i64,
    pub rows_total: i64,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// The user who submitted it.
    pub owner: String,
    /// Times the job was (re)started after a restart or a transient failure.
    pub attempts: i64,
    pub spec: serde_json::Value,
}

impl Job {
    /// Fraction done, 0..1 (1 once finished).
    pub fn progress(&self) -> f64 {
        match self.state {
            JobState::Done => 1.0,
            _ if self.rows_total <= 0 => 0.0,
            _ => (self.rows_done as f64 / self.rows_total as f64).clamp(0.0, 1.0),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobStore {
    dir: PathBuf,
    jobs: Arc<Mutex<BTreeMap<i64, Job>>>,
}

impl JobStore {
    /// Loads every job file under `<data_dir>/system/jobs`.
    pub fn open(data_dir: &DataDir) -> Result<JobStore, CatalogError> {
        let dir = data_dir.system().join("jobs");
        std::fs::create_dir_all(&dir).map_err(|e| CatalogError::io(&dir, e))?;
        let mut jobs = BTreeMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| CatalogError::io(&dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| CatalogError::io(&path, e))?;
            let job: Job = serde_json::from_str(&text).map_err(|e| CatalogError::Corrupt {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            jobs.insert(job.id, job);
        }
        Ok(JobStore {
            dir,
            jobs: Arc::new(Mutex::new(jobs)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<i64, Job>> {
        // A panic while holding the lock cannot leave a job half-updated in
        // memory (updates are whole-value inserts), so poisoning is ignored.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, job: &Job) -> Result<(), CatalogError> {
        let path = self.dir.join(format!("{}.json", job.id));
        let bytes = serde_json::to_vec_pretty(job).map_err(|e| CatalogError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        write_atomically(&path, &bytes)
    }

    /// Records a new queued job and returns it with its id.
    pub fn submit(
        &self,
        kind: &str,
        target: &str,
        owner: &str,
        spec: serde_json::Value,
    ) -> Result<Job, CatalogError> {
        let mut jobs = self.lock();
        let id = jobs.keys().next_back().copied().unwrap_or(0) + 1;
        let job = Job {
            id,
            kind: kind.to_string(),
            target: target.to_string(),
            state: JobState::Queued,
            rows_done: 0,
            rows_total: 0,
            started: None,
            finished: None,
            error: None,
            owner: owner.to_string(),
            attempts: 0,
            spec,
        };
        self.persist(&job)?;
        jobs.insert(id, job.clone());
        Ok(job)
    }

    pub fn get(&self, id: i64) -> Option<Job> {
        self.lock().get(&id).cloned()
    }

    /// All jobs, by id.
    pub fn list(&self) -> Vec<Job> {
        self.lock().values().cloned().collect()
    }

    /// Applies `change` to the job and persists it.
    pub fn update(&self, id: i64, change: impl FnOnce(&mut Job)) -> Result<Job, CatalogError> {
        let mut jobs = self.lock();
        let Some(current) = jobs.get(&id) else {
            return Err(CatalogError::Corrupt {
                path: self.dir.join(format!("{id}.json")).display().to_string(),
                message: format!("job {id} is not known"),
            });
        };
        let mut job = current.clone();
        change(&mut job);
        self.persist(&job)?;
        jobs.insert(id, job.clone());
        Ok(job)
    }
}
