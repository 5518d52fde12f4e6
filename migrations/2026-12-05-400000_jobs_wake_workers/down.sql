DROP TRIGGER jobs_wake_workers ON jobs;
DROP FUNCTION jobs_wake_workers();
