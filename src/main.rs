//! The `wasit` command: `serve`, `migrate`, `create-user`, `zatca onboard`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};
use secrecy::ExposeSecret;

use wasit::auth::Role;
use wasit::auth::model::NewAccount;
use wasit::auth::password::Passwords;
use wasit::auth::routes::check_password;
use wasit::auth::service::create_or_reset_user;
use wasit::billing::invoices::zatca::onboard;
use wasit::config::Settings;
use wasit::domain::{Email, Locale};
use wasit::startup::Application;
use wasit::{db, telemetry};

#[derive(Parser)]
#[command(name = "wasit", version, about = "Booking and reservation broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API, with job workers and the schedule (checks migrations first).
    Serve,
    /// Run job workers and the schedule only, without the HTTP API (to scale jobs out).
    Worker,
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Load demo providers, units and 60 days of availability into an empty database.
    SeedDemo,
    /// Create an account of any role (the first admin, agents, provider logins).
    CreateUser(CreateUserArgs),
    /// ZATCA phase 2 e-invoicing.
    Zatca {
        #[command(subcommand)]
        command: ZatcaCommand,
    },
}

#[derive(Subcommand)]
enum ZatcaCommand {
    /// Generate this unit's private key and the CSR to submit to ZATCA (the first onboarding
    /// step); the fields default to the configured seller (`invoices.*`).
    Onboard(OnboardArgs),
}

