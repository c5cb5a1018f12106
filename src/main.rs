//! `sesame`: parse the command line, load configuration, start tracing, dispatch.

use std::process::ExitCode;

use clap::Parser;
use sesame::cli::{Cli, Command};
use sesame::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, unknown) = match Config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("sesame: {e}");
            return ExitCode::from(1);
        }
    };
    let is_serve = matches!(cli.command, Command::Serve);
    init_tracing(&config, is_serve);
    for name in unknown {
        tracing::warn!("ignoring unknown environment variable {name}: not a sesame setting");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sesame: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        if is_serve {
            serve(config).await
        } else {
            let ctx = sesame::open(config).await?;
            sesame::cli::run(&ctx, cli.command).await
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sesame: {}", sesame::cli::error_line(&e));
            ExitCode::from(1)
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind.clone();
    tracing::info!(database = %config.database_url_for_log(), base_url = %config.base_url, "starting sesame");
    let server = sesame::build(config).await?;
    // The first start without any administrator creates one and shows its password here, once.
    if let Some(password) = sesame::services::admins::ensure_first_admin(&server.ctx, chrono::Utc::now()).await? {
        tracing::warn!("created the first administrator \"admin\"; its password is printed once on standard output");
        println!(
            "Created the first administrator: username admin, password {password}\n\
             This password is shown once and never again. Sign in at /admin/login and keep it safe, or add your \
             own administrator with `sesame admin add USERNAME --password-stdin`."
        );
    }
    let housekeeping = sesame::spawn_housekeeping(&server);
    let provisioning = sesame::spawn_provisioning(&server);
    let mail = sesame::spawn_mail(&server);
    let listener =
        tokio::net::TcpListener::bind(&bind).await.map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
    tracing::info!("listening on http://{bind}");
    // Requests in flight finish (each is bounded by the router's timeout); then the clean-up task and the pools
    // stop, so every connection ends cleanly and nothing is left half written.
    // The peer address feeds sign-in throttling (web::client).
    let app = server.router.clone().into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
    housekeeping.stop().await;
    provisioning.stop().await;
    mail.stop().await;
    server.close().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn init_tracing(config: &Config, is_serve: bool) {
    let default = if is_serve { "info,sqlx=warn,tower_http=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SESAME_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
