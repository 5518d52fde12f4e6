//! Wakes this process's idle workers the moment any instance commits a job. A thread of its
//! own holds one connection outside the pool, `LISTEN`s on the queue's channel (a trigger on
//! `jobs` NOTIFYs it) and sleeps on the socket until something arrives.
//!
//! diesel reads notifications only once they are there (`notifications_iter` never waits), so
//! this talks to libpq (pq-sys, which diesel links already) to wait on the socket. The poll
//! stays the fallback: while this connection is down the workers still look every
//! `jobs.poll_ms`, and on every (re)connect it wakes them once for what it may have missed.

use std::ffi::{CStr, CString, c_char};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::jobs::queue::WAKE_CHANNEL;

/// How the listener's connection shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "wasit-jobs-listener";
/// Pause between attempts to (re)connect.
const RECONNECT: Duration = Duration::from_secs(1);
/// A connection quiet for this long is asked `SELECT 1`, so a dead one is noticed.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Starts the listener thread for `database_url`. It ends once every holder of `wake` is
/// gone (the process's workers and state).
pub fn spawn(database_url: &str, wake: &Arc<Notify>) -> std::io::Result<()> {
    let url = CString::new(database_url)
        .map_err(|_| std::io::Error::other("the database URL holds a NUL byte"))?;
    let wake = Arc::downgrade(wake);
    std::thread::Builder::new()
        .name("jobs-listener".into())
        .spawn(move || listen(&url, &wake))
        .map(drop)
}

fn listen(url: &CStr, wake: &Weak<Notify>) {
    loop {
        let lost = Listening::open(url).and_then(|connection| {
            // Jobs committed while nobody listened: one look now.
            wake_workers(wake).ok_or(Lost::Stopped)?;
            connection.wait(wake)
        });
        match lost {
            Err(Lost::Stopped) => return,
            Err(Lost::Connection(error)) => {
                tracing::warn!(%error, "job listener lost its connection; workers poll until it is back");
            }
            Ok(never) => match never {},
        }
        if wake.strong_count() == 0 {
            return;
        }
        std::thread::sleep(RECONNECT);
    }
}

/// Wakes the idle workers; `None` once nobody is left to wake.
fn wake_workers(wake: &Weak<Notify>) -> Option<()> {
    wake.upgrade().map(|wake| wake.notify_waiters())
}

enum Lost {
    Connection(String),
    Stopped,
}

enum Never {}

/// A libpq connection that has run `LISTEN`; closed on drop.
struct Listening(*mut pq_sys::PGconn);

impl Drop for Listening {
    fn drop(&mut self) {
        // SAFETY: the pointer came from PQconnectdbParams and is finished exactly once.
        unsafe { pq_sys::PQfinish(self.0) }
    }
}

impl Listening {
    fn open(url: &CStr) -> Result<Self, Lost> {
        let keywords = [
            c"dbname".as_ptr(),
            c"application_name".as_ptr(),
            std::ptr::null(),
        ];
        let name = CString::new(APPLICATION_NAME).expect("no NUL");
        let values = [url.as_ptr(), name.as_ptr(), std::ptr::null()];
        // SAFETY: both arrays are NULL-terminated and outlive the call; expand_dbname = 1
        // reads `dbname` as the whole URL, as diesel does, and the other keys as given.
        let connection =
            Self(unsafe { pq_sys::PQconnectdbParams(keywords.as_ptr(), values.as_ptr(), 1) });
        // SAFETY: PQstatus accepts any pointer PQconnectdbParams returned (even NULL).
        if unsafe { pq_sys::PQstatus(connection.0) } != pq_sys::ConnStatusType::CONNECTION_OK {
            return Err(connection.lost());
        }
        connection.command(&format!("LISTEN {WAKE_CHANNEL}"))?;
        Ok(connection)
    }

    /// Runs a statement that returns no rows.
    fn command(&self, sql: &str) -> Result<(), Lost> {
        let sql = CString::new(sql).expect("no NUL");
        // SAFETY: a live connection and a NUL-terminated statement; the result is cleared.
        let ok = unsafe {
            let result = pq_sys::PQexec(self.0, sql.as_ptr());
            let status = pq_sys::PQresultStatus(result);
            pq_sys::PQclear(result);
            matches!(
                status,
                pq_sys::ExecStatusType::PGRES_COMMAND_OK | pq_sys::ExecStatusType::PGRES_TUPLES_OK
            )
        };
        if ok { Ok(()) } else { Err(self.lost()) }
    }

    /// Sleeps on the socket and wakes the workers whenever notifications arrive; returns only
    /// when the connection fails or nobody is left to wake.
    fn wait(&self, wake: &Weak<Notify>) -> Result<Never, Lost> {
        loop {
            // SAFETY: a live connection.
            let socket = unsafe { pq_sys::PQsocket(self.0) };
            if socket < 0 {
                return Err(self.lost());
            }
            let mut ready = libc::pollfd {
                fd: socket,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let polled = unsafe { libc::poll(&mut ready, 1, HEARTBEAT.as_millis() as i32) };
            if polled < 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Lost::Connection(error.to_string()));
            }
            if polled == 0 {
                wake.upgrade().ok_or(Lost::Stopped)?;
                self.command("SELECT 1")?;
            // SAFETY: a live connection; reads what the socket holds without blocking.
            } else if unsafe { pq_sys::PQconsumeInput(self.0) } == 0 {
                return Err(self.lost());
            }
            if self.take_notifications() > 0 {
                wake_workers(wake).ok_or(Lost::Stopped)?;
            }
        }
    }

    /// Frees every notification read so far; returns how many there were.
    fn take_notifications(&self) -> usize {
        let mut count = 0;
        loop {
            // SAFETY: a live connection; each notification is freed once, as libpq asks.
            let notification = unsafe { pq_sys::PQnotifies(self.0) };
            if notification.is_null() {
                return count;
            }
            unsafe { pq_sys::PQfreemem(notification.cast()) };
            count += 1;
        }
    }

    /// The connection's last error.
    fn lost(&self) -> Lost {
        // SAFETY: PQerrorMessage returns a NUL-terminated string owned by the connection
        // (an empty one for NULL), copied here before anything else touches it.
        let message: *const c_char = unsafe { pq_sys::PQerrorMessage(self.0) };
        let text = if message.is_null() {
            "out of memory".to_owned()
        } else {
            unsafe { CStr::from_ptr(message) }
                .to_string_lossy()
                .trim()
                .to_owned()
        };
        Lost::Connection(text)
    }
}
