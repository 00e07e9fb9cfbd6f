//! mlp-train's integration tests, one binary (one link of Burn, not one per
//! file), grouped by topic.

mod experiments;
mod train;
mod two_layer_sgd;
