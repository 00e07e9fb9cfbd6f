//! Whether training fits in memory, decided before anything trains: the
//! bytes a command will need, estimated from its networks, batches, groups
//! and `--jobs`, against what this machine (or its cgroup) has free, so that
//! no width, depth, group size or number of jobs ends in an allocation abort
//! or the kernel's OOM killer. The estimate is checked against measured peak
//! resident memory in `docs/performance.md` (within 2× either way).

use std::path::{Path, PathBuf};

use mlp_model::MlpConfig;

use crate::TrainError;
use crate::train::{DeviceMemory, MIN_EVAL_BATCH, PROBE_IMAGES, Placement, TrainData};

const F32: u64 = 4;

/// What the process holds before it trains anything: the binary, Burn's
/// runtime, the thread pools and the plotting fonts. Measured here: 35 MiB
/// at its peak for a study of one softmax classifier on 200 images, the
/// subset's 19 MB of files read on the way.
pub const BASELINE_BYTES: u64 = 32 << 20;

/// Copies of a network's parameters alive at the peak of its training: its
/// weights, their gradients and Adam's two moments, plus the eval-mode model
/// read after every epoch and the best-on-validation one kept beside it (and
/// the Burn model a step engine copies its weights from while it starts).
const PARAMETER_COPIES: u64 = 7;
/// Floats kept per hidden or output unit of one training image: the layer's
/// output, its pre-activation (or BatchNorm's normalised input), the dropout
/// mask, and the backward pass's delta and its scratch copy, with room for
/// autodiff's graph.
const FLOATS_PER_UNIT: u64 = 6;
/// Floats per input pixel of one training image: the batch, normalised, and
/// the gather it is built from.
const FLOATS_PER_PIXEL: u64 = 2;

/// The memory one piece of training needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryNeed {
    /// Bytes of its working set at its peak.
    pub bytes: u64,
    /// Its largest single buffer (a weight matrix, a batch's activations):
    /// what a GPU must hold in one allocation.
    pub largest_buffer: u64,
}

impl MemoryNeed {
    /// Both side by side (one job's groups in flight): bytes add, buffers do not.
    pub fn plus(self, other: MemoryNeed) -> MemoryNeed {
        MemoryNeed {
            bytes: self.bytes.saturating_add(other.bytes),
            largest_buffer: self.largest_buffer.max(other.largest_buffer),
        }
    }

    /// A stacked group's need: its members' bytes, and buffers that hold
    /// one slice per member (`[k, in, out]`).
    pub fn stacked(members: impl IntoIterator<Item = MemoryNeed>) -> MemoryNeed {
        members
            .into_iter()
            .fold(MemoryNeed::default(), |group, member| MemoryNeed {
                bytes: group.bytes.saturating_add(member.bytes),
                largest_buffer: group.largest_buffer.saturating_add(member.largest_buffer),
            })
    }
}

/// Needs side by side (groups in flight at once): bytes add, buffers do not.
impl std::iter::Sum for MemoryNeed {
    fn sum<I: Iterator<Item = MemoryNeed>>(iter: I) -> Self {
        iter.fold(MemoryNeed::default(), MemoryNeed::plus)
    }
}

/// What one network of mlp-model needs while it trains with minibatches of
/// `batch_size` (evaluated in batches of at least [`MIN_EVAL_BATCH`]), with
/// or without the dynamics probe ([`PROBE_IMAGES`] through an autodiff pass
/// after every epoch).
/// A stacked group needs the sum of its members' needs.
pub fn mlp_need(model: &MlpConfig, batch_size: usize, dynamics: bool) -> MemoryNeed {
    let input = model.input as u64;
    let widths: Vec<u64> = std::iter::once(input)
        .chain(model.hidden.iter().map(|&w| w as u64))
        .chain(std::iter::once(model.classes as u64))
        .collect();
    let weights = widths
        .windows(2)
        .map(|w| w[0].saturating_mul(w[1]).saturating_add(w[1]));
    // BatchNorm's scale, shift and two running statistics per hidden unit.
    let batch_norm = if model.batch_norm { 4 } else { 0 };
    let params = weights.fold(0u64, u64::saturating_add) + batch_norm * model.hidden.iter().sum::<usize>() as u64;
    let units: u64 = widths[1..].iter().sum();
    let images = |n: u64, per_unit: u64| n.saturating_mul(FLOATS_PER_PIXEL * input + per_unit.saturating_mul(units));
    let batch = batch_size as u64;
    let eval_batch = batch.max(MIN_EVAL_BATCH as u64);
    let evaluation = images(eval_batch, 2);
    let probe = if dynamics {
        images(PROBE_IMAGES as u64, FLOATS_PER_UNIT)
    } else {
        0
    };
    // The dynamics probe's autodiff pass keeps one more set of gradients.
    let floats = params
        .saturating_mul(PARAMETER_COPIES + u64::from(dynamics))
        .saturating_add(images(batch, FLOATS_PER_UNIT))
        .saturating_add(evaluation.max(probe));
    let widest = widths.iter().copied().max().unwrap_or(0);
    let largest_matrix = widths.windows(2).map(|w| w[0].saturating_mul(w[1])).max().unwrap_or(0);
    MemoryNeed {
        bytes: floats.saturating_mul(F32),
        largest_buffer: largest_matrix
            .max(eval_batch.saturating_mul(widest))
            .saturating_mul(F32),
    }
}

