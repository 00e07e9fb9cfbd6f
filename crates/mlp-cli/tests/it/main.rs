//! The mlp-cli binary as a user meets it, one test binary (one link, not one
//! per file), grouped by topic: bad input (`cli`), clap's conventions
//! (`conventions`), the data commands (`data_commands`), training and bench
//! (`training`), the trainability map (`trainability`), long jobs (`jobs`), the
//! memory check before training (`memory`), the GPU path (`gpu`) and what the
//! two-layer commands write (`two_layer_outputs`).

mod cli;
mod common;
mod conventions;
mod data_commands;
mod gpu;
mod jobs;
mod memory;
mod trainability;
mod training;
mod two_layer_outputs;
