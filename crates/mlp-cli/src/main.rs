//! `mlp-cli`: a thin command-line layer over mlp-data, mlp-model and mlp-train.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};

use clap::Parser;
use mlp_train::StopSignal;

mod cli;
mod commands;
mod cuda;
mod device;
mod kernel_cache;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    kernel_cache::use_user_cache_dir();
    let stop = StopSignal::new();
    // Only jobs that save finished runs stop gracefully; any other command
    // ends at once on Ctrl-C, as usual.
    if cli.command.saves_runs() {
        install_ctrl_c(stop.clone());
    }
    match commands::run(cli, &stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error)
            if error
                .downcast_ref::<commands::StdoutError>()
                .is_some_and(|e| e.is_broken_pipe()) =>
        {
            // Whoever read the output has what they wanted; results on disk are complete.
            ExitCode::SUCCESS
        }
        Err(error) if error.is::<commands::Interrupted>() => {
            eprintln!("{error}");
            ExitCode::from(128 + STOPPED_BY.load(Ordering::SeqCst))
        }
        Err(error) => {
            // `{:#}` prints the whole chain: "what failed: why: root cause".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The signal that stopped the job: SIGINT (2) unless SIGTERM (15) came first.
static STOPPED_BY: AtomicU8 = AtomicU8::new(2);

/// The first Ctrl-C (or SIGTERM, as Slurm sends before a time limit) asks
/// the running job to stop after its current step and save what is finished;
/// a second one quits at once. Either way the exit status is the shell's
/// for that signal, 128 + its number: 130 for SIGINT, 143 for SIGTERM.
fn install_ctrl_c(stop: StopSignal) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(error) => {
            // Without a handler Ctrl-C still ends the process; finished runs are
            // already on disk, so this loses nothing but the farewell message.
            eprintln!("warning: cannot handle Ctrl-C ({error}); it will end the job abruptly");
            return;
        }
    };
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let code = 128 + signal;
            if stop.is_raised() {
                eprintln!("\nstopped at once; runs not saved yet are lost");
                std::process::exit(code);
            }
            STOPPED_BY.store(signal as u8, Ordering::SeqCst);
            stop.raise();
            eprintln!("\nstopping after the current step (Ctrl-C again to quit at once)...");
        }
    });
}