/// What the scratch two-layer network (`input → hidden → classes`) needs
/// while SGD trains it with minibatches of `batch_size`, its accuracy
/// measured in chunks of 1,000 images.
pub fn two_layer_need(input: usize, hidden: usize, classes: usize, batch_size: usize) -> MemoryNeed {
    let model = MlpConfig::new(vec![hidden]).with_input(input).with_classes(classes);
    // No Adam moments and no dynamics probe, but the same order of copies
    // (weights, gradients, the best net kept by a tuning run, the update).
    mlp_need(&model, batch_size.max(1000), false)
}

/// The bytes of `images` CIFAR-10 images held as u8 pixels (3,072 bytes
/// each, plus the label), once on the host, and once more on the device
/// when the splits are uploaded to a GPU that shares the host's memory.
pub fn image_bytes(images: usize) -> u64 {
    (images as u64).saturating_mul(3073)
}

/// The bytes the images of `data` hold: once on the host, and once more on
/// the device when they were uploaded.
pub fn data_bytes(data: &TrainData) -> u64 {
    let images = data.train.len() + data.val.len() + data.test.len();
    let copies = if data.placement() == Placement::Device { 2 } else { 1 };
    image_bytes(images).saturating_mul(copies)
}

/// Memory that is free to use, and where that figure comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub bytes: u64,
    /// `MemAvailable in /proc/meminfo`, `the cgroup limit …`, `MLP_MEMORY_LIMIT`.
    pub source: String,
}

/// The memory this process may use: the least of MemAvailable, its
/// cgroup's limit less what the cgroup already uses (v2 and v1), and
/// `MLP_MEMORY_LIMIT` when set (a cap, e.g. `8G`, for a machine shared with
/// other work). `None` where the system reports nothing (not Linux).
pub fn host_available() -> Result<Option<Available>, TrainError> {
    let mut candidates = Vec::new();
    if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo")
        && let Some(bytes) = parse_meminfo_available(&meminfo)
    {
        candidates.push(Available {
            bytes,
            source: "MemAvailable in /proc/meminfo".to_owned(),
        });
    }
    candidates.extend(cgroup_available(&CGROUP_V2));
    candidates.extend(cgroup_available(&CGROUP_V1));
    if let Some(limit) = std::env::var_os("MLP_MEMORY_LIMIT") {
        let text = limit.to_string_lossy();
        let bytes = parse_size(&text).ok_or_else(|| {
            TrainError::invalid(
                "MLP_MEMORY_LIMIT",
                format!("'{text}' is not a size; write bytes or a number with K, M, G or T (e.g. 8G, 512MiB)"),
            )
        })?;
        candidates.push(Available {
            bytes,
            source: format!("MLP_MEMORY_LIMIT={text}"),
        });
    }
    Ok(candidates.into_iter().min_by_key(|a| a.bytes))
}

/// MemAvailable of `/proc/meminfo` text, in bytes.
pub fn parse_meminfo_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(value * 1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// A size as people write it: bytes, or a number with K, M, G or T (powers
/// of 1024; `B`, `iB` and `b` suffixes allowed): `8G`, `512MiB`, `1.5g`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let scale: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    (number.is_finite() && number >= 0.0).then(|| (number * scale as f64) as u64)
}

/// What a cgroup with `limit` bytes that `used` (of which `reclaimable`
/// is inactive page cache the kernel drops before it kills) leaves free.
fn cgroup_free(limit: u64, used: u64, reclaimable: u64) -> u64 {
    limit.saturating_sub(used.saturating_sub(reclaimable))
}

/// The `key value` line of a cgroup's `memory.stat`.
fn stat_value(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok()).flatten()
    })
}

fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The files of one cgroup version's memory controller.
struct CgroupFiles {
    /// Where the hierarchy is mounted.
    root: &'static str,
    /// What `/proc/self/cgroup` lines of this version start with, before the path.
    prefix: fn(&str) -> Option<&str>,
    limit: &'static str,
    usage: &'static str,
    /// The `memory.stat` key of page cache the kernel drops before it kills.
    inactive_file: &'static str,
}

const CGROUP_V2: CgroupFiles = CgroupFiles {
    root: "/sys/fs/cgroup",
    prefix: |line| line.strip_prefix("0::"),
    limit: "memory.max",
    usage: "memory.current",
    inactive_file: "inactive_file",
};

const CGROUP_V1: CgroupFiles = CgroupFiles {
    root: "/sys/fs/cgroup/memory",
    prefix: |line| {
        let (_, rest) = line.split_once(':')?;
        let (controllers, path) = rest.split_once(':')?;
        controllers.split(',').any(|c| c == "memory").then_some(path)
    },
    limit: "memory.limit_in_bytes",
    usage: "memory.usage_in_bytes",
    inactive_file: "total_inactive_file",
};

/// The tightest memory limit of this process's cgroup and its parents (a
/// limit may be set at any level), less what each level already uses.
fn cgroup_available(files: &CgroupFiles) -> Option<Available> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let relative = cgroups.lines().find_map(files.prefix)?;
    let root = Path::new(files.root);
    let mut dir: PathBuf = root.join(relative.trim_start_matches('/'));
    let mut tightest: Option<Available> = None;
    loop {
        // v2 writes "max" for no limit (it does not parse); v1 a number near 2^63.
        if let (Some(limit), Some(used)) = (read_number(&dir.join(files.limit)), read_number(&dir.join(files.usage)))
            && limit < 1 << 60
        {
            let stat = std::fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
            let free = cgroup_free(limit, used, stat_value(&stat, files.inactive_file).unwrap_or(0));
            if tightest.as_ref().is_none_or(|t| free < t.bytes) {
                tightest = Some(Available {
                    bytes: free,
                    source: format!("the cgroup limit in {} less its use", dir.join(files.limit).display()),
                });
            }
        }
        if dir.as_path() == root || !dir.pop() || !dir.starts_with(root) {
            return tightest;
        }
    }
}

/// Bytes as people read them: `61.3 GiB`, `740 MiB`, `12 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What a command will hold at its peak: the data, and `in_flight` (the
/// groups training at once, largest first), beside the process itself.
#[derive(Debug, Clone)]
pub struct Workload {
    /// `depth-study`, `trainability`, `two-layer train`, `bench`: the error's subject.
    pub command: &'static str,
    /// The images, held once for the whole command.
    pub data_bytes: u64,
    /// The groups that train at the same time at the peak (`--jobs` of
    /// them, the largest), each the sum of its networks' needs.
    pub in_flight: Vec<MemoryNeed>,
    /// The largest single network (a group of one), to tell which flag to change.
    pub largest_network: MemoryNeed,
    /// The flags that make one network smaller (`--width, --widths or --layers`).
    pub size_flags: &'static str,
    /// Whether `--group-size` and `--jobs` apply (jobs) or not (one network).
    pub grouped: bool,
}

impl Workload {
    /// The bytes of the whole workload, the process included.
    pub fn total(&self) -> MemoryNeed {
        let groups: MemoryNeed = self.in_flight.iter().copied().sum();
        groups.plus(MemoryNeed {
            bytes: self.data_bytes.saturating_add(BASELINE_BYTES),
            largest_buffer: 0,
        })
    }

