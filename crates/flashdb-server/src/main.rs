//! The `flashdb` server binary.

use anyhow::Context;
use clap::Parser;
use flashdb_server::alloc::CountingAlloc;
use flashdb_server::config::{Cli, Config};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() {
    if let Err(e) = run() {
        // The cause chain, on one line, without a backtrace: this is for operators.
        eprintln!("flashdb: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    use flashdb_server::config::Tool;
    match &cli.command {
        Some(Tool::Check {
            dir,
            repair,
            ledger,
        }) => {
            let sound = flashdb_server::check_command(dir, *repair, *ledger)?;
            std::process::exit(if sound { 0 } else { 1 });
        }
        Some(Tool::Backup {
            to,
            host,
            port,
            password,
        }) => return flashdb_server::backup::backup_command(host, *port, password.as_deref(), to),
        Some(Tool::Restore { from, dir }) => {
            return flashdb_server::backup::restore_command(from, dir)
        }
        None => {}
    }
    let config = Config::load(&cli)?;
    flashdb_server::logging::init(&config.log_level, config.log_format == "json");
    let idle_spin = std::time::Duration::from_micros(config.idle_spin_us);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("flashdb-worker")
        // Workers append log records without waking the log writer per record, and wake it
        // once, when they run out of work: one group commit per burst of ready requests.
        .on_thread_start(|| {
            flashdb_storage::defer_wakeups_on_this_thread();
            flashdb_server::persistence::on_worker_busy();
        })
        .on_thread_park(move || flashdb_server::persistence::on_worker_park(idle_spin))
        .on_thread_unpark(flashdb_server::persistence::on_worker_busy)
        .on_thread_stop(flashdb_server::persistence::on_worker_idle)
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(flashdb_server::run(config, cli.config.clone()))
}
