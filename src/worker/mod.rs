//! Runs the jobs queue: workers that claim due jobs on any instance and hand each kind to the
//! capability that does it (`runner`, the one registry of job kinds), the connection that
//! wakes them when a job commits (`listener`), cron entries that only enqueue sweeps
//! (`schedule`), and the admin routes over dead jobs (`routes`).

pub mod listener;
pub mod retention;
pub mod routes;
pub mod runner;
pub mod schedule;

pub use runner::{Worker, spawn_workers};
