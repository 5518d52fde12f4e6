-- Idle workers on every instance wake the moment a job commits, instead of at their next
-- poll: src/worker/listener.rs LISTENs on `wasit_jobs` (jobs::queue::WAKE_CHANNEL), and this
-- trigger NOTIFYs it. PostgreSQL delivers a notification at commit, so a worker never wakes
-- for a job it cannot see yet, and folds a transaction's identical notifications into one.
--
-- Not for a hold's "held" email. PostgreSQL serialises the commits of transactions that
-- NOTIFY on one lock, held across the commit's WAL flush: holds are the busiest writes, and
-- the hold's own transaction in pgbench (scripts/bench.d/book.pgbench.sql) fell from about
-- 1,030 to 670 tx/s with a NOTIFY in it. The instance that took the hold wakes its own
-- workers (the in-process wake-up); other instances' workers find the email at their poll.
CREATE FUNCTION jobs_wake_workers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('wasit_jobs', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_wake_workers AFTER INSERT ON jobs FOR EACH ROW
  WHEN (NOT (NEW.kind = 'send_booking_email' AND NEW.payload->>'event' = 'held'))
  EXECUTE FUNCTION jobs_wake_workers();