#[derive(clap::Args)]
struct OnboardArgs {
    /// The ZATCA platform the certificate is for: production, simulation or sandbox.
    #[arg(long, value_parser = parse_environment)]
    environment: onboard::Environment,
    /// UID: the VAT registration number [default: invoices.vat_number].
    #[arg(long)]
    vat_number: Option<String>,
    /// CN: this unit's name [default: Wasit-<VAT number>].
    #[arg(long)]
    common_name: Option<String>,
    /// O: the taxpayer's name [default: invoices.seller_name_en].
    #[arg(long)]
    organization: Option<String>,
    /// OU: the branch; for a VAT group member, its 10-digit TIN [default: invoices.seller_name_en].
    #[arg(long)]
    organization_unit: Option<String>,
    /// registeredAddress: where the unit is [default: invoices.address_en].
    #[arg(long)]
    address: Option<String>,
    /// businessCategory: the industry [default: Booking and reservation services].
    #[arg(long)]
    business_category: Option<String>,
    /// title: 0100 simplified invoices only (what Wasit issues), 1000 standard, 1100 both
    /// [default: 0100].
    #[arg(long)]
    invoice_types: Option<String>,
    /// The unit's serial in SN (1-Wasit|2-<version>|3-<uuid>) [default: a new one]; give the
    /// old one when a unit makes a new key.
    #[arg(long)]
    egs_uuid: Option<uuid::Uuid>,
    /// Where to write private-key.pem and csr.pem.
    #[arg(long, default_value = ".data/zatca")]
    out: PathBuf,
    /// Replace an existing private key (a certificate issued for it stops matching).
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
struct CreateUserArgs {
    #[arg(long)]
    email: String,
    #[arg(long, value_parser = parse_role)]
    role: Role,
    #[arg(long, default_value = "Administrator")]
    name: String,
    #[arg(long, value_parser = parse_locale, default_value = "ar")]
    locale: Locale,
    /// Read the password from standard input; otherwise a random one is generated and printed.
    #[arg(long)]
    password_stdin: bool,
    /// If the account exists, set this password and role instead of failing.
    #[arg(long)]
    reset_password: bool,
}

fn parse_role(value: &str) -> Result<Role, String> {
    value.parse()
}

fn parse_locale(value: &str) -> Result<Locale, String> {
    value.parse()
}

fn parse_environment(value: &str) -> Result<onboard::Environment, String> {
    value.parse()
}

/// glibc raises its mmap threshold to the size of the largest block freed, so after the
/// first 19 MiB argon2 block every later one came from a heap arena and stayed resident
/// (the benchmark saw ~1 GiB after a burst of sign-ins). A fixed threshold turns that off:
/// large blocks are mmapped and given back when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_malloc_threshold() {
    // SAFETY: mallopt only changes allocator settings; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_malloc_threshold() {}

/// With RUST_BACKTRACE set (for panics), anyhow would capture a backtrace with every error,
/// and logging one resolves it, loading the binary's debug info for good. Our errors are
/// answers (each 503 of a sign-up flood is one), not crashes. Measured on a flood of 200
/// clients (a build with symbols): 1,320 503s a second with them, 4,870 without, and a peak
/// RSS of 97 MiB against 52. Panics keep their traces.
fn no_backtraces_for_errors() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: the first thing main does, before any thread starts.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

fn main() -> ExitCode {
    no_backtraces_for_errors();
    fix_malloc_threshold();
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok((settings, _)) => settings,
        Err(error) => {
            eprintln!("wasit: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let result = match cli.command {
        Command::Serve => serve(settings),
        Command::Worker => worker(settings),
        Command::Migrate => migrate(&settings),
        Command::SeedDemo => seed_demo(&settings),
        Command::CreateUser(args) => create_user(&settings, args),
        Command::Zatca {
            command: ZatcaCommand::Onboard(args),
        } => zatca_onboard(&settings, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = ?error, "wasit failed");
            eprintln!("wasit: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_schema(settings: &Settings) -> anyhow::Result<()> {
    match PgConnection::establish(settings.database.url.expose_secret()) {
        Ok(mut conn) => {
            if db::has_pending_migrations(&mut conn)? {
                anyhow::bail!(
                    "the database schema is behind this build: run `wasit migrate` first"
                );
            }
        }
        // Start anyway: /health/ready reports 503 until the database is back.
        Err(error) => tracing::warn!(%error, "database unreachable at start-up"),
    }
    Ok(())
}

/// Workers and the cron schedule beside whatever else this process runs.
async fn start_jobs(
    settings: &Settings,
    state: &wasit::state::AppState,
) -> anyhow::Result<tokio_cron_scheduler::JobScheduler> {
    let worker = wasit::worker::Worker::for_state(state, &settings.jobs);
    wasit::worker::spawn_workers(
        &worker,
        settings.jobs.workers,
        settings.database.url.expose_secret(),
    );
    wasit::worker::schedule::start(state.pool.clone(), settings, worker.wake.clone()).await
}

fn worker(settings: Settings) -> anyhow::Result<()> {
    check_schema(&settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let state = wasit::state::AppState::new(&settings, db::build_pool(&settings.database))?;
        let _schedule = start_jobs(&settings, &state).await?;
        tracing::info!(workers = settings.jobs.workers, "wasit worker running");
        // A job cut short here is safe: its lease runs out and another worker takes it.
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("wasit worker stopped");
        Ok(())
    })
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    check_schema(&settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = Application::build(&settings)?;
        // Job workers and the schedule run beside the API (tests drive jobs themselves).
        let _schedule = start_jobs(&settings, &app.state()).await?;
        tracing::info!(
            host = %settings.server.host,
            port = app.port(),
            "wasit listening"
        );
        app.run_until_stopped().await?;
        tracing::info!("wasit stopped");
        Ok(())
    })
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database.url.expose_secret();
    if db::create_database_if_missing(url)? {
        tracing::info!("created the database");
    }
    let mut conn = PgConnection::establish(url)?;
    let applied = db::run_migrations(&mut conn)?;
    tracing::info!(count = applied.len(), versions = ?applied, "migrations applied");
    Ok(())
}

fn seed_demo(settings: &Settings) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(settings.database.url.expose_secret())?;
    match wasit::providers::demo::seed(&mut conn, chrono::Utc::now().date_naive())? {
        Some((providers, units, cells)) => {
            println!("seeded {providers} providers, {units} units, {cells} nights and slots")
        }
        None => println!("providers already exist: demo data not loaded"),
    }
    Ok(())
}

fn create_user(settings: &Settings, args: CreateUserArgs) -> anyhow::Result<()> {
    let CreateUserArgs {
        email,
        role,
        name,
        locale,
        password_stdin,
        reset_password,
    } = args;
    let email = Email::parse(&email).map_err(|reason| anyhow::anyhow!("--email {reason}"))?;
    let (password, generated) = if password_stdin {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        (input.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        let mut bytes = [0u8; 15];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        (
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
            true,
        )
    };
    check_password(&password, settings.auth.password_min_length)
        .map_err(|reason| anyhow::anyhow!("the password {reason}"))?;
    let full_name = wasit::domain::text::name(&name, 200)
        .map_err(|reason| anyhow::anyhow!("the name {reason}"))?;
    let account = NewAccount {
        email,
        password,
        full_name,
        phone: None,
        locale,
        role,
        provider_id: None,
    };
    let passwords = Passwords::new(&settings.auth.argon2)?;
    let mut conn = PgConnection::establish(settings.database.url.expose_secret())?;
    let (user, created) = create_or_reset_user(&mut conn, &passwords, &account, reset_password)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let verb = if created { "created" } else { "updated" };
    println!("{verb} {} {} ({})", user.role, user.email, user.id);
    if generated {
        println!("password: {}", account.password);
    }
    Ok(())
}

fn zatca_onboard(settings: &Settings, args: OnboardArgs) -> anyhow::Result<()> {
    let overrides = onboard::Overrides {
        vat_number: args.vat_number,
        common_name: args.common_name,
        organization: args.organization,
        organization_unit: args.organization_unit,
        address: args.address,
        business_category: args.business_category,
        invoice_types: args.invoice_types,
        egs_uuid: args.egs_uuid,
    };
    let fields = onboard::CsrFields::new(&settings.invoices, overrides)?;
    let written = onboard::onboard(&args.out, &fields, args.environment, args.force)?;
    println!(
        "wrote {} (mode 0600: keep it secret and out of the repository)",
        written.private_key.display()
    );
    println!("wrote {}", written.csr.display());
    println!("EGS serial number (SN): {}", fields.egs_serial);
    println!(
        "\nCSR for ZATCA's compliance CSID API (base64 of csr.pem):\n{}",
        written.csr_base64
    );
    println!(
        "\nNext steps:\n\
         1. In the Fatoora portal, onboard a new solution unit and generate an OTP.\n\
         2. POST {{\"csr\": \"<the base64 above>\"}} to {api}/compliance with headers OTP: <otp> and\n   \
            Accept-Version: V2. The answer's binarySecurityToken and secret are the compliance CSID.\n\
         3. Pass the compliance checks: sample documents to {api}/compliance/invoices, authenticated\n   \
            with the compliance CSID.\n\
         4. POST {{\"compliance_request_id\": \"<requestID>\"}} to {api}/production/csids with the\n   \
            compliance CSID: the answer is the production CSID.\n\
         5. Save its binarySecurityToken to a file beside {key} and configure the stamp with the two\n   \
            files, and the API credentials with the token and its secret (README, \"ZATCA\").",
        api = args.environment.api_base(),
        key = written.private_key.display(),
    );
    Ok(())
}
