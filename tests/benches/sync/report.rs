//! The table of figures.

use std::path::Path;
use std::time::Duration;

pub(crate) struct Row {
    pub(crate) bench: &'static str,
    pub(crate) what: String,
    pub(crate) value: String,
    pub(crate) baseline: String,
    pub(crate) ratio: String,
    pub(crate) goal: &'static str,
}

pub(crate) fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub(crate) fn per_s(x: f64) -> String {
    format!("{x:.0} /s")
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn fresh_sled(dir: &Path) -> sled::Db {
    sled::open(dir).expect("sled")
}

pub(crate) fn print(rows: &[Row], total: Duration) {
    let widths = rows.iter().fold([5, 4, 5, 8, 5, 4], |w, r| {
        [
            w[0].max(r.bench.len()),
            w[1].max(r.what.chars().count()),
            w[2].max(r.value.len()),
            w[3].max(r.baseline.len()),
            w[4].max(r.ratio.len()),
            w[5].max(r.goal.len()),
        ]
    });
    let line = |c: [&str; 6]| {
        println!(
            "| {:<w0$} | {:<w1$} | {:>w2$} | {:>w3$} | {:>w4$} | {:<w5$} |",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
            w5 = widths[5]
        );
    };
    println!();
    line(["bench", "what", "value", "baseline", "ratio", "goal"]);
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line([
        &dashes[0], &dashes[1], &dashes[2], &dashes[3], &dashes[4], &dashes[5],
    ]);
    for r in rows {
        line([r.bench, &r.what, &r.value, &r.baseline, &r.ratio, r.goal]);
    }
    println!("\ntotal bench time {:.1} s", total.as_secs_f64());
}
