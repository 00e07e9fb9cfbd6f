//! Training one network, or the units of a job, with [`train_group`]; and
//! which units of a job train together.

use mlp_model::MlpConfig;

use super::config::TrainConfig;
use super::data::TrainData;
use super::group::train_group;
use super::outcome::{GroupMember, RunControl, RunOutcome};
use super::target::Target;
use crate::TrainError;

/// Trains `model_config` with `recipe` on `data`, on the target's device
/// with its engine (the autodiff engine tracks gradients on the device's
/// autodiff form). `seed` seeds the weights, dropout and the per-epoch
/// shuffles. Returns [`TrainError::Stopped`] within one step of
/// `control.stop` being raised.
pub fn train_mlp(
    model_config: &MlpConfig,
    recipe: &TrainConfig,
    seed: u64,
    data: &TrainData,
    target: &Target,
    control: RunControl,
) -> Result<RunOutcome, TrainError> {
    let member = GroupMember {
        model: model_config,
        recipe,
        seed,
        label: control.label,
    };
    let mut outcomes = train_group(&[member], data, target, control)?;
    Ok(outcomes.pop().expect("one outcome per member"))
}

/// `runs` (trained with `recipe`) split into the groups the target trains
/// together, in order, `group_size` at most per group: each run joins the
/// first group whose first network ([`network_of`]: its model and seed)
/// the engine trains with its own ([`super::Engine::trains_together`]: the same
/// shapes on the stacked engine, the same seed on the fused one); on
/// autodiff every run is alone.
pub fn job_groups<U: Copy>(
    runs: &[U],
    group_size: usize,
    target: &Target,
    recipe: &TrainConfig,
    network_of: impl Fn(U) -> Option<(MlpConfig, u64)>,
) -> Vec<Vec<U>> {
    type Group<U> = (Option<(MlpConfig, u64)>, Vec<U>);
    let mut groups: Vec<Group<U>> = Vec::new();
    for &run in runs {
        let network = network_of(run);
        // A run without a model (an invalid one) stays alone, and fails when it trains.
        let joins = |(first, group): &Group<U>| {
            group.len() < group_size.min(target.engine.max_group())
                && matches!((first, &network), (Some(first), Some(network))
                    if target.engine.trains_together((&first.0, first.1), (&network.0, network.1), recipe))
        };
        match groups.iter_mut().find(|group| joins(group)) {
            Some((_, group)) => group.push(run),
            None => groups.push((network, vec![run])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// [`train_group`] for the units of a job: `runs` (a network and its seed
/// each, labelled `labels`) with one recipe; the group's progress bar is
/// named after its first run.
pub fn train_job_group(
    runs: &[(MlpConfig, u64)],
    recipe: &TrainConfig,
    labels: &[String],
    data: &TrainData,
    target: &Target,
    control: RunControl,
) -> Result<Vec<RunOutcome>, TrainError> {
    let members: Vec<GroupMember> = runs
        .iter()
        .zip(labels)
        .map(|((model, seed), label)| GroupMember {
            model,
            recipe,
            seed: *seed,
            label,
        })
        .collect();
    let label = format!("{} (+{} in its group)", labels[0], runs.len() - 1);
    train_group(
        &members,
        data,
        target,
        RunControl {
            label: &label,
            ..control
        },
    )
}
