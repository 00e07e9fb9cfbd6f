use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use mlp_data::{Cifar10, NUM_CLASSES};
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
    let extracted = mlp_data::download(&args.dir, &mut |done, total| {
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
    })
    .with_context(|| format!("cannot download CIFAR-10 into {}", args.dir.display()))?;
    bar.finish_and_clear();
    println!(
        "CIFAR-10 is ready in {}; pass --data-dir {}",
        extracted.display(),
        args.dir.display()
    );
    Ok(())
}

pub fn info(args: DataInfoArgs) -> anyhow::Result<()> {
    let data = Cifar10::load(&args.data.data_dir)
        .with_context(|| format!("cannot load CIFAR-10 from --data-dir {}", args.data.data_dir.display()))?;
    println!("layout: {} ({})", data.layout, data.dir.display());
    println!("files:");
    for file in &data.files {
        println!(
            "  {:<24} {:>6} records",
            file.path.file_name().unwrap_or_default().to_string_lossy(),
            file.records
        );
    }
    println!("images: {} training, {} test", data.train.len(), data.test.len());
    let names = data.class_names.clone();
    let splits = data.into_splits(args.data.sizes())?;
    println!(
        "\nclass counts (--num-train {} --num-val {} --num-test {}):",
        args.data.num_train, args.data.num_val, args.data.num_test
    );
    println!("  {:<12} {:>7} {:>7} {:>7}", "class", "train", "val", "test");
    let counts = [
        splits.train.class_counts(),
        splits.val.class_counts(),
        splits.test.class_counts(),
    ];
    for class in 0..NUM_CLASSES {
        let name = names.get(class).map_or("?", String::as_str);
        println!(
            "  {:<12} {:>7} {:>7} {:>7}",
            name, counts[0][class], counts[1][class], counts[2][class]
        );
    }
    println!(
        "  {:<12} {:>7} {:>7} {:>7}",
        "total",
        splits.train.len(),
        splits.val.len(),
        splits.test.len()
    );
    Ok(())
}
