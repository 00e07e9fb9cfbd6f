use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use mlp_data::{Cifar10, NUM_CLASSES, SplitSizes};
use mlp_train::Progress;
use serde::Serialize;

use crate::cli::{DataInfoArgs, DownloadArgs, InfoFormat};

pub fn download(args: DownloadArgs, progress: Progress) -> anyhow::Result<()> {
    let bar = match progress {
        Progress::Bars => ProgressBar::new(0),
        Progress::Quiet => ProgressBar::hidden(),
    };
    bar.set_style(
        ProgressStyle::with_template("downloading [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    let extracted = mlp_data::download_from(&args.url, &args.md5, &args.dir, &mut |done, total| {
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
    })
    .with_context(|| format!("cannot download CIFAR-10 into --dir {}", args.dir.display()))?;
    bar.finish_and_clear();
    out!(
        "CIFAR-10 is ready in {}; pass --data-dir {}",
        extracted.display(),
        args.dir.display()
    );
    Ok(())
}

/// What `data-info` reports, as `--format json` prints it.
#[derive(Serialize)]
struct DataInfo {
    layout: String,
    dir: PathBuf,
    /// File name and record count of every file read.
    files: Vec<(String, usize)>,
    train_images: usize,
    test_images: usize,
    class_names: Vec<String>,
    /// Per class, over all training and all test images.
    class_counts: ClassCounts,
    /// Per class and split, when the split flags fit the data.
    splits: Option<SplitCounts>,
    /// Split flags that fit, when the assignment's defaults do not.
    suggestion: Option<String>,
}

#[derive(Serialize)]
struct ClassCounts {
    training: [usize; NUM_CLASSES],
    test: [usize; NUM_CLASSES],
}

#[derive(Serialize)]
struct SplitCounts {
    sizes: SplitSizes,
    train: [usize; NUM_CLASSES],
    val: [usize; NUM_CLASSES],
    test: [usize; NUM_CLASSES],
}

pub fn info(args: DataInfoArgs) -> anyhow::Result<()> {
    let data = Cifar10::load(&args.data_dir)
        .with_context(|| format!("cannot load CIFAR-10 from --data-dir {}", args.data_dir.display()))?;
    let mut info = DataInfo {
        layout: data.layout.to_string(),
        dir: data.dir.clone(),
        files: data
            .files
            .iter()
            .map(|file| {
                let name = file.path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                (name, file.records)
            })
            .collect(),
        train_images: data.train.len(),
        test_images: data.test.len(),
        class_names: data.class_names.clone(),
        class_counts: ClassCounts {
            training: data.train.class_counts(),
            test: data.test.class_counts(),
        },
        splits: None,
        suggestion: None,
    };
    let defaults = SplitSizes::default();
    let given = args.num_train.is_some() || args.num_val.is_some() || args.num_test.is_some();
    let sizes = SplitSizes {
        num_train: args.num_train.unwrap_or(defaults.num_train),
        num_val: args.num_val.unwrap_or(defaults.num_val),
        num_test: args.num_test.unwrap_or(defaults.num_test),
    };
    let (train_images, test_images) = (info.train_images, info.test_images);
    let fits = sizes.num_train + sizes.num_val <= train_images && sizes.num_test <= test_images;
    if !given && !fits {
        // Data smaller than the full set (the bundled subset): say which
        // split flags fit rather than fail on the assignment's defaults.
        let num_val = defaults.num_val.min(train_images / 5);
        info.suggestion = Some(format!(
            "--num-train {} --num-val {num_val} --num-test {}",
            train_images - num_val,
            defaults.num_test.min(test_images),
        ));
    } else {
        let splits = data.into_splits(sizes)?;
        info.splits = Some(SplitCounts {
            sizes,
            train: splits.train.class_counts(),
            val: splits.val.class_counts(),
            test: splits.test.class_counts(),
        });
    }
    match args.format {
        InfoFormat::Json => {
            out!(
                "{}",
                serde_json::to_string_pretty(&info).context("the report serialises")?
            );
            Ok(())
        }
        InfoFormat::Text => print_info(&info, &defaults),
    }
}

fn print_info(info: &DataInfo, defaults: &SplitSizes) -> anyhow::Result<()> {
    out!("layout: {} ({})", info.layout, info.dir.display());
    out!("files:");
    for (name, records) in &info.files {
        out!("  {name:<24} {records:>6} records");
    }
    out!("images: {} training, {} test", info.train_images, info.test_images);
    let class_name = |class: usize| info.class_names.get(class).map_or("?", String::as_str).to_owned();
    out!("\nclass counts, all images:");
    print_class_table(
        &["training", "test"],
        &[info.class_counts.training, info.class_counts.test],
        &class_name,
    )?;
    if let Some(suggestion) = &info.suggestion {
        out!(
            "\nthe default splits (--num-train {} --num-val {} --num-test {}) do not fit these images; \
             for class counts per split, pass split flags, e.g. {suggestion}",
            defaults.num_train,
            defaults.num_val,
            defaults.num_test,
        );
    }
    if let Some(splits) = &info.splits {
        out!(
            "\nclass counts per split (--num-train {} --num-val {} --num-test {}):",
            splits.sizes.num_train,
            splits.sizes.num_val,
            splits.sizes.num_test
        );
        print_class_table(
            &["train", "val", "test"],
            &[splits.train, splits.val, splits.test],
            &class_name,
        )?;
    }
    Ok(())
}

/// One row per class and a total row: a column of counts per set.
fn print_class_table(
    columns: &[&str],
    counts: &[[usize; NUM_CLASSES]],
    class_name: &dyn Fn(usize) -> String,
) -> anyhow::Result<()> {
    let row = |name: &str, cells: Vec<String>| {
        let cells: Vec<String> = cells.iter().map(|c| format!("{c:>9}")).collect();
        format!("  {name:<12}{}", cells.join(""))
    };
    out!("{}", row("class", columns.iter().map(|c| c.to_string()).collect()));
    for class in 0..NUM_CLASSES {
        out!(
            "{}",
            row(
                &class_name(class),
                counts.iter().map(|c| c[class].to_string()).collect()
            )
        );
    }
    out!(
        "{}",
        row(
            "total",
            counts.iter().map(|c| c.iter().sum::<usize>().to_string()).collect()
        )
    );
    Ok(())
}
