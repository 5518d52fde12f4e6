//! The process's Prometheus registry: counters and histograms recorded where things happen
//! (the request middleware, the search, the webhook and mail senders). `ops::scrape` serves
//! them on `GET /metrics`, with what the database already knows counted when scraped.

use std::sync::LazyLock;

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// The process's instruments, in their own registry.
pub struct Metrics {
    pub(crate) registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    provider_seconds: HistogramVec,
    provider_failures: IntCounterVec,
    search_answers: IntCounterVec,
    search_cache_bytes: IntGauge,
    replica_lag_seconds: Gauge,
    webhook_deliveries: IntCounterVec,
    emails_sent: IntCounter,
    smtp_failures: IntCounter,
}

pub(crate) fn register<T: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: T,
) -> T {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

/// Request and provider latencies: from a millisecond to the longest provider timeout.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new_custom(Some("wasit".into()), None).expect("registry");
    let histogram =
        |name: &str, help: &str| HistogramOpts::new(name, help).buckets(BUCKETS.to_vec());
    Metrics {
        http_requests: register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "http_requests_total",
                    "HTTP requests by route pattern and status",
                ),
                &["method", "route", "status"],
            )
            .expect("metric"),
        ),
        http_seconds: register(
            &registry,
            HistogramVec::new(
                histogram("http_request_duration_seconds", "HTTP request latency"),
                &["method", "route", "status"],
            )
            .expect("metric"),
        ),
        provider_seconds: register(
            &registry,
            HistogramVec::new(
                histogram(
                    "provider_search_duration_seconds",
                    "Provider search latency",
                ),
                &["provider", "adapter"],
            )
            .expect("metric"),
        ),
        provider_failures: register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "provider_search_failures_total",
                    "Provider searches that failed",
                ),
                &["provider", "adapter", "kind"],
            )
            .expect("metric"),
        ),
        search_answers: register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "search_answers_total",
                    "Searches answered from the answer cache or by asking the providers",
                ),
                &["source"],
            )
            .expect("metric"),
        ),
        search_cache_bytes: register(
            &registry,
            IntGauge::new(
                "search_cache_bytes",
                "Bytes of kept search answers, keys included (at most search.cache_budget_bytes)",
            )
            .expect("metric"),
        ),
        replica_lag_seconds: register(
            &registry,
            Gauge::new(
                "replica_lag_seconds",
                "How far the read replica (database.replica_url) is behind; -1 while it does not answer",
            )
            .expect("metric"),
        ),
        webhook_deliveries: register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "webhook_deliveries_total",
                    "Webhook delivery attempts by outcome",
                ),
                &["outcome"],
            )
            .expect("metric"),
        ),
        emails_sent: register(
            &registry,
            IntCounter::new("emails_sent_total", "Emails accepted by the mail server")
                .expect("metric"),
        ),
        smtp_failures: register(
            &registry,
            IntCounter::new(
                "smtp_failures_total",
                "Emails the mail server did not accept",
            )
            .expect("metric"),
        ),
        registry,
    }
});

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method_label(method), route, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_seconds
            .with_label_values(&labels)
            .observe(seconds);
    }

    /// One provider's part of a search; `failure` is `timeout` or `error` when it failed.
    pub fn observe_provider(
        &self,
        provider: &str,
        adapter: &str,
        seconds: f64,
        failure: Option<&str>,
    ) {
        self.provider_seconds
            .with_label_values(&[provider, adapter])
            .observe(seconds);
        if let Some(kind) = failure {
            self.provider_failures
                .with_label_values(&[provider, adapter, kind])
                .inc();
        }
    }

    /// `cache` or `providers`.
    pub fn search_answer(&self, source: &str) {
        self.search_answers.with_label_values(&[source]).inc();
    }

    pub fn search_cache_bytes(&self, bytes: usize) {
        self.search_cache_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The replica's last measured lag; `None` while it does not answer.
    pub fn replica_lag(&self, lag: Option<std::time::Duration>) {
        self.replica_lag_seconds
            .set(lag.map_or(-1.0, |lag| lag.as_secs_f64()));
    }

    /// `delivered`, `failed` or `gone`.
    pub fn webhook_delivery(&self, outcome: &str) {
        self.webhook_deliveries.with_label_values(&[outcome]).inc();
    }

    pub fn email(&self, accepted: bool) {
        if accepted {
            self.emails_sent.inc();
        } else {
            self.smtp_failures.inc();
        }
    }
}

/// A request's method as a label from a fixed set: any caller can send `ANYWORD`, and each
/// new label value would be a series kept for the life of the process.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(super::method_label("PATCH"), "PATCH");
        assert_eq!(super::method_label("ANYWORD"), "other");
        assert_eq!(super::method_label("get"), "other");
    }
}