    /// Refuses a workload that does not fit `device` and `host` (the
    /// memory free, if the system says), naming the estimate, what is free
    /// and the flag to change; else returns a line for the progress log
    /// with the estimate and what it was checked against.
    pub fn check(&self, device: DeviceMemory, host: Option<&Available>) -> Result<String, TrainError> {
        let total = self.total();
        let estimate = format!("memory: about {} at the peak", human_bytes(total.bytes));
        if let DeviceMemory::Gpu { max_buffer, .. } = device
            && total.largest_buffer > max_buffer
        {
            let advice = if self.largest_network.largest_buffer > max_buffer || !self.grouped {
                self.shrink_advice()
            } else {
                "lower --group-size (a group's weights are one buffer)".to_owned()
            };
            return Err(TrainError::Memory(format!(
                "{} needs a buffer of about {} on the GPU, more than the {} the adapter allows in one \
                 allocation; {advice}",
                self.command,
                human_bytes(total.largest_buffer),
                human_bytes(max_buffer),
            )));
        }
        let on_host = matches!(
            device,
            DeviceMemory::Host
                | DeviceMemory::Gpu {
                    shared_with_host: true,
                    ..
                }
        );
        let Some(host) = host.filter(|_| on_host) else {
            return Ok(match device {
                DeviceMemory::Host => format!("{estimate}; not checked: this system reports no free memory"),
                DeviceMemory::Gpu { max_buffer, .. } => format!(
                    "{estimate}, its largest buffer {} of the {} the adapter allows (wgpu reports no GPU memory size)",
                    human_bytes(total.largest_buffer),
                    human_bytes(max_buffer)
                ),
                DeviceMemory::Cuda => format!("{estimate}; not checked: the CUDA device's memory is not read before training"),
            });
        };
        if total.bytes <= host.bytes {
            return Ok(format!(
                "{estimate}; {} available ({})",
                human_bytes(host.bytes),
                host.source
            ));
        }
        let fixed = self.data_bytes.saturating_add(BASELINE_BYTES);
        let room = host.bytes.saturating_sub(fixed);
        let groups = self.in_flight.len();
        let largest_group = self.in_flight.first().map_or(0, |g| g.bytes).max(1);
        let advice = if self.largest_network.bytes > room || !self.grouped {
            self.shrink_advice()
        } else if groups > 1 && largest_group <= room {
            format!("lower --jobs (about {} fit)", (room / largest_group).max(1))
        } else {
            format!(
                "lower --group-size (about {} networks of the largest fit)",
                (room / self.largest_network.bytes.max(1)).max(1)
            )
        };
        let in_flight = if self.grouped {
            format!(
                "{groups} group{} in flight, the largest {}",
                if groups == 1 { "" } else { "s" },
                human_bytes(largest_group)
            )
        } else {
            format!("the network {}", human_bytes(largest_group))
        };
        Err(TrainError::Memory(format!(
            "{} needs about {} ({in_flight}; data {}), but {} is available ({}); {advice}",
            self.command,
            human_bytes(total.bytes),
            human_bytes(self.data_bytes),
            human_bytes(host.bytes),
            host.source
        )))
    }

    fn shrink_advice(&self) -> String {
        if self.grouped {
            format!("one network alone is too large: lower {}", self.size_flags)
        } else {
            format!("lower {}", self.size_flags)
        }
    }
}

/// Refuses one network (or one group of them) trained alone, outside a
/// job, that would not fit: see [`Workload::check`].
pub fn check_single(
    command: &'static str,
    need: MemoryNeed,
    data_bytes: u64,
    size_flags: &'static str,
    device: DeviceMemory,
) -> Result<String, TrainError> {
    let workload = Workload {
        command,
        data_bytes,
        in_flight: vec![need],
        largest_network: need,
        size_flags,
        grouped: false,
    };
    workload.check(device, host_available()?.as_ref())
}

