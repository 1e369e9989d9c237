//! How many 12-megapixel photos a second the server checks and thumbnails on this machine:
//! a 4000 x 3000 JPEG made here, then [`natter::files::inspect_image`] (decode with limits,
//! metadata stripped, thumbnail of 480 pixels encoded) on one thread, and on every core at
//! once as the server's decoding slots allow. `scripts/bench thumbnails` runs it.

#![expect(
    clippy::print_stdout,
    reason = "the figures are what this program prints"
)]
use image::{DynamicImage, ImageFormat, RgbImage};
use std::io::Cursor;
use std::time::Instant;

const ROUNDS: usize = 12;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let photo = DynamicImage::ImageRgb8(RgbImage::from_fn(4000, 3000, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x ^ y) % 239) as u8])
    }));
    let mut jpeg = Cursor::new(Vec::new());
    photo.write_to(&mut jpeg, ImageFormat::Jpeg)?;
    let jpeg = jpeg.into_inner();
    println!("a 4000 x 3000 JPEG of {:.1} MB", jpeg.len() as f64 / 1e6);

    let started = Instant::now();
    for _ in 0..ROUNDS {
        natter::files::inspect_image(&jpeg, ImageFormat::Jpeg).map_err(|e| e.0)?;
    }
    let one = started.elapsed().as_secs_f64() / ROUNDS as f64;
    println!(
        "one thread: {:.0} ms each, {:.2} per second",
        one * 1e3,
        1.0 / one
    );

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                for _ in 0..ROUNDS / cores.max(1) {
                    let _ = natter::files::inspect_image(&jpeg, ImageFormat::Jpeg);
                }
            });
        }
    });
    let done = (ROUNDS / cores.max(1)) * cores;
    let rate = done as f64 / started.elapsed().as_secs_f64();
    println!("{cores} threads: {rate:.2} per second");
    Ok(())
}
