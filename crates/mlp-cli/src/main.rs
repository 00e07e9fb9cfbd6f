//! `mlp-cli`: a thin command-line layer over mlp-data, mlp-model and mlp-train.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;
mod device;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain: "what failed: why: root cause".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