/// The `workers` largest of `groups`' needs, largest first: what trains at
/// once at the peak of a job.
pub fn in_flight(mut groups: Vec<MemoryNeed>, workers: usize) -> Vec<MemoryNeed> {
    groups.sort_by(|a, b| b.bytes.cmp(&a.bytes));
    groups.truncate(workers.max(1));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_people_write_them() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("2 TB"), Some(2 << 40));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("8X"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn meminfo_and_cgroup_figures_are_read_in_bytes() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:        20000000 kB\nMemAvailable:   23000000 kB\n";
        assert_eq!(parse_meminfo_available(meminfo), Some(23_000_000 * 1024));
        assert_eq!(parse_meminfo_available("MemTotal: 1 kB\n"), None);
        let stat = "anon 100\nfile 5000\ninactive_file 3000\nactive_file 2000\n";
        assert_eq!(stat_value(stat, "inactive_file"), Some(3000));
        assert_eq!(stat_value(stat, "inactive"), None);
        // Page cache the kernel can drop counts as free.
        assert_eq!(cgroup_free(10_000, 6_000, 3_000), 7_000);
        assert_eq!(cgroup_free(10_000, 12_000, 0), 0);
        // The path of each version's controller in /proc/self/cgroup.
        assert_eq!(
            (CGROUP_V2.prefix)("0::/user.slice/session-1.scope"),
            Some("/user.slice/session-1.scope")
        );
        assert_eq!((CGROUP_V2.prefix)("4:memory:/a"), None);
        assert_eq!(
            (CGROUP_V1.prefix)("4:memory:/process_api/8b94"),
            Some("/process_api/8b94")
        );
        assert_eq!((CGROUP_V1.prefix)("2:cpu,cpuacct:/"), None);
        assert_eq!((CGROUP_V1.prefix)("0::/"), None);
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(61 << 30), "61.0 GiB");
        assert_eq!(human_bytes(740 << 20), "740 MiB");
    }

    /// The parameters dominate a wide deep network: 7 copies of 4 bytes.
    #[test]
    fn a_wide_deep_network_needs_its_parameter_copies() {
        let model = MlpConfig::new(vec![8000; 39]);
        let need = mlp_need(&model, 200, false);
        let params = 3072 * 8000 + 38 * 8000 * 8000 + 8000 * 10 + 39 * 8000 + 10;
        assert!(need.bytes >= params * 4 * PARAMETER_COPIES, "{need:?}");
        assert!(need.bytes < params * 4 * (PARAMETER_COPIES + 1), "{need:?}");
        assert_eq!(need.largest_buffer, 8000 * 8000 * 4);
        // The dynamics probe keeps its own gradients, and its 500 images' activations.
        let probed = mlp_need(&model, 200, true).bytes;
        assert!(
            probed > need.bytes + params * 4 && probed < need.bytes + params * 4 * 2,
            "{probed}"
        );
        // Width 1e8 needs terabytes, without overflowing.
        let huge = mlp_need(&MlpConfig::new(vec![100_000_000; 2]), 200, true);
        assert!(huge.bytes > 1 << 50, "{huge:?}");
    }

    fn workload(in_flight: Vec<u64>, largest_network: u64) -> Workload {
        let need = |bytes| MemoryNeed {
            bytes,
            largest_buffer: bytes / 16,
        };
        Workload {
            command: "the study",
            data_bytes: 1 << 20,
            in_flight: in_flight.into_iter().map(need).collect(),
            largest_network: need(largest_network),
            size_flags: "--width or --layers",
            grouped: true,
        }
    }

    /// The flag named is the one that makes the run fit: the network's size
    /// when one alone is too large, else --jobs, else --group-size.
    #[test]
    fn the_error_names_the_flag_to_change() {
        let host = Available {
            bytes: 1 << 30,
            source: "MemAvailable in /proc/meminfo".to_owned(),
        };
        let fits = workload(vec![100 << 20, 100 << 20], 20 << 20);
        assert_eq!(
            fits.check(DeviceMemory::Host, Some(&host)).unwrap(),
            "memory: about 233 MiB at the peak; 1.0 GiB available (MemAvailable in /proc/meminfo)"
        );
        let message = |w: Workload, device| w.check(device, Some(&host)).unwrap_err().to_string();
        let too_big = message(workload(vec![2 << 30], 2 << 30), DeviceMemory::Host);
        assert!(
            too_big.starts_with("not enough memory: the study needs about 2.0 GiB"),
            "{too_big}"
        );
        assert!(
            too_big.contains("1.0 GiB is available (MemAvailable in /proc/meminfo)")
                && too_big.ends_with("one network alone is too large: lower --width or --layers"),
            "{too_big}"
        );
        assert!(!too_big.contains('\n'), "one line: {too_big}");
        let jobs = message(workload(vec![600 << 20, 600 << 20], 100 << 20), DeviceMemory::Host);
        assert!(jobs.ends_with("lower --jobs (about 1 fit)"), "{jobs}");
        let group = message(workload(vec![1200 << 20], 100 << 20), DeviceMemory::Host);
        assert!(
            group.ends_with("lower --group-size (about 9 networks of the largest fit)"),
            "{group}"
        );
        // A GPU of its own: only the largest buffer is checked.
        let gpu = DeviceMemory::Gpu {
            max_buffer: 256 << 20,
            shared_with_host: false,
        };
        assert_eq!(
            workload(vec![2 << 30], 1 << 20).check(gpu, Some(&host)).unwrap(),
            "memory: about 2.0 GiB at the peak, its largest buffer 128 MiB of the 256 MiB the adapter allows \
             (wgpu reports no GPU memory size)"
        );
        let buffer = message(workload(vec![8 << 30], 8 << 30), gpu);
        assert!(
            buffer.contains("a buffer of about 512 MiB on the GPU, more than the 256 MiB"),
            "{buffer}"
        );
        assert!(
            buffer.ends_with("one network alone is too large: lower --width or --layers"),
            "{buffer}"
        );
        let stacked = message(workload(vec![8 << 30], 1 << 30), gpu);
        assert!(
            stacked.ends_with("lower --group-size (a group's weights are one buffer)"),
            "{stacked}"
        );
        // No figure from the system: nothing to check against.
        let unchecked = workload(vec![1 << 40], 1 << 40)
            .check(DeviceMemory::Host, None)
            .unwrap();
        assert!(
            unchecked.ends_with("not checked: this system reports no free memory"),
            "{unchecked}"
        );
    }
}
