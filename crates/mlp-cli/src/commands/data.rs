use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use mlp_data::{Cifar10, NUM_CLASSES, SplitSizes};
use mlp_train::Progress;

use crate::cli::{DataInfoArgs, DownloadArgs};

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

pub fn info(args: DataInfoArgs) -> anyhow::Result<()> {
    let data = Cifar10::load(&args.data_dir)
        .with_context(|| format!("cannot load CIFAR-10 from --data-dir {}", args.data_dir.display()))?;
    out!("layout: {} ({})", data.layout, data.dir.display());
    out!("files:");
    for file in &data.files {
        out!(
            "  {:<24} {:>6} records",
            file.path.file_name().unwrap_or_default().to_string_lossy(),
            file.records
        );
    }
    let (train_images, test_images) = (data.train.len(), data.test.len());
    out!("images: {train_images} training, {test_images} test");
    let names = data.class_names.clone();
    let class_name = |class: usize| names.get(class).map_or("?", String::as_str).to_owned();
    out!("\nclass counts, all images:");
    print_class_table(
        &["training", "test"],
        &[data.train.class_counts(), data.test.class_counts()],
        &class_name,
    )?;

    let defaults = SplitSizes::default();
    let given = args.num_train.is_some() || args.num_val.is_some() || args.num_test.is_some();
    let sizes = SplitSizes {
        num_train: args.num_train.unwrap_or(defaults.num_train),
        num_val: args.num_val.unwrap_or(defaults.num_val),
        num_test: args.num_test.unwrap_or(defaults.num_test),
    };
    let fits = sizes.num_train + sizes.num_val <= train_images && sizes.num_test <= test_images;
    if !given && !fits {
        // Data smaller than the full set (the bundled subset): say which
        // split flags fit rather than fail on the assignment's defaults.
        let num_val = defaults.num_val.min(train_images / 5);
        out!(
            "\nthe default splits (--num-train {} --num-val {} --num-test {}) do not fit these images; \
             for class counts per split, pass split flags, e.g. --num-train {} --num-val {num_val} --num-test {}",
            defaults.num_train,
            defaults.num_val,
            defaults.num_test,
            train_images - num_val,
            defaults.num_test.min(test_images),
        );
        return Ok(());
    }
    let splits = data.into_splits(sizes)?;
    out!(
        "\nclass counts per split (--num-train {} --num-val {} --num-test {}):",
        sizes.num_train,
        sizes.num_val,
        sizes.num_test
    );
    print_class_table(
        &["train", "val", "test"],
        &[
            splits.train.class_counts(),
            splits.val.class_counts(),
            splits.test.class_counts(),
        ],
        &class_name,
    )
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
