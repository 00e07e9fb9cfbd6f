//! Where CubeCL keeps what it learns about a GPU (compiled kernels, autotune
//! results): in the user's cache directory (`~/.cache/cubecl` on Linux), for
//! every run of the binary wherever it is started.
//!
//! CubeCL's own default is `target/environment` under the outermost
//! `Cargo.toml` above the working directory. For a command-line tool that
//! scatters caches: a run started inside some other Rust project writes into
//! that project's `target/`, and every fresh checkout (each CI clone) starts
//! cold. Cold costs: the short GPU study of the test suite took 122 s on Mesa's
//! software adapter with an empty cache against 60 s with a warm one.
//!
//! A `cubecl.toml` (or `burn.toml` with a `[cubecl]` section) in the working
//! directory or a parent still wins: then CubeCL reads it as usual.

use burn::cubecl::config::cache::CacheConfig;
use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};

/// The files CubeCL reads its configuration from, in each directory from
/// the working directory up.
const CONFIG_FILES: [&str; 4] = ["cubecl.toml", "CubeCL.toml", "burn.toml", "Burn.toml"];

/// Sets CubeCL's cache to the user's cache directory, unless a configuration
/// file would set it; call before any GPU device opens.
pub fn use_user_cache_dir() {
    if user_config_file().is_some() {
        return;
    }
    let mut config = CubeClRuntimeConfig::default();
    config.environment.path = CacheConfig::Global;
    // CUBECL_* variables (autotune level, debug log, ...) still apply.
    let config = config.override_from_env();
    // Only fails if CubeCL's configuration was already read, which nothing
    // before this call does; then its own default stays, harmlessly.
    let _ = CubeClRuntimeConfig::try_set(config);
}

/// The CubeCL configuration file the working directory or a parent holds.
fn user_config_file() -> Option<std::path::PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        if let Some(file) = CONFIG_FILES.iter().map(|name| dir.join(name)).find(|f| f.is_file()) {
            return Some(file);
        }
        if !dir.pop() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a configuration file above the working directory (the test
    /// runs in the crate's folder; the workspace has none), the binary's
    /// CubeCL caches in the user's cache directory.
    #[test]
    fn kernels_are_cached_in_the_user_cache_directory() {
        if let Some(file) = user_config_file() {
            // A user's own configuration decides, and this test has nothing to check.
            eprintln!(
                "{} configures CubeCL here; the binary leaves its cache where it says",
                file.display()
            );
            return;
        }
        use_user_cache_dir();
        let config = CubeClRuntimeConfig::get();
        assert!(
            matches!(config.environment.path, CacheConfig::Global),
            "{:?}",
            config.environment.path
        );
        assert!(
            CacheConfig::Global.root().ends_with("cubecl"),
            "{:?}",
            CacheConfig::Global.root()
        );
    }
}
